//! Whether a tenant is suspended, projected from the tenants service's events and checked when
//! each request's transaction opens, so a suspended tenant's tokens stop working at once rather
//! than when they expire.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

/// Records a suspension or reactivation, unless a newer event already did.
pub async fn set_suspended(
    tx: &mut Tx,
    tenant_id: Uuid,
    suspended: bool,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO commission_tenant_state (tenant_id, suspended, source_time)
         VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET
             suspended = EXCLUDED.suspended,
             source_time = EXCLUDED.source_time
         WHERE commission_tenant_state.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(suspended)
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What the opening statement of a request's transaction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Opening {
    pub suspended: bool,
    /// The caller is a user the tenants service deactivated.
    pub actor_inactive: bool,
}

impl Opening {
    /// Whether the caller's token must be refused at once (UNAUTHENTICATED), as the CRM does.
    pub fn refuses(self) -> bool {
        self.suspended || self.actor_inactive
    }
}

/// Scopes a fresh transaction to `tenant_id` for row-level security and says whether the tenant
/// is suspended or `actor` deactivated (migration `…930`), in one statement.
pub async fn open(tx: &mut Tx, tenant_id: Uuid, actor: Uuid) -> Result<Opening> {
    Ok(
        sqlx::query_as("SELECT suspended, actor_inactive FROM commissions_open_as($1, $2)")
            .bind(tenant_id)
            .bind(actor)
            .fetch_one(&mut **tx)
            .await?,
    )
}
