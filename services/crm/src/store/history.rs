//! Field history (rows written by the `record_field_history` trigger) and record timelines.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, activities, cases, reaches};
use crate::domain::activity::{RecordRef, RecordType};
use crate::domain::history::{FieldChange, TimelineEntry, TimelineItem};
use crate::domain::opportunity::StageChange;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::listing::{Cursor, KeyValue, Page};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Changed fields of a record, newest first; `None` when the record is not visible.
    async fn field_history(
        &self,
        viewer: Viewer,
        record: RecordRef,
        after: Option<Cursor>,
        page_size: u32,
    ) -> Result<Option<Page<FieldChange>>>;
    /// Activities, field changes and stage moves of a record, newest first.
    async fn timeline(
        &self,
        viewer: Viewer,
        record: RecordRef,
        after: Option<Cursor>,
        page_size: u32,
    ) -> Result<Option<Page<TimelineEntry>>>;
}

/// Whether `record` is a live record of this tenant the viewer may read (a share of it counts).
pub(crate) async fn record_visible(tx: &mut Tx, viewer: Viewer, record: RecordRef) -> Result<bool> {
    let kind = match record.record_type {
        RecordType::Case => {
            return Ok(cases::visible(tx, viewer, record.id, Access::Read)
                .await?
                .is_some());
        }
        RecordType::Record(kind) => kind,
    };
    let table = match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    };
    let owner: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT owner_id FROM {table} WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(record.id)
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some(owner) => reaches(tx, viewer, kind, Access::Read, record.id, owner).await,
        None => Ok(false),
    }
}

fn after_time(after: &Option<Cursor>) -> Result<(Option<DateTime<Utc>>, Option<Uuid>)> {
    match after {
        None => Ok((None, None)),
        Some(Cursor {
            key: KeyValue::Time(at),
            id,
        }) => Ok((Some(*at), Some(*id))),
        Some(_) => Err(Error::invalid("page_token", "page_token is malformed")),
    }
}

fn change_from_row(row: &PgRow) -> Result<FieldChange> {
    Ok(FieldChange {
        id: row.try_get("id")?,
        field: row.try_get("field")?,
        old_value: row.try_get("old_value")?,
        new_value: row.try_get("new_value")?,
        actor_id: row.try_get("actor_id")?,
        changed_at: row.try_get("changed_at")?,
    })
}

const CHANGE_COLUMNS: &str = "h.id, h.field, COALESCE(h.old_value::text, 'null') AS old_value, \
    COALESCE(h.new_value::text, 'null') AS new_value, h.actor_id, h.changed_at";

/// Keeps the first `page_size` items; the cursor points at the last one kept when more follow.
fn paged<T>(mut items: Vec<T>, page_size: u32, key: impl Fn(&T) -> Cursor) -> Page<T> {
    let more = items.len() > page_size as usize;
    items.truncate(page_size as usize);
    let next = if more { items.last().map(key) } else { None };
    Page { items, next }
}

#[async_trait]
impl HistoryStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.field_history", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "field_history", tenant_id = %viewer.tenant_id))]
    async fn field_history(
        &self,
        viewer: Viewer,
        record: RecordRef,
        after: Option<Cursor>,
        page_size: u32,
    ) -> Result<Option<Page<FieldChange>>> {
        let (after_at, after_id) = after_time(&after)?;
        let mut tx = self.tx(viewer).await?;
        if !record_visible(&mut tx, viewer, record).await? {
            return Ok(None);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANGE_COLUMNS} FROM field_history h
             WHERE h.record_type = $1 AND h.record_id = $2
               AND ($3::timestamptz IS NULL OR (h.changed_at, h.id) < ($3, $4))
             ORDER BY h.changed_at DESC, h.id DESC
             LIMIT $5"
        )))
        .bind(record.record_type.as_str())
        .bind(record.id)
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(page_size) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let changes = rows
            .iter()
            .map(change_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(paged(changes, page_size, |c| Cursor {
            key: KeyValue::Time(c.changed_at),
            id: c.id,
        })))
    }

    #[tracing::instrument(name = "crm.postgres.timeline", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "timeline", tenant_id = %viewer.tenant_id))]
    async fn timeline(
        &self,
        viewer: Viewer,
        record: RecordRef,
        after: Option<Cursor>,
        page_size: u32,
    ) -> Result<Option<Page<TimelineEntry>>> {
        let (after_at, after_id) = after_time(&after)?;
        let mut tx = self.tx(viewer).await?;
        if !record_visible(&mut tx, viewer, record).await? {
            return Ok(None);
        }
        let positions = sqlx::query(
            "SELECT e.kind, e.id, e.at FROM (
                 SELECT 'activity' AS kind, t.id, t.created_at AS at FROM activities t
                 WHERE t.related_type = $1 AND t.related_id = $2 AND t.deleted_at IS NULL
                 UNION ALL
                 SELECT 'field', h.id, h.changed_at FROM field_history h
                 WHERE h.record_type = $1 AND h.record_id = $2
                 UNION ALL
                 SELECT 'stage', s.id, s.changed_at FROM stage_history s
                 WHERE $1 = 'opportunity' AND s.opportunity_id = $2
             ) e
             WHERE ($3::timestamptz IS NULL OR (e.at, e.id) < ($3, $4))
             ORDER BY e.at DESC, e.id DESC
             LIMIT $5",
        )
        .bind(record.record_type.as_str())
        .bind(record.id)
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(page_size) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let mut ids: HashMap<&'static str, Vec<Uuid>> = HashMap::new();
        let mut order = Vec::with_capacity(positions.len());
        for row in &positions {
            let kind: String = row.try_get("kind")?;
            let kind = match kind.as_str() {
                "activity" => "activity",
                "field" => "field",
                _ => "stage",
            };
            let id: Uuid = row.try_get("id")?;
            let at: DateTime<Utc> = row.try_get("at")?;
            ids.entry(kind).or_default().push(id);
            order.push((kind, id, at));
        }
        let mut items: HashMap<Uuid, TimelineItem> = HashMap::new();
        if let Some(list) = ids.get("activity") {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM activities t WHERE t.id = ANY($1)",
                activities::COLUMNS
            )))
            .bind(list)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let activity = activities::from_row(row)?;
                items.insert(activity.id, TimelineItem::Activity(activity));
            }
        }
        if let Some(list) = ids.get("field") {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {CHANGE_COLUMNS} FROM field_history h WHERE h.id = ANY($1)"
            )))
            .bind(list)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let change = change_from_row(row)?;
                items.insert(change.id, TimelineItem::FieldChange(change));
            }
        }
        if let Some(list) = ids.get("stage") {
            let rows = sqlx::query(
                "SELECT id, from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_stage
                 FROM stage_history WHERE id = ANY($1)",
            )
            .bind(list)
            .fetch_all(&mut *tx)
            .await?;
            for row in &rows {
                let id: Uuid = row.try_get("id")?;
                items.insert(
                    id,
                    TimelineItem::StageChange(StageChange {
                        from_stage_id: row.try_get("from_stage_id")?,
                        to_stage_id: row.try_get("to_stage_id")?,
                        changed_by: row.try_get("changed_by")?,
                        changed_at: row.try_get("changed_at")?,
                        seconds_in_stage: row.try_get("seconds_in_stage")?,
                    }),
                );
            }
        }
        tx.commit().await?;
        let entries = order
            .into_iter()
            .filter_map(|(_, id, at)| items.remove(&id).map(|item| TimelineEntry { id, at, item }))
            .collect();
        Ok(Some(paged(entries, page_size, |e| Cursor {
            key: KeyValue::Time(e.at),
            id: e.id,
        })))
    }
}
