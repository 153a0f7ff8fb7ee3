//! Connecting a service to its own schema, as its own non-owner role, and migrating it.
//!
//! Migrations run over the owner connection (`migrate_url`, falling back to `url`): they create the
//! database and schema if missing, apply the embedded migrations with the schema first on the
//! `search_path` (so `_sqlx_migrations` is per schema), make sure the application role exists and
//! grant it data access and the schema's functions (e.g. the outbox relay's, which are closed to
//! PUBLIC) — but not ownership, so row-level security applies to it. Runtime
//! connections then `SET ROLE` to that application role when they log in as someone else.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};

use crate::Error;

/// The `database` config section of a service.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Runtime connection (`DATABASE_URL`).
    pub url: String,
    /// Owner connection used for migrations; defaults to `url`.
    #[serde(default)]
    pub migrate_url: Option<String>,
    /// The service's schema, e.g. `tenants`.
    pub schema: String,
    /// Non-owner role the service acts as; defaults to `<schema>_app`.
    #[serde(default)]
    pub app_role: Option<String>,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    #[serde(default = "default_acquire_timeout_secs")]
    pub acquire_timeout_secs: u64,
    /// Ping each connection when it leaves the pool. Off by default: the ping is a round trip
    /// before every transaction (a fifth of a lead read), and a connection that died in the pool
    /// fails its next statement, which the caller sees as UNAVAILABLE and the pool then drops.
    #[serde(default)]
    pub test_before_acquire: bool,
    /// Run migrations when the service starts (the launcher and tests do; Kubernetes runs
    /// `<service> migrate` as a hook instead).
    #[serde(default = "default_true")]
    pub migrate_on_start: bool,
}

fn default_max_connections() -> u32 {
    16
}
fn default_acquire_timeout_secs() -> u64 {
    5
}
fn default_true() -> bool {
    true
}

impl DatabaseSettings {
    pub fn app_role(&self) -> String {
        self.app_role
            .clone()
            .unwrap_or_else(|| format!("{}_app", self.schema))
    }

    fn validated_names(&self) -> Result<(String, String), Error> {
        let schema = identifier("database.schema", &self.schema)?;
        let role = identifier("database.app_role", &self.app_role())?;
        Ok((schema, role))
    }

    fn connect_options(&self, url: &str, key: &'static str) -> Result<PgConnectOptions, Error> {
        let schema = identifier("database.schema", &self.schema)?;
        Ok(PgConnectOptions::from_str(url)
            .map_err(|e| Error::Setting {
                key,
                reason: e.to_string(),
            })?
            .options([("search_path", schema.as_str())])
            // Names the service's sessions in pg_stat_activity (operators, and test cleanup).
            .application_name(&schema))
    }
}

/// Only plain lowercase identifiers: they are interpolated into DDL, which cannot take binds.
fn identifier(key: &'static str, value: &str) -> Result<String, Error> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(Error::Setting {
            key,
            reason: format!("{value:?} must match [a-z_][a-z0-9_]{{0,62}}"),
        })
    }
}

/// Opens the runtime pool: `search_path` is the service schema and every connection acts as the
/// application role. Lazy: only the settings are checked here, connections open on first use,
/// so a service starts (not ready, see [`ping`]) while the database is unreachable instead of
/// exiting.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, Error> {
    let (_, role) = settings.validated_names()?;
    let options = settings.connect_options(&settings.url, "database.url")?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .test_before_acquire(settings.test_before_acquire)
        .after_connect(move |conn, _meta| {
            let role = role.clone();
            Box::pin(async move {
                let current: String = sqlx::query_scalar("SELECT current_user::text")
                    .fetch_one(&mut *conn)
                    .await?;
                if current != role {
                    sqlx::raw_sql(AssertSqlSafe(format!(r#"SET ROLE "{role}""#)))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_lazy_with(options);
    crate::pool_metrics::watch(&pool);
    Ok(pool)
}

/// The readiness check of a pool: one `SELECT 1` (which also opens a connection when the pool
/// has none). The caller bounds it with a timeout. The error is a short reason for `/readyz`,
/// never the URL.
///
/// A saturated pool (every connection open and in use) counts as up without a query: the check
/// would queue behind the requests and time out, and taking a busy pod out of the load balancer
/// only moves its load to the others. Connections that fail are closed, so an outage empties the
/// pool and the next check queries again.
pub async fn ping(pool: &PgPool) -> Result<(), PingError> {
    if saturated(pool) {
        return Ok(());
    }
    match sqlx::query("SELECT 1").execute(pool).await {
        Ok(_) => Ok(()),
        Err(error) => Err(PingError::of(&error)),
    }
}

fn saturated(pool: &PgPool) -> bool {
    pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections()
}

/// [`ping`] on (a handle of) `pool`, as a repeatable check for a readiness probe.
pub fn pinger(
    pool: &PgPool,
) -> impl Fn() -> Pin<Box<dyn Future<Output = Result<(), PingError>> + Send>> + Send + Sync + 'static
{
    let pool = pool.clone();
    move || {
        let pool = pool.clone();
        Box::pin(async move { ping(&pool).await })
    }
}

/// Why a [`ping`] failed, worded for an operator reading `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    #[error("unreachable: {0}")]
    Unreachable(std::io::ErrorKind),
    #[error("no connection within the pool's acquire timeout")]
    PoolTimedOut,
    #[error("database error {0}")]
    Database(String),
    #[error("connection failed")]
    Other,
}

impl PingError {
    fn of(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(io) => Self::Unreachable(io.kind()),
            sqlx::Error::PoolTimedOut => Self::PoolTimedOut,
            sqlx::Error::Database(db) => {
                Self::Database(db.code().map_or_else(String::new, |code| code.into_owned()))
            }
            _ => Self::Other,
        }
    }
}

/// Creates the database and schema if missing, applies `migrators` in order (the service's own
/// first, then shared ones such as the event outbox; versions must not overlap) and grants the
/// application role access.
pub async fn migrate(settings: &DatabaseSettings, migrators: Vec<Migrator>) -> Result<(), Error> {
    let (schema, role) = settings.validated_names()?;
    let url = settings.migrate_url.as_deref().unwrap_or(&settings.url);
    let key = if settings.migrate_url.is_some() {
        "database.migrate_url"
    } else {
        "database.url"
    };
    let options = settings.connect_options(url, key)?;
    ensure_database(&options).await?;

    let mut conn = PgConnection::connect_with(&options).await?;
    // Serialises concurrent migrations of one schema (replicas, parallel tests); role creation is
    // cluster-wide, so it takes a second, global lock.
    sqlx::query("SELECT pg_advisory_lock(hashtext('salescompass.migrate.' || $1))")
        .bind(&schema)
        .execute(&mut conn)
        .await?;
    let result = migrate_locked(&mut conn, &schema, &role, migrators).await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('salescompass.migrate.' || $1))")
        .bind(&schema)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    result
}

async fn migrate_locked(
    conn: &mut PgConnection,
    schema: &str,
    role: &str,
    migrators: Vec<Migrator>,
) -> Result<(), Error> {
    ddl(conn, format!(r#"CREATE SCHEMA IF NOT EXISTS "{schema}""#)).await?;
    ensure_role(conn, role).await?;
    for mut migrator in migrators {
        // Each migrator sees the others' rows in the shared history table.
        migrator.set_ignore_missing(true);
        migrator.run(&mut *conn).await?;
    }
    let grants = format!(
        r#"
        GRANT USAGE ON SCHEMA "{schema}" TO "{role}";
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}";
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "{schema}" TO "{role}";
        REVOKE ALL ON "{schema}"."_sqlx_migrations" FROM "{role}";
        "#
    );
    ddl(conn, grants).await?;
    tracing::info!(schema, role, "database migrated");
    Ok(())
}

async fn ensure_role(conn: &mut PgConnection, role: &str) -> Result<(), Error> {
    sqlx::query("SELECT pg_advisory_lock(hashtext('salescompass.roles'))")
        .execute(&mut *conn)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *conn)
            .await?;
    let created = if exists {
        Ok(())
    } else {
        // NOLOGIN: locally the service reaches it by SET ROLE; operators who want it to log in
        // directly give it LOGIN and a password themselves (see docs/operations.md).
        ddl(conn, format!(r#"CREATE ROLE "{role}" NOLOGIN"#)).await
    };
    sqlx::query("SELECT pg_advisory_unlock(hashtext('salescompass.roles'))")
        .execute(&mut *conn)
        .await?;
    created?;
    Ok(())
}

/// Runs DDL built from identifiers that [`identifier`] validated (DDL cannot take bind parameters).
async fn ddl(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(conn).await?;
    Ok(())
}

async fn ensure_database(options: &PgConnectOptions) -> Result<(), Error> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(());
    };
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let name = identifier("database name", &name)?;
        match ddl(&mut admin, format!(r#"CREATE DATABASE "{name}""#)).await {
            Ok(_) => tracing::info!(database = %name, "database created"),
            // Another process won the race: the database exists, which is all we need.
            Err(sqlx::Error::Database(db))
                if matches!(db.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(error) => return Err(error.into()),
        }
    }
    admin.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> DatabaseSettings {
        DatabaseSettings {
            url: url.to_owned(),
            migrate_url: None,
            schema: "ping_test".to_owned(),
            app_role: Some("postgres".to_owned()),
            max_connections: 1,
            acquire_timeout_secs: 5,
            test_before_acquire: false,
            migrate_on_start: false,
        }
    }

    #[tokio::test]
    async fn an_unreachable_database_starts_a_pool_and_fails_its_ping() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let settings = DatabaseSettings {
            acquire_timeout_secs: 1,
            ..settings("postgres://postgres@127.0.0.1:1/salescompass")
        };
        let pool = connect(&settings)
            .await
            .expect("lazy: no connection at start");
        // sqlx retries a refused connect inside the acquire until its timeout.
        let pinged = ping(&pool).await;
        assert!(
            matches!(
                pinged,
                Err(PingError::PoolTimedOut
                    | PingError::Unreachable(std::io::ErrorKind::ConnectionRefused))
            ),
            "{pinged:?}"
        );
        let migrated = migrate(&settings, Vec::new())
            .await
            .expect_err("unreachable");
        assert!(migrated.is_unavailable(), "{migrated}: retried at start");
        let bad = Error::Setting {
            key: "database.url",
            reason: "x".to_owned(),
        };
        assert!(!bad.is_unavailable(), "a bad setting is not retried");
    }

    #[tokio::test]
    async fn a_saturated_pool_counts_as_up_without_queueing_behind_requests() {
        let settings = settings("postgres://postgres@127.0.0.1:5432/postgres");
        let pool = connect(&settings).await.expect("pool");
        ping(&pool).await.expect("reachable");
        let held = pool.acquire().await.expect("the only connection");
        let answered = tokio::time::timeout(Duration::from_millis(500), ping(&pool)).await;
        assert_eq!(
            answered,
            Ok(Ok(())),
            "answered at once, not after the acquire timeout"
        );
        drop(held);
        ping(&pool)
            .await
            .expect("queries again once a connection is free");
    }

    #[test]
    fn identifiers_reject_quotes_and_uppercase() {
        assert!(identifier("k", "tenants").is_ok());
        assert!(identifier("k", "tenants_test_1a2b").is_ok());
        assert!(identifier("k", "Tenants").is_err());
        assert!(identifier("k", "x\"; DROP").is_err());
        assert!(identifier("k", "").is_err());
        assert!(identifier("k", "1abc").is_err());
    }
}
