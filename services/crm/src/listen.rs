//! Postgres `LISTEN` connections for the background tasks that wake on `NOTIFY` (the reminder
//! scheduler, the notification hub). Each holds one pooled connection for as long as it runs.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

/// How long start-up waits for a listening connection before going on without one (the task
/// then connects by itself once the database is up).
const AT_START: Duration = Duration::from_secs(2);

/// Listens on `channel`.
pub async fn listen(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
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
