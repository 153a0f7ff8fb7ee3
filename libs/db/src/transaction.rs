//! Beginning transactions so that a cancelled caller can never send a connection back to the
//! pool inside a transaction.
//!
//! sqlx 0.9's Postgres `begin` counts the transaction only once `BEGIN` has answered, and its
//! drop guards roll back only a counted transaction (transact-rs/sqlx#4393). A caller cancelled
//! during that round trip (an aborted task, a `select!`, a timeout, a client that hung up) leaves
//! the server inside a transaction that nothing ends, and the pool lends that connection on: the
//! next user's statements run in the stale transaction (its `BEGIN` warns "there is already a
//! transaction in progress", its autocommit writes are never committed, and a `SET LOCAL` of the
//! stale transaction, such as `synchronous_commit = off`, leaks into them).
//!
//! Here the `BEGIN` runs in a task of its own that always finishes. If the caller went away, the
//! finished [`Transaction`] is dropped as the task's unclaimed output: counted by then, it rolls
//! back before the pool lends the connection again.

use sqlx::{PgPool, Postgres, Transaction};

/// [`PgPool::begin`], safe to cancel.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    run_to_completion(pool, None).await
}

/// [`PgPool::begin_with`], safe to cancel: `statement` must start the transaction, e.g.
/// `BEGIN; SET LOCAL synchronous_commit = off` (one round trip).
pub async fn begin_with(
    pool: &PgPool,
    statement: &'static str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    run_to_completion(pool, Some(statement)).await
}

async fn run_to_completion(
    pool: &PgPool,
    statement: Option<&'static str>,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    let begun = tokio::spawn(async move {
        // Inside the task, which always finishes: a cancelled caller cannot leave a waiter.
        let acquiring = crate::pool_metrics::Acquiring::start(&pool);
        let begun = match statement {
            Some(statement) => pool.begin_with(statement).await,
            None => pool.begin().await,
        };
        acquiring.done(&pool);
        begun
    });
    match begun.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Only a runtime shutting down cancels the task; its pool goes with it.
        Err(_) => Err(sqlx::Error::PoolClosed),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::Row as _;
    use sqlx::postgres::PgPoolOptions;

    use super::*;

    /// The `BEGIN` round trip made long enough to cancel a caller inside it every time.
    const SLOW_BEGIN: &str = "BEGIN; SELECT pg_sleep(0.3)";

    async fn single_connection() -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .expect("postgres reachable")
    }

    /// Whether the pool's only connection is inside a transaction: there `now()` is the
    /// transaction's start, while a statement of its own starts its own transaction. (A simple
    /// query: the extended protocol stamps each of its messages, so the two always differ.)
    async fn in_stale_transaction(pool: &PgPool) -> bool {
        sqlx::raw_sql("SELECT now() <> statement_timestamp()")
            .fetch_one(pool)
            .await
            .expect("query")
            .try_get(0)
            .expect("bool")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_cancelled_during_begin_leaves_no_transaction_on_the_pooled_connection() {
        let pool = single_connection().await;
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), begin_with(&pool, SLOW_BEGIN)).await;
        assert!(cancelled.is_err(), "the caller went away during BEGIN");
        // The next user of the only connection waits for the rollback, then finds no
        // transaction (sqlx's own begin would leave it in one for good).
        assert!(!in_stale_transaction(&pool).await);
        pool.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_begun_transaction_works_and_rolls_back_when_dropped() {
        let pool = single_connection().await;
        let mut tx = begin(&pool).await.expect("begin");
        let inside: bool = sqlx::query_scalar("SELECT now() <> statement_timestamp()")
            .fetch_one(&mut *tx)
            .await
            .expect("query");
        assert!(inside, "statements run in the transaction");
        drop(tx);
        assert!(!in_stale_transaction(&pool).await);
        pool.close().await;
    }
}
