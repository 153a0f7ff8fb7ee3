//! Firing activity reminders: across tenants, each exactly once.
//!
//! A due reminder is claimed with `FOR UPDATE SKIP LOCKED` (so replicas firing at the same time
//! take disjoint rows, and never wait on each other), marked fired (`reminded_at`), and its
//! `crm.activity.reminder_due` event and the owner's notification are written in the same
//! transaction: a crash before the commit leaves it pending (it fires after the restart), a
//! commit makes all three visible at once, and a fired reminder is never pending again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::activities::{COLUMNS, from_row};
use super::{PgStore, now, publish};
use crate::domain::notification::{NewNotification, NotificationKind, title};
use crate::error::{Error, Result};
use crate::events::support as events;

/// Reminders fired per transaction: bounds a transaction's locks and length when many fall due at
/// once; the scheduler goes on until a tenant has none due.
const FIRE_BATCH: i64 = 500;

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ReminderStore: Send + Sync + 'static {
    /// The earliest pending reminder's due time, in any tenant.
    async fn next_pending_reminder(&self) -> Result<Option<DateTime<Utc>>>;
    /// Fires every reminder due at `at`; returns how many this call fired.
    async fn fire_due_reminders(&self, at: DateTime<Utc>) -> Result<u64>;
}

impl PgStore {
    /// One batch of one tenant's due reminders; returns how many were fired.
    async fn fire_tenant_batch(&self, tenant_id: Uuid, at: DateTime<Utc>) -> Result<u64> {
        let mut tx = db::begin_for_tenant(self.pool(), tenant_id).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM activities t
             WHERE t.remind_at <= $1 AND t.reminded_at IS NULL AND t.completed_at IS NULL
               AND t.deleted_at IS NULL
             ORDER BY t.remind_at
             LIMIT $2
             FOR UPDATE SKIP LOCKED"
        )))
        .bind(at)
        .bind(FIRE_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let fired_at = now();
        let mut fired = 0;
        for row in &rows {
            let activity = from_row(row)?;
            let remind_at = activity
                .data
                .remind_at
                .ok_or_else(|| Error::Internal("claimed reminder has no remind_at".to_owned()))?;
            sqlx::query("UPDATE activities SET reminded_at = $2 WHERE id = $1")
                .bind(activity.id)
                .bind(fired_at)
                .execute(&mut *tx)
                .await?;
            super::notifications::insert(
                &mut tx,
                tenant_id,
                &NewNotification {
                    user_id: activity.data.owner_id,
                    kind: NotificationKind::Reminder,
                    title: title("Reminder: ", &activity.data.subject),
                    body: String::new(),
                    subject_type: "activity".to_owned(),
                    subject_id: activity.id.to_string(),
                    // The same reminder (activity and due time) notifies once.
                    source_key: Some(format!(
                        "reminder:{}:{}",
                        activity.id,
                        remind_at.timestamp_micros()
                    )),
                },
            )
            .await?;
            publish(
                &mut tx,
                &[events::activity_reminder_due(
                    tenant_id, activity, remind_at, fired_at,
                )?],
            )
            .await?;
            fired += 1;
        }
        tx.commit().await?;
        Ok(fired)
    }
}

#[async_trait]
impl ReminderStore for PgStore {
    async fn next_pending_reminder(&self) -> Result<Option<DateTime<Utc>>> {
        // Row-level security hides every activity outside a tenant transaction; this function
        // (SECURITY DEFINER) returns only a time.
        Ok(sqlx::query_scalar("SELECT next_pending_reminder()")
            .fetch_one(self.pool())
            .await?)
    }

    #[tracing::instrument(name = "crm.postgres.fire_due_reminders", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "fire_due_reminders"))]
    async fn fire_due_reminders(&self, at: DateTime<Utc>) -> Result<u64> {
        let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT tenants_with_due_reminders($1)")
            .bind(at)
            .fetch_all(self.pool())
            .await?;
        let mut fired = 0;
        for tenant_id in tenants {
            loop {
                let batch = self.fire_tenant_batch(tenant_id, at).await?;
                fired += batch;
                // A short batch: the rest (if any) is locked by another replica, firing it.
                if batch < FIRE_BATCH as u64 {
                    break;
                }
            }
        }
        Ok(fired)
    }
}
