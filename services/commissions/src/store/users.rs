//! The projection of the tenant's users (from tenants events) in `commission_users`: the
//! management chain behind manager visibility, and who may own records (statements from the
//! shared `user-projection` lib); and the tenant's name and fiscal year.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use user_projection::{TableName, UserTable};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

pub use user_projection::ProjectedUser;

const TABLE: TableName = TableName::new("commission_users");

static USERS: LazyLock<UserTable> = LazyLock::new(|| UserTable::new(TABLE));

/// Inserts or replaces a user, unless a newer event already wrote them.
pub async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    user: &ProjectedUser,
    source_time: DateTime<Utc>,
) -> Result<()> {
    Ok(USERS.upsert(tx, tenant_id, user, source_time).await?)
}

/// Everyone below `manager` in the management chain, at any depth (inactive users included).
pub async fn reports(tx: &mut Tx, manager: Uuid) -> Result<Vec<Uuid>> {
    Ok(USERS.reports(tx, manager).await?)
}

/// `Some(active)` for a known user, `None` for an unknown one.
pub async fn is_active(tx: &mut Tx, user_id: Uuid) -> Result<Option<bool>> {
    Ok(USERS.is_active(tx, user_id).await?)
}

/// Keeps the tenant's display name (for statement headers), fiscal year's first month and
/// currency (the base of its exchange rates), unless a newer event wrote them.
pub async fn upsert_tenant(
    tx: &mut Tx,
    tenant_id: Uuid,
    display_name: &str,
    fiscal_year_start_month: u32,
    currency_code: &str,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO commission_tenants
             (tenant_id, display_name, fiscal_year_start_month, currency_code, source_time)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id) DO UPDATE SET
             display_name = EXCLUDED.display_name,
             fiscal_year_start_month = EXCLUDED.fiscal_year_start_month,
             currency_code = EXCLUDED.currency_code,
             source_time = EXCLUDED.source_time
         WHERE commission_tenants.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(display_name)
    .bind(i16::try_from(fiscal_year_start_month.clamp(1, 12)).unwrap_or(1))
    .bind(currency_code)
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
