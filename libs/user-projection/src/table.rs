//! The projection's table: `(tenant_id, user_id, manager_id, role, active, source_time)` with
//! `(tenant_id, user_id)` unique, read through the caller's tenant-scoped transaction (RLS
//! limits every query to that tenant).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use crate::ProjectedUser;

/// The name of a service's projection table, checked when the constant is compiled to be a plain
/// lowercase SQL identifier, so it is safe to write into statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableName(&'static str);

impl TableName {
    /// Use in a `const`, so a bad name fails the build: `[a-z_][a-z0-9_]*`.
    pub const fn new(name: &'static str) -> Self {
        let bytes = name.as_bytes();
        assert!(!bytes.is_empty(), "a table name is required");
        assert!(
            !bytes[0].is_ascii_digit(),
            "a table name starts with a letter or '_'"
        );
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            assert!(
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
                "a table name is lowercase letters, digits and '_'"
            );
            i += 1;
        }
        Self(name)
    }

    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// The statements on one service's projection table, written once.
#[derive(Debug)]
pub struct UserTable {
    upsert: Arc<str>,
    reports: Arc<str>,
    is_active: Arc<str>,
    activity: Arc<str>,
}

impl UserTable {
    pub fn new(table: TableName) -> Self {
        let t = table.as_str();
        let sql = |s: String| Arc::<str>::from(s);
        Self {
            upsert: sql(format!(
                "INSERT INTO {t} (tenant_id, user_id, manager_id, role, active, source_time)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET
                     manager_id = EXCLUDED.manager_id,
                     role = EXCLUDED.role,
                     active = EXCLUDED.active,
                     source_time = EXCLUDED.source_time
                 WHERE {t}.source_time <= EXCLUDED.source_time"
            )),
            reports: sql(format!(
                "WITH RECURSIVE team (user_id) AS (
                     SELECT user_id FROM {t} WHERE manager_id = $1
                     UNION
                     SELECT u.user_id FROM {t} u JOIN team t ON u.manager_id = t.user_id
                 )
                 SELECT user_id FROM team"
            )),
            is_active: sql(format!("SELECT active FROM {t} WHERE user_id = $1")),
            activity: sql(format!(
                "SELECT user_id, active FROM {t} WHERE user_id = ANY($1)"
            )),
        }
    }

    /// Inserts or replaces a user, unless a newer event already wrote them (events of one user
    /// normally arrive in order; this keeps a late redelivery from rolling the state back).
    pub async fn upsert(
        &self,
        conn: &mut PgConnection,
        tenant_id: Uuid,
        user: &ProjectedUser,
        source_time: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(AssertSqlSafe(self.upsert.clone()))
            .bind(tenant_id)
            .bind(user.user_id)
            .bind(user.manager_id)
            .bind(&user.role)
            .bind(user.active)
            .bind(source_time)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Everyone below `manager` in the management chain, at any depth (inactive users included:
    /// their records stay visible to their managers). `UNION` stops at cycles.
    pub async fn reports(
        &self,
        conn: &mut PgConnection,
        manager: Uuid,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        sqlx::query_scalar(AssertSqlSafe(self.reports.clone()))
            .bind(manager)
            .fetch_all(conn)
            .await
    }

    /// `Some(active)` for a known user, `None` for an unknown one.
    pub async fn is_active(
        &self,
        conn: &mut PgConnection,
        user_id: Uuid,
    ) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(AssertSqlSafe(self.is_active.clone()))
            .bind(user_id)
            .fetch_optional(conn)
            .await
    }

    /// Whether each of `user_ids` is active: `Some(active)` for a known user, `None` for an
    /// unknown one, in the order given.
    pub async fn activity(
        &self,
        conn: &mut PgConnection,
        user_ids: &[Uuid],
    ) -> Result<Vec<Option<bool>>, sqlx::Error> {
        let known: Vec<(Uuid, bool)> = sqlx::query_as(AssertSqlSafe(self.activity.clone()))
            .bind(user_ids)
            .fetch_all(conn)
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const USERS: TableName = TableName::new("crm_users");

    #[test]
    fn statements_name_the_service_table() {
        let table = UserTable::new(USERS);
        assert!(table.upsert.contains("INSERT INTO crm_users "));
        assert!(table.upsert.contains("WHERE crm_users.source_time <= "));
        assert!(table.reports.contains("FROM crm_users u JOIN team"));
        assert_eq!(
            &*table.is_active,
            "SELECT active FROM crm_users WHERE user_id = $1"
        );
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        let refused =
            |name: &'static str| std::panic::catch_unwind(|| TableName::new(name)).is_err();
        assert!(refused("crm_users; DROP TABLE x"));
        assert!(refused("Users"));
        assert!(refused("1users"));
        assert!(refused(""));
        assert_eq!(
            TableName::new("commission_users").as_str(),
            "commission_users"
        );
    }
}
