//! The notification feed: only ever the viewer's own rows (`user_id = viewer.user_id` on every
//! statement, on top of the tenant's row-level security).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, now};
use crate::domain::notification::{MarkRead, NewNotification, Notification, NotificationKind};
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};

/// One page of the feed, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    pub limit: u32,
    /// The id of the last notification of the previous page.
    pub before: Option<Uuid>,
    pub unread_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub items: Vec<Notification>,
    /// More notifications follow the last one.
    pub more: bool,
    pub unread_count: i64,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    async fn list_notifications(&self, viewer: Viewer, query: FeedQuery) -> Result<FeedPage>;
    /// Marks the viewer's notifications read; returns how many changed and the unread count.
    async fn mark_notifications_read(&self, viewer: Viewer, which: MarkRead) -> Result<(i64, i64)>;
    /// One of the viewer's notifications with their unread count (for the stream).
    async fn notification(&self, viewer: Viewer, id: Uuid) -> Result<Option<(Notification, i64)>>;
}

const COLUMNS: &str = "n.id, n.kind, n.title, n.body, n.subject_type, n.subject_id, n.created_at, \
    n.read_at";

fn from_row(row: &PgRow) -> Result<Notification> {
    let kind: String = row.try_get("kind")?;
    Ok(Notification {
        id: row.try_get("id")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| Error::Internal(format!("stored notification kind {kind:?}")))?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        subject_type: row.try_get("subject_type")?,
        subject_id: row.try_get("subject_id")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
    })
}

async fn unread_count(tx: &mut Tx, user_id: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?)
}

/// Writes a notification in the caller's transaction (tenant `tenant_id`), so it exists exactly
/// when the change that caused it does. A repeated `source_key` for the same user adds nothing;
/// returns whether a row was written.
pub(crate) async fn insert(tx: &mut Tx, tenant_id: Uuid, n: &NewNotification) -> Result<bool> {
    let written = sqlx::query(
        "INSERT INTO notifications (id, tenant_id, user_id, kind, title, body, subject_type,
             subject_id, source_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, user_id, source_key) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(n.user_id)
    .bind(n.kind.as_str())
    .bind(&n.title)
    .bind(&n.body)
    .bind(&n.subject_type)
    .bind(&n.subject_id)
    .bind(&n.source_key)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    Ok(written.rows_affected() == 1)
}

#[async_trait]
impl NotificationStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.list_notifications", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_notifications", tenant_id = %viewer.tenant_id))]
    async fn list_notifications(&self, viewer: Viewer, query: FeedQuery) -> Result<FeedPage> {
        let mut tx = self.tx(viewer).await?;
        // Ids are UUIDv7, so id order is creation order (notifications_feed_idx).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications n
             WHERE n.user_id = $1 AND ($2::uuid IS NULL OR n.id < $2)
               AND (NOT $3 OR n.read_at IS NULL)
             ORDER BY n.id DESC
             LIMIT $4"
        )))
        .bind(viewer.user_id)
        .bind(query.before)
        .bind(query.unread_only)
        .bind(i64::from(query.limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let more = items.len() > query.limit as usize;
        items.truncate(query.limit as usize);
        let unread_count = unread_count(&mut tx, viewer.user_id).await?;
        tx.commit().await?;
        Ok(FeedPage {
            items,
            more,
            unread_count,
        })
    }

    #[tracing::instrument(name = "crm.postgres.mark_notifications_read", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "mark_notifications_read", tenant_id = %viewer.tenant_id))]
    async fn mark_notifications_read(&self, viewer: Viewer, which: MarkRead) -> Result<(i64, i64)> {
        let mut tx = self.tx(viewer).await?;
        let (all, ids) = match which {
            MarkRead::All => (true, Vec::new()),
            MarkRead::Ids(ids) => (false, ids),
        };
        let marked = sqlx::query(
            "UPDATE notifications SET read_at = $2
             WHERE user_id = $1 AND read_at IS NULL AND ($3 OR id = ANY($4))",
        )
        .bind(viewer.user_id)
        .bind(now())
        .bind(all)
        .bind(ids)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let unread = unread_count(&mut tx, viewer.user_id).await?;
        tx.commit().await?;
        Ok((i64::try_from(marked).unwrap_or(i64::MAX), unread))
    }

    async fn notification(&self, viewer: Viewer, id: Uuid) -> Result<Option<(Notification, i64)>> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notifications n WHERE n.id = $1 AND n.user_id = $2"
        )))
        .bind(id)
        .bind(viewer.user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(notification) = row.as_ref().map(from_row).transpose()? else {
            return Ok(None);
        };
        let unread = unread_count(&mut tx, viewer.user_id).await?;
        tx.commit().await?;
        Ok(Some((notification, unread)))
    }
}
