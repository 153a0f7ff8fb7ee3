//! The projection of the tenant's users (from tenants events): the management chain behind
//! manager visibility, and who may own records.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

/// A user as the CRM needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedUser {
    pub user_id: Uuid,
    pub manager_id: Option<Uuid>,
    /// Built-in role name, e.g. `ROLE_MANAGER`.
    pub role: String,
    pub active: bool,
}

/// Inserts or replaces a user, unless a newer event already wrote them (events of one user
/// normally arrive in order; this keeps a late redelivery from rolling the state back).
pub async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    user: &ProjectedUser,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO crm_users (tenant_id, user_id, manager_id, role, active, source_time)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
             manager_id = EXCLUDED.manager_id,
             role = EXCLUDED.role,
             active = EXCLUDED.active,
             source_time = EXCLUDED.source_time
         WHERE crm_users.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(user.user_id)
    .bind(user.manager_id)
    .bind(&user.role)
    .bind(user.active)
    .bind(source_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Everyone below `manager` in the management chain, at any depth (inactive users included:
/// their records stay visible to their managers). `UNION` stops at cycles.
pub async fn reports(tx: &mut Tx, manager: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE team (user_id) AS (
             SELECT user_id FROM crm_users WHERE manager_id = $1
             UNION
             SELECT u.user_id FROM crm_users u JOIN team t ON u.manager_id = t.user_id
         )
         SELECT user_id FROM team",
    )
    .bind(manager)
    .fetch_all(&mut *tx)
    .await?)
}

/// `Some(active)` for a known user, `None` for an unknown one.
pub async fn is_active(tx: &mut Tx, user_id: Uuid) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT active FROM crm_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// Whether each of `user_ids` is active: `Some(active)` for a known user, `None` for an unknown
/// one, in the order given.
pub async fn activity(tx: &mut Tx, user_ids: &[Uuid]) -> Result<Vec<Option<bool>>> {
    let known: Vec<(Uuid, bool)> =
        sqlx::query_as("SELECT user_id, active FROM crm_users WHERE user_id = ANY($1)")
            .bind(user_ids)
            .fetch_all(&mut *tx)
            .await?;
    Ok(user_ids
        .iter()
        .map(|id| {
            known
                .iter()
                .find(|(u, _)| u == id)
                .map(|(_, active)| *active)
        })
        .collect())
}
