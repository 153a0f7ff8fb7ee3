//! Helpers for integration tests against the real PostgreSQL and RabbitMQ: every test
//! gets its own schema and names, so tests run in parallel and leave nothing behind.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::Connection;

pub mod amqp;
pub mod logs;
pub mod otlp;

/// Database used by tests: `TEST_DATABASE_URL`, else the local `salescompass_test` database.
pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/salescompass_test".to_owned())
}

/// A short random lowercase suffix for schema, tenant, queue and exchange names.
pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// A schema name that no other test uses, e.g. `tenants_t_1a2b3c4d5e6f`.
pub fn unique_schema(prefix: &str) -> String {
    format!("{prefix}_t_{}", unique_suffix())
}

/// Drops a test schema (and everything in it) when dropped, even if the test panicked.
#[derive(Debug)]
pub struct SchemaGuard {
    pub name: String,
    url: String,
}

impl SchemaGuard {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: database_url(),
        }
    }
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a fresh one.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                // The service under test may still hold locks (its runtime is blocked by this
                // drop): end its sessions, which carry the schema as application_name.
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&name)
                .execute(&mut conn)
                .await
                .ok()?;
                let sql =
                    format!(r#"SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS "{name}" CASCADE"#);
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("testkit: could not drop schema {}", self.name);
        }
    }
}

/// Sends the code under test's logs to the test output, at `warn` unless `RUST_LOG` says
/// otherwise. libtest shows a test's output only when it fails, so an event that never arrived
/// leaves the consumer's reconnects and retries in the failure report instead of nowhere.
pub fn init_tracing() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// Calls `check` until it returns `Some` or `timeout` passes; returns the last answer.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
