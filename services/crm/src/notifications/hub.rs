//! Fans out "a notification was created" to the open StreamNotifications calls.
//!
//! An insert into `notifications` notifies the `crm_notifications` channel at commit (trigger),
//! whichever replica or transaction wrote it; each replica listens on one connection and
//! broadcasts in process, so a stream costs no connection of its own. The payload only names
//! the row; a stream reads it in its own user's tenant transaction.

use std::time::Duration;

use runtime::CancellationToken;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The channel the `notifications_created` trigger notifies.
pub const CHANNEL: &str = "crm_notifications";

/// New notifications buffered per slow stream before it skips some (it then says so in the log;
/// the feed still lists them).
const BUFFER: usize = 1024;

const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A notification was committed for `user_id` of `tenant_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub id: Uuid,
}

impl Created {
    /// `tenant user id`, as the trigger writes it.
    pub fn parse(payload: &str) -> Option<Self> {
        let mut parts = payload.split(' ').map(Uuid::parse_str);
        let created = Self {
            tenant_id: parts.next()?.ok()?,
            user_id: parts.next()?.ok()?,
            id: parts.next()?.ok()?,
        };
        parts.next().is_none().then_some(created)
    }
}

#[derive(Clone)]
pub struct NotificationHub {
    sender: broadcast::Sender<Created>,
}

impl Default for NotificationHub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl NotificationHub {
    pub fn subscribe(&self) -> broadcast::Receiver<Created> {
        self.sender.subscribe()
    }

    /// Broadcasts until `shutdown`, through `listener` (listening on [`CHANNEL`] since start-up)
    /// or a connection of its own; reconnects after a failure.
    pub async fn run(
        self,
        pool: PgPool,
        listener: Option<PgListener>,
        shutdown: CancellationToken,
    ) {
        let mut listener = listener;
        loop {
            let listened = tokio::select! {
                () = shutdown.cancelled() => return,
                listened = self.listen(&pool, listener.take()) => listened,
            };
            if let Err(error) = listened {
                tracing::warn!(%error, "notification listener failed, reconnecting");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }

    async fn listen(&self, pool: &PgPool, listener: Option<PgListener>) -> Result<(), sqlx::Error> {
        let mut listener = match listener {
            Some(listener) => listener,
            None => crate::listen::listen(pool, CHANNEL).await?,
        };
        loop {
            let notification = listener.recv().await?;
            match Created::parse(notification.payload()) {
                Some(created) => {
                    // An error only means no stream is open.
                    let _ = self.sender.send(created);
                }
                None => tracing::warn!(
                    payload = notification.payload(),
                    "malformed notification payload"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_tenant_user_and_id() {
        let (t, u, i) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            Created::parse(&format!("{t} {u} {i}")),
            Some(Created {
                tenant_id: t,
                user_id: u,
                id: i
            })
        );
        assert_eq!(Created::parse(&format!("{t} {u}")), None);
        assert_eq!(Created::parse(&format!("{t} {u} {i} {i}")), None);
        assert_eq!(Created::parse("x y z"), None);
    }
}
