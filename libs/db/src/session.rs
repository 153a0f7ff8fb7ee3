//! Transactions on pooled connections that go back to a small cache of their own after a clean
//! commit, instead of through sqlx's release path.
//!
//! sqlx tests every connection it gets back with a round trip (`Sync` → `ReadyForQuery`), and a
//! transaction needs its own `BEGIN` round trip before the first statement. On a hot read (one
//! `SELECT`) that is five round trips where two do the work. A [`SessionTx`] starts with one
//! simple query that holds `BEGIN` and the caller's opening statement, and a committed
//! connection is known to be idle and healthy, so it skips the test. Everything else (a
//! dropped, failed or cancelled transaction, and every `ROTATE_EVERY`-th commit) takes sqlx's
//! path, which tests the connection and applies the pool's lifetime rules.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres};
use tokio::sync::Notify;

/// A cached connection idle longer than this goes back through the pool (which tests it and
/// may retire it), so a database restart during a quiet spell costs no failed request.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Every this many commits one connection goes back through the pool, so its lifetime limits
/// still apply under constant load.
const ROTATE_EVERY: u64 = 1024;

/// The pool plus the idle connections it lent to committed transactions.
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: PgPool,
    idle: Arc<Idle>,
}

#[derive(Debug, Default)]
struct Idle {
    connections: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    returned: Notify,
    commits: AtomicU64,
}

impl Idle {
    fn pop(&self) -> Option<PoolConnection<Postgres>> {
        let mut connections = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while let Some((connection, since)) = connections.pop() {
            if since.elapsed() < IDLE_LIMIT {
                return Some(connection);
            }
            // Dropped here: sqlx tests it on the way back into the pool.
        }
        None
    }

    fn push(&self, connection: PoolConnection<Postgres>) {
        if self.commits.fetch_add(1, Ordering::Relaxed) % ROTATE_EVERY == ROTATE_EVERY - 1 {
            return;
        }
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((connection, Instant::now()));
        self.returned.notify_one();
    }
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            idle: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens a transaction with `opening` (trusted SQL: it is sent as a simple query with
    /// `BEGIN`, so it must not carry client text) and returns the first row it produced.
    pub async fn begin(&self, opening: &str) -> Result<(SessionTx, Option<PgRow>), sqlx::Error> {
        // The guard exists before anything is sent: from here on a drop (a failed opening
        // statement, a cancelled request) rolls back before the connection is used again.
        let mut tx = SessionTx {
            connection: Some(self.acquire().await?),
            idle: self.idle.clone(),
        };
        let row = sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {opening}")))
            .fetch_optional(&mut *tx)
            .await?;
        Ok((tx, row))
    }

    /// A cached connection, else one from the pool, whichever comes first.
    async fn acquire(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        loop {
            if let Some(connection) = self.idle.pop() {
                return Ok(connection);
            }
            // Below its size limit the pool answers at once or opens a connection; racing
            // that would abandon connections half-opened (a fork and a TLS handshake each).
            let max = self.pool.options().get_max_connections();
            if self.pool.size() < max || self.pool.num_idle() > 0 {
                return self.pool.acquire().await;
            }
            tokio::select! {
                biased;
                () = self.idle.returned.notified() => {}
                connection = self.pool.acquire() => return connection,
            }
        }
    }

    /// Hands the cached connections back to the pool (before closing it: a closing pool waits
    /// for every connection it lent).
    pub fn release_idle(&self) {
        self.idle
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// An open transaction; derefs to its connection. Dropped without [`SessionTx::commit`], it
/// rolls back before the connection is used again.
#[derive(Debug)]
pub struct SessionTx {
    connection: Option<PoolConnection<Postgres>>,
    idle: Arc<Idle>,
}

impl SessionTx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        // The connection stays in the guard until COMMIT has answered, so a cancelled commit
        // still ends in a rollback (a no-op after a commit that went through).
        let result = sqlx::raw_sql("COMMIT").execute(&mut *self).await;
        let Some(mut connection) = self.connection.take() else {
            return Ok(());
        };
        match result {
            Ok(_) => {
                self.idle.push(connection);
                Ok(())
            }
            Err(error) => {
                // The transaction's state is unknown: never lend this connection again.
                connection.close_on_drop();
                Err(error)
            }
        }
    }
}

impl Drop for SessionTx {
    fn drop(&mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            // sqlx drains whatever a cancelled statement left unread before it sends ROLLBACK;
            // then sqlx's release path tests the connection.
            Ok(runtime) => {
                runtime.spawn(async move {
                    if sqlx::raw_sql("ROLLBACK")
                        .execute(&mut *connection)
                        .await
                        .is_err()
                    {
                        connection.close_on_drop();
                    }
                });
            }
            // No runtime to roll back on: closing the connection aborts the transaction.
            Err(_) => connection.close_on_drop(),
        }
    }
}

impl Deref for SessionTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        // Only `commit` and `drop` take the connection, and both consume the transaction.
        self.connection
            .as_deref()
            .expect("a live transaction holds its connection")
    }
}

impl DerefMut for SessionTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.connection
            .as_deref_mut()
            .expect("a live transaction holds its connection")
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row as _;
    use sqlx::postgres::PgPoolOptions;

    use super::*;

    /// A one-connection pool on its own schema, so every test sees the same connection and
    /// would see what an earlier transaction left behind on it.
    async fn single_connection() -> (Sessions, String) {
        let schema = format!("session_test_{}", uuid::Uuid::new_v4().simple());
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("postgres reachable");
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.t (v int)"
        )))
        .execute(&pool)
        .await
        .expect("schema");
        (Sessions::new(pool), schema)
    }

    async fn drop_schema(sessions: Sessions, schema: &str) {
        sessions.release_idle();
        sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(sessions.pool())
            .await
            .expect("drop schema");
        sessions.pool().close().await;
    }

    async fn count(sessions: &Sessions, schema: &str) -> i64 {
        let (mut tx, _) = sessions.begin("SELECT 1").await.expect("begin");
        let n = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {schema}.t")))
            .fetch_one(&mut *tx)
            .await
            .expect("count");
        tx.commit().await.expect("commit");
        n
    }

    #[tokio::test]
    async fn the_opening_statement_runs_inside_the_transaction_and_returns_its_row() {
        let (sessions, schema) = single_connection().await;
        let (mut tx, row) = sessions
            .begin("SELECT set_config('app.probe', 'on', true)")
            .await
            .expect("begin");
        let opened: String = row.expect("a row").try_get(0).expect("text");
        assert_eq!(opened, "on");
        let inside: bool = sqlx::query_scalar("SELECT now() <> statement_timestamp()")
            .fetch_one(&mut *tx)
            .await
            .expect("query");
        assert!(inside, "the statement ran in the transaction BEGIN opened");
        tx.commit().await.expect("commit");
        // Local to the transaction: gone once it committed.
        let (mut tx, _) = sessions.begin("SELECT 1").await.expect("begin");
        let after: Option<String> = sqlx::query_scalar("SELECT current_setting('app.probe', true)")
            .fetch_one(&mut *tx)
            .await
            .expect("query");
        assert_eq!(after.as_deref().unwrap_or(""), "");
        tx.commit().await.expect("commit");
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test]
    async fn a_committed_connection_is_kept_and_lent_again() {
        let (sessions, schema) = single_connection().await;
        let (mut tx, _) = sessions.begin("SELECT 1").await.expect("begin");
        sqlx::query(AssertSqlSafe(format!("INSERT INTO {schema}.t VALUES (1)")))
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(
            sessions.pool().num_idle(),
            0,
            "kept in the cache, not the pool"
        );
        assert_eq!(count(&sessions, &schema).await, 1);
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test]
    async fn a_dropped_transaction_rolls_back_before_the_connection_is_used_again() {
        let (sessions, schema) = single_connection().await;
        let (mut tx, _) = sessions.begin("SELECT 1").await.expect("begin");
        sqlx::query(AssertSqlSafe(format!("INSERT INTO {schema}.t VALUES (1)")))
            .execute(&mut *tx)
            .await
            .expect("insert");
        drop(tx);
        // The same (only) connection: had it kept the open transaction, the row would show.
        assert_eq!(count(&sessions, &schema).await, 0);
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test]
    async fn a_failing_opening_statement_leaves_a_clean_connection() {
        let (sessions, schema) = single_connection().await;
        let failed = sessions.begin("SELECT 1 / 0").await;
        assert!(failed.is_err(), "division by zero reported");
        assert_eq!(count(&sessions, &schema).await, 0);
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_gets_the_connection_a_commit_puts_in_the_cache() {
        let (sessions, schema) = single_connection().await;
        let (first, _) = sessions.begin("SELECT 1").await.expect("begin");
        let waiter = {
            let sessions = sessions.clone();
            tokio::spawn(async move {
                let (tx, _) = sessions.begin("SELECT 2").await?;
                tx.commit().await
            })
        };
        // Still waiting: the only connection is taken.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        first.commit().await.expect("commit");
        // The pool's acquire would time out after 5 s: the cache must hand it over.
        let waited = tokio::time::timeout(Duration::from_secs(4), waiter)
            .await
            .expect("the waiter got the cached connection");
        waited.expect("task").expect("second transaction");
        drop_schema(sessions, &schema).await;
    }
}
