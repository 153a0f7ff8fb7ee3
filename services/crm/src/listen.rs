//! Postgres `LISTEN` connections for the background tasks that wake on `NOTIFY` (the reminder
//! scheduler, the notification hub). Each holds its own connection for as long as it runs, outside
//! the pool the requests share, so listening never takes a connection a request waits for.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};

/// How long start-up waits for a listening connection before going on without one (the task
/// then connects by itself once the database is up).
const AT_START: Duration = Duration::from_secs(2);

/// Listens on `channel`.
pub async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    // A one-connection pool of its own, with the shared pool's connection options.
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// Listens on `channel` before the service serves, so what is written right after start wakes
/// the task; `None` when the database is not there yet (not an error at start).
pub async fn listen_at_start(pool: &PgPool, channel: &str) -> Option<PgListener> {
    match tokio::time::timeout(AT_START, listen(pool, channel)).await {
        Ok(Ok(listener)) => Some(listener),
        Ok(Err(error)) => {
            tracing::debug!(%error, channel, "not listening yet");
            None
        }
        Err(_) => None,
    }
}
