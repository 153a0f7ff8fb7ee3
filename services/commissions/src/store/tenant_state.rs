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

/// Scopes a fresh transaction to `tenant_id` for row-level security and returns whether the
/// tenant is suspended (migration `…920`), in one statement.
pub async fn open(tx: &mut Tx, tenant_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar("SELECT commissions_open($1)")
        .bind(tenant_id)
        .fetch_one(&mut **tx)
        .await?)
}
