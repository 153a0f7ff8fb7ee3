//! The reminder scheduler: fires activity reminders at their time (see `store::reminders` for
//! why a reminder fires exactly once, with replicas and restarts).
//!
//! It sleeps until the earliest pending reminder rather than polling: every write of a
//! `remind_at` notifies the `crm_reminders` channel (a trigger, sent at commit, to every
//! replica), which wakes the scheduler to look at the earliest due time again. Should the
//! listening connection drop, a wake-up is at most `max_idle_secs` away, so a missed notification
//! delays a reminder by that much at worst instead of losing it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use runtime::CancellationToken;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::store::reminders::ReminderStore;

/// The channel the `activities_reminder_scheduled` trigger notifies.
pub const CHANNEL: &str = "crm_reminders";

#[derive(Debug, Clone, Deserialize)]
pub struct ReminderSettings {
    /// Longest sleep without a look at the pending reminders.
    pub max_idle_secs: u64,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self { max_idle_secs: 30 }
    }
}

/// Shortest sleep between two rounds.
const MIN_SLEEP: Duration = Duration::from_millis(5);

/// Pause after a failed round (database away), so an outage is not a busy loop.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct ReminderScheduler {
    store: Arc<dyn ReminderStore>,
    pool: PgPool,
    max_idle: Duration,
}

impl ReminderScheduler {
    pub fn new(store: Arc<dyn ReminderStore>, pool: PgPool, settings: &ReminderSettings) -> Self {
        Self {
            store,
            pool,
            max_idle: Duration::from_secs(settings.max_idle_secs.max(1)),
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        match crate::listen::listen(&self.pool, CHANNEL).await {
            Ok(listener) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "reminder wake-ups unavailable, polling");
                None
            }
        }
    }

    /// One round: fires what is due, then returns how long to sleep.
    async fn round(&self) -> Duration {
        match self.store.fire_due_reminders(Utc::now()).await {
            Ok(0) => {}
            Ok(fired) => tracing::debug!(fired, "reminders fired"),
            Err(error) => {
                tracing::warn!(%error, "firing reminders failed");
                return RETRY_AFTER;
            }
        }
        match self.store.next_pending_reminder().await {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(self.max_idle),
            Ok(None) => self.max_idle,
            Err(error) => {
                tracing::warn!(%error, "reading the next reminder failed");
                RETRY_AFTER
            }
        }
    }

    /// Fires reminders until `shutdown` is cancelled, woken through `listener` (listening on
    /// [`CHANNEL`] since start-up) or a connection of its own.
    pub async fn run(self, listener: Option<PgListener>, shutdown: CancellationToken) {
        // Listening before the first round: a reminder written between a round and the sleep
        // still wakes it.
        let mut listener = match listener {
            Some(listener) => Some(listener),
            None => self.listen().await,
        };
        loop {
            // A reminder due already (written while the round ran, or locked by another
            // replica firing it) is looked at again after a short pause, not in a hot loop.
            let sleep = self.round().await.max(MIN_SLEEP);
            let woken = tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(sleep) => Ok(()),
                woken = recv(&mut listener) => woken,
            };
            if let Err(error) = woken {
                tracing::warn!(%error, "reminder wake-ups lost, polling");
                listener = None;
            }
            if listener.is_none() {
                listener = self.listen().await;
            }
        }
    }
}

/// The next notification, or never without a listener. `PgListener::recv` is cancel-safe and
/// reconnects by itself.
async fn recv(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(listener) => listener.recv().await.map(drop),
        None => std::future::pending().await,
    }
}
