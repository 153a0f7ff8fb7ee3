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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, PgPool, Postgres};
use tokio::sync::{Notify, Semaphore};

/// A cached connection idle longer than this goes back through the pool (which tests it and
/// may retire it), so a database restart during a quiet spell costs no failed request.
const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Every this many commits one connection goes back through the pool, so its lifetime limits
/// still apply under constant load.
const ROTATE_EVERY: u64 = 1024;
/// How long a waiter sleeps before it looks again, in case a wake-up raced its registration.
const RECHECK: Duration = Duration::from_millis(50);

/// The pool plus the idle connections it lent to committed transactions.
#[derive(Debug, Clone)]
pub struct Sessions {
    pool: PgPool,
    idle: Arc<Idle>,
}

#[derive(Debug)]
struct Idle {
    connections: Mutex<Vec<(PoolConnection<Postgres>, Instant)>>,
    /// One permit per cached connection.
    available: Semaphore,
    /// Connections taken from the pool and not yet given back (cached or in a transaction).
    owned: AtomicUsize,
    /// At most this many are owned, so the pool's other users (outbox relays, consumers,
    /// sweepers) always find connections: a busy request path would otherwise keep every
    /// connection circulating through the cache and starve them.
    cap: usize,
    /// Signalled when an owned connection goes back to the pool (room to take another).
    room: Notify,
    commits: AtomicU64,
}

impl Idle {
    /// Takes a cached connection; `None` if the one taken had been idle too long (it goes back
    /// to the pool).
    fn take_cached(&self) -> Option<PoolConnection<Postgres>> {
        let (connection, since) = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()?;
        if since.elapsed() < IDLE_LIMIT {
            return Some(connection);
        }
        self.give_back(connection);
        None
    }

    fn try_reserve(&self) -> bool {
        self.owned
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owned| {
                (owned < self.cap).then_some(owned + 1)
            })
            .is_ok()
    }

    /// Drops `connection` into sqlx's release path (which tests it, or closes it when marked).
    fn give_back(&self, connection: PoolConnection<Postgres>) {
        drop(connection);
        self.forget_one();
    }

    fn forget_one(&self) {
        self.owned.fetch_sub(1, Ordering::AcqRel);
        self.room.notify_waiters();
    }

    fn push(&self, connection: PoolConnection<Postgres>) {
        if self.commits.fetch_add(1, Ordering::Relaxed) % ROTATE_EVERY == ROTATE_EVERY - 1 {
            self.give_back(connection);
            return;
        }
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((connection, Instant::now()));
        self.available.add_permits(1);
    }
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        let max = pool.options().get_max_connections() as usize;
        Self {
            idle: Arc::new(Idle {
                connections: Mutex::default(),
                available: Semaphore::new(0),
                owned: AtomicUsize::new(0),
                cap: (max - max / 4).max(1),
                room: Notify::new(),
                commits: AtomicU64::new(0),
            }),
            pool,
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
        let acquiring = crate::pool_metrics::Acquiring::start(&self.pool);
        let connection = self.acquire().await;
        acquiring.done(&self.pool);
        let mut tx = SessionTx {
            connection: Some(connection?),
            idle: self.idle.clone(),
        };
        let row = sqlx::raw_sql(AssertSqlSafe(format!("BEGIN; {opening}")))
            .fetch_optional(&mut *tx)
            .await?;
        Ok((tx, row))
    }

    /// A cached connection, else a new one from the pool while under the cap, else the first
    /// to come back.
    async fn acquire(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        let idle = &self.idle;
        let started = Instant::now();
        let acquire_timeout = self.pool.options().get_acquire_timeout();
        loop {
            if let Ok(permit) = idle.available.try_acquire() {
                permit.forget();
                match idle.take_cached() {
                    Some(connection) => return Ok(connection),
                    None => continue,
                }
            }
            if idle.try_reserve() {
                // Given back if the acquire fails or the caller goes away while it waits.
                let mut reservation = Reservation(Some(idle));
                let connection = self.pool.acquire().await?;
                reservation.0 = None;
                return Ok(connection);
            }
            let waited = tokio::time::timeout(RECHECK, async {
                tokio::select! {
                    permit = idle.available.acquire() => {
                        if let Ok(permit) = permit {
                            permit.forget();
                            return idle.take_cached();
                        }
                        None
                    }
                    () = idle.room.notified() => None,
                }
            });
            if let Ok(Some(connection)) = waited.await {
                return Ok(connection);
            }
            if started.elapsed() > acquire_timeout {
                return Err(sqlx::Error::PoolTimedOut);
            }
        }
    }

    /// Hands the cached connections back to the pool (before closing it: a closing pool waits
    /// for every connection it lent).
    pub fn release_idle(&self) {
        let cached: Vec<_> = std::mem::take(
            &mut *self
                .idle
                .connections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (connection, _) in cached {
            if let Ok(permit) = self.idle.available.try_acquire() {
                permit.forget();
            }
            self.idle.give_back(connection);
        }
    }
}

/// A slot counted in `Idle::owned` before its connection arrives.
struct Reservation<'a>(Option<&'a Idle>);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(idle) = self.0.take() {
            idle.forget_one();
        }
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
                self.idle.give_back(connection);
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
        self.idle.forget_one();
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
        sized(1).await
    }

    async fn sized(max: u32) -> (Sessions, String) {
        let schema = format!("session_test_{}", uuid::Uuid::new_v4().simple());
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(2))
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

    /// An open transaction that inserted one row.
    async fn insert_one(sessions: &Sessions, schema: &str) -> SessionTx {
        let (mut tx, _) = sessions.begin("SELECT 1").await.expect("begin");
        sqlx::query(AssertSqlSafe(format!("INSERT INTO {schema}.t VALUES (1)")))
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx
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
        let tx = insert_one(&sessions, &schema).await;
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
        let tx = insert_one(&sessions, &schema).await;
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
        // The pool's acquire would time out after 2 s: the cache must hand it over.
        let waited = tokio::time::timeout(Duration::from_millis(1500), waiter)
            .await
            .expect("the waiter got the cached connection");
        waited.expect("task").expect("second transaction");
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_users_of_the_pool_keep_a_quarter_of_it() {
        let (sessions, schema) = sized(4).await;
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(sessions.begin("SELECT 1").await.expect("begin").0);
        }
        // A fourth transaction waits for one of the three (the cap is 3 of 4)...
        let fourth = tokio::time::timeout(Duration::from_millis(300), sessions.begin("SELECT 1"));
        assert!(
            fourth.await.is_err(),
            "the fourth waits while three are open"
        );
        // ...while a plain pool user (an outbox relay, say) still gets the fourth connection.
        let direct = tokio::time::timeout(Duration::from_millis(1500), sessions.pool().acquire())
            .await
            .expect("not starved")
            .expect("a connection");
        drop(direct);
        for tx in open {
            tx.commit().await.expect("commit");
        }
        drop_schema(sessions, &schema).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_while_the_pool_is_empty_gives_its_slot_back() {
        let (sessions, schema) = sized(2).await;
        let held = sessions.pool().acquire().await.expect("outside connection");
        let (first, _) = sessions.begin("SELECT 1").await.expect("begin");
        // Under the cap, so this one waits inside the pool's acquire; then it is cancelled.
        let waiting = {
            let sessions = sessions.clone();
            tokio::spawn(async move { sessions.begin("SELECT 1").await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        waiting.abort();
        assert!(waiting.await.is_err(), "cancelled");
        drop(held);
        first.commit().await.expect("commit");
        // Both slots are free again: two transactions at once.
        let (a, _) = sessions.begin("SELECT 1").await.expect("first slot");
        let (b, _) = tokio::time::timeout(Duration::from_millis(1500), sessions.begin("SELECT 1"))
            .await
            .expect("the cancelled caller's slot came back")
            .expect("second slot");
        a.commit().await.expect("commit");
        b.commit().await.expect("commit");
        drop_schema(sessions, &schema).await;
    }
}
