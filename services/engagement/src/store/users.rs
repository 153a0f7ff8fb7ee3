//! The projection of the tenant's users (from tenants events) in `engagement_users`: the
//! management chain behind manager visibility (statements from the shared `user-projection` lib).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use user_projection::{TableName, UserTable};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

pub use user_projection::ProjectedUser;

const TABLE: TableName = TableName::new("engagement_users");

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

/// Everyone below `manager` in the management chain, at any depth.
pub async fn reports(tx: &mut Tx, manager: Uuid) -> Result<Vec<Uuid>> {
    Ok(USERS.reports(tx, manager).await?)
}
