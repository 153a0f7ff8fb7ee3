//! The projection of the tenant's users (from tenants events) in `crm_users`: the management
//! chain behind manager visibility, and who may own records. The statements are the shared
//! `user-projection` lib's; these functions keep the store's own error type.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use user_projection::{TableName, UserTable};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

pub use user_projection::ProjectedUser;

const TABLE: TableName = TableName::new("crm_users");

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

/// Whether each of `user_ids` is active: `Some(active)` for a known user, `None` for an unknown
/// one, in the order given.
pub async fn activity(tx: &mut Tx, user_ids: &[Uuid]) -> Result<Vec<Option<bool>>> {
    Ok(USERS.activity(tx, user_ids).await?)
}

/// Every user's manager (users without one are left out), for rolling up team forecasts.
pub async fn managers(tx: &mut Tx) -> Result<HashMap<Uuid, Uuid>> {
    let rows: Vec<(Uuid, Uuid)> =
        sqlx::query_as("SELECT user_id, manager_id FROM crm_users WHERE manager_id IS NOT NULL")
            .fetch_all(&mut *tx)
            .await?;
    Ok(rows.into_iter().collect())
}
