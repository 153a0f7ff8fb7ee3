//! The projection of the tenant's users (from tenants events): the management chain behind
//! manager visibility, and who may own records.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::error::{Error, Result};

/// A user as commissions needs to know them.
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
        "INSERT INTO commission_users (tenant_id, user_id, manager_id, role, active, source_time)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, user_id) DO UPDATE SET
             manager_id = EXCLUDED.manager_id,
             role = EXCLUDED.role,
             active = EXCLUDED.active,
             source_time = EXCLUDED.source_time
         WHERE commission_users.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(user.user_id)
    .bind(user.manager_id)
    .bind(&user.role)
    .bind(user.active)
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Refuses a user the tenants service deactivated (projected from `tenants.user.deactivated`)
/// with UNAUTHENTICATED, at once rather than when their access token expires. A user the
/// projection does not hold yet is not refused by it.
pub async fn refuse_deactivated(tx: &mut Tx, user_id: Uuid) -> Result<()> {
    let deactivated: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM commission_users WHERE user_id = $1 AND NOT active)",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    if deactivated {
        return Err(Error::Auth(auth::AuthError::Invalid));
    }
    Ok(())
}

/// Everyone below `manager` in the management chain, at any depth (inactive users included:
/// their records stay visible to their managers). `UNION` stops at cycles.
pub async fn reports(tx: &mut Tx, manager: Uuid) -> Result<Vec<Uuid>> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE team (user_id) AS (
             SELECT user_id FROM commission_users WHERE manager_id = $1
             UNION
             SELECT u.user_id FROM commission_users u JOIN team t ON u.manager_id = t.user_id
         )
         SELECT user_id FROM team",
    )
    .bind(manager)
    .fetch_all(&mut **tx)
    .await?)
}

/// `Some(active)` for a known user, `None` for an unknown one.
pub async fn is_active(tx: &mut Tx, user_id: Uuid) -> Result<Option<bool>> {
    Ok(
        sqlx::query_scalar("SELECT active FROM commission_users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Keeps the tenant's display name (for statement headers) and fiscal year's first month,
/// unless a newer event wrote them.
pub async fn upsert_tenant(
    tx: &mut Tx,
    tenant_id: Uuid,
    display_name: &str,
    fiscal_year_start_month: u32,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO commission_tenants (tenant_id, display_name, fiscal_year_start_month, source_time)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET
             display_name = EXCLUDED.display_name,
             fiscal_year_start_month = EXCLUDED.fiscal_year_start_month,
             source_time = EXCLUDED.source_time
         WHERE commission_tenants.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(display_name)
    .bind(i16::try_from(fiscal_year_start_month.clamp(1, 12)).unwrap_or(1))
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The first month (1-12) of the tenant's fiscal year; January until an event said otherwise.
pub async fn fiscal_year_start_month(tx: &mut Tx) -> Result<u32> {
    let month: Option<i16> =
        sqlx::query_scalar("SELECT fiscal_year_start_month FROM commission_tenants")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(month.and_then(|m| u32::try_from(m).ok()).unwrap_or(1))
}

/// The tenant's display name, if an event announced it.
pub async fn tenant_name(tx: &mut Tx) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT display_name FROM commission_tenants")
            .fetch_optional(&mut **tx)
            .await?,
    )
}
