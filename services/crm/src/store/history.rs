//! Field history (rows written by the `record_history` trigger on every create, update, delete
//! and restore), record timelines, and restoring deleted records.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, accounts, activities, cases, contacts, leads, merge, opportunities};
use super::{publish, reaches, scope};
use crate::domain::activity::{RecordRef, RecordType};
use crate::domain::history::{
    ChangeKind, FieldChange, HistoryKind, HistorySubject, TimelineEntry, TimelineItem,
};
use crate::domain::opportunity::StageChange;
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change};
use crate::events::support::case_changed;
use crate::listing::{Cursor, KeyValue, Page};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Changed fields of a record (live or deleted), newest first; `None` when the viewer cannot
    /// read the record. The caller checked the permission the kind's audience needs.
    async fn field_history(
        &self,
        viewer: Viewer,
        subject: HistorySubject,
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
    /// Brings a deleted record back within the tenant's restore window; `false` when there is no
    /// such deleted record the viewer may delete (or it was deleted before the window).
    async fn undelete_record(&self, viewer: Viewer, record: RecordRef) -> Result<bool>;
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
    let owner: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT owner_id FROM {} WHERE id = $1 AND deleted_at IS NULL",
        table(kind)
    )))
    .bind(record.id)
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some(owner) => reaches(tx, viewer, kind, Access::Read, record.id, owner).await,
        None => Ok(false),
    }
}

fn table(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    }
}

/// Whether the viewer may read the history of `subject`: for records, whoever reaches the record
/// (live or deleted) for reading; for the catalog and configuration the permission the API
/// checked is enough.
async fn history_visible(tx: &mut Tx, viewer: Viewer, subject: HistorySubject) -> Result<bool> {
    let id = subject.id;
    match subject.kind {
        HistoryKind::Record(RecordType::Record(kind)) => {
            let owner: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT owner_id FROM {} WHERE id = $1",
                table(kind)
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match owner {
                Some(owner) => reaches(tx, viewer, kind, Access::Read, id, owner).await,
                None => Ok(false),
            }
        }
        HistoryKind::Record(RecordType::Case) => {
            let owners: Option<(Uuid, Option<Uuid>)> = sqlx::query_as(
                "SELECT c.owner_id, acc.owner_id FROM cases c
                 LEFT JOIN accounts acc ON acc.tenant_id = c.tenant_id AND acc.id = c.account_id
                 WHERE c.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((owner, account_owner)) = owners else {
                return Ok(false);
            };
            let scope = cases::case_scope(tx, viewer, Access::Read).await?;
            Ok(scope.allows(owner) || account_owner.is_some_and(|o| scope.allows(o)))
        }
        HistoryKind::Activity => {
            let owner: Option<Uuid> =
                sqlx::query_scalar("SELECT owner_id FROM activities WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match owner {
                Some(owner) => Ok(scope(tx, viewer, activities::VISIBILITY, Access::Read)
                    .await?
                    .allows(owner)),
                None => Ok(false),
            }
        }
        // A quote is visible with its opportunity.
        HistoryKind::Quote => {
            let owner: Option<(Uuid, Uuid)> = sqlx::query_as(
                "SELECT o.id, o.owner_id FROM quotes q
                 JOIN opportunities o ON o.tenant_id = q.tenant_id AND o.id = q.opportunity_id
                 WHERE q.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            match owner {
                Some((deal, owner)) => {
                    reaches(
                        tx,
                        viewer,
                        RecordKind::Opportunity,
                        Access::Read,
                        deal,
                        owner,
                    )
                    .await
                }
                None => Ok(false),
            }
        }
        // The settings' id is the tenant's: another id has no history here.
        HistoryKind::Settings => Ok(id == viewer.tenant_id),
        HistoryKind::Product
        | HistoryKind::PriceBook
        | HistoryKind::PriceBookEntry
        | HistoryKind::Pipeline
        | HistoryKind::Stage
        | HistoryKind::LostReason
        | HistoryKind::CustomFieldDefinition
        | HistoryKind::AssignmentRule => Ok(true),
    }
}

/// A deleted record as the undelete finds it.
struct Tombstone {
    owner_id: Uuid,
    account_owner_id: Option<Uuid>,
    merged_into: Option<Uuid>,
    in_window: bool,
}

/// What the undelete finds under a record id.
enum Found {
    Missing,
    Live,
    Deleted(Tombstone),
}

/// The record (locked), and if deleted whether it is still within the restore window.
async fn find_deleted(tx: &mut Tx, record: RecordRef) -> Result<Found> {
    let (from, merged, account_owner, join) = match record.record_type {
        RecordType::Record(RecordKind::Opportunity) => {
            ("opportunities", "NULL::uuid", "NULL::uuid", "")
        }
        RecordType::Record(kind) => (table(kind), "r.merged_into", "NULL::uuid", ""),
        RecordType::Case => (
            "cases",
            "NULL::uuid",
            "acc.owner_id",
            "LEFT JOIN accounts acc ON acc.tenant_id = r.tenant_id AND acc.id = r.account_id",
        ),
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT r.owner_id, {account_owner} AS account_owner_id, {merged} AS merged_into,
                r.deleted_at IS NOT NULL AS deleted,
                r.deleted_at > now() - make_interval(days => coalesce(
                    (SELECT t.restore_window_days FROM crm_tenants t), 30)) AS in_window
         FROM {from} r {join} WHERE r.id = $1 FOR UPDATE OF r"
    )))
    .bind(record.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(Found::Missing);
    };
    let deleted: bool = row.try_get("deleted")?;
    if !deleted {
        return Ok(Found::Live);
    }
    Ok(Found::Deleted(Tombstone {
        owner_id: row.try_get("owner_id")?,
        account_owner_id: row.try_get("account_owner_id")?,
        merged_into: row.try_get("merged_into")?,
        in_window: row
            .try_get::<Option<bool>, _>("in_window")?
            .unwrap_or(false),
    }))
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
    let change: String = row.try_get("change")?;
    Ok(FieldChange {
        id: row.try_get("id")?,
        kind: ChangeKind::parse(&change)
            .ok_or_else(|| Error::Internal(format!("unknown history change {change:?}")))?,
        field: row.try_get("field")?,
        old_value: row.try_get("old_value")?,
        new_value: row.try_get("new_value")?,
        actor_id: row.try_get("actor_id")?,
        changed_at: row.try_get("changed_at")?,
    })
}

const CHANGE_COLUMNS: &str = "h.id, h.change, h.field, COALESCE(h.old_value::text, 'null') AS old_value, \
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
        subject: HistorySubject,
        after: Option<Cursor>,
        page_size: u32,
    ) -> Result<Option<Page<FieldChange>>> {
        let (after_at, after_id) = after_time(&after)?;
        let mut tx = self.tx(viewer).await?;
        if !history_visible(&mut tx, viewer, subject).await? {
            return Ok(None);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANGE_COLUMNS} FROM field_history h
             WHERE h.record_type = $1 AND h.record_id = $2
               AND ($3::timestamptz IS NULL OR (h.changed_at, h.id) < ($3, $4))
             ORDER BY h.changed_at DESC, h.id DESC
             LIMIT $5"
        )))
        .bind(subject.kind.as_str())
        .bind(subject.id)
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

    #[tracing::instrument(name = "crm.postgres.undelete_record", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "undelete_record", tenant_id = %viewer.tenant_id))]
    async fn undelete_record(&self, viewer: Viewer, record: RecordRef) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let dead = match find_deleted(&mut tx, record).await? {
            Found::Missing => return Ok(false),
            Found::Live => {
                return Err(Error::AlreadyExists {
                    field: "record_id",
                    message: format!("the {} is not deleted", record.record_type.as_str()),
                });
            }
            Found::Deleted(dead) => dead,
        };
        // Who may delete the record may restore it.
        let allowed = match record.record_type {
            RecordType::Record(kind) => {
                reaches(
                    &mut tx,
                    viewer,
                    kind,
                    Access::Control,
                    record.id,
                    dead.owner_id,
                )
                .await?
            }
            RecordType::Case => {
                let scope = cases::case_scope(&mut tx, viewer, Access::Write).await?;
                scope.allows(dead.owner_id)
                    || dead.account_owner_id.is_some_and(|o| scope.allows(o))
            }
        };
        // Past the window the record counts as purged.
        if !allowed || !dead.in_window {
            return Ok(false);
        }
        if let (RecordType::Record(kind), Some(into)) = (record.record_type, dead.merged_into) {
            return Err(Error::Merged {
                what: kind.name(),
                into: format!("{}/{into}", merge::collection(kind)),
            });
        }
        let restored_table = match record.record_type {
            RecordType::Record(kind) => table(kind),
            RecordType::Case => "cases",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {restored_table} SET deleted_at = NULL, updated_at = now() WHERE id = $1"
        )))
        .bind(record.id)
        .execute(&mut *tx)
        .await?;
        // Consumers learn of the record again as created: it is back, with every field.
        let event = match record.record_type {
            RecordType::Record(kind) => {
                let restored = restored_record(&mut tx, viewer, kind, record.id).await?;
                events::record_changed(
                    viewer.tenant_id,
                    viewer.user_id,
                    Change::Created,
                    restored,
                    &[],
                )?
            }
            RecordType::Case => {
                let case = cases::visible(&mut tx, viewer, record.id, Access::Read)
                    .await?
                    .ok_or_else(|| Error::Internal("restored case not visible".to_owned()))?;
                case_changed(viewer, "crm.case.created", case, &[])?
            }
        };
        publish(&mut tx, &[event]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// The record just restored, for its event (the restorer reaches it: they may delete it).
async fn restored_record(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    id: Uuid,
) -> Result<Record> {
    let missing = || Error::Internal(format!("restored {} not visible", kind.name()));
    Ok(match kind {
        RecordKind::Account => Record::Account(
            accounts::visible(tx, viewer, id, Access::Read)
                .await?
                .ok_or_else(missing)?,
        ),
        RecordKind::Contact => Record::Contact(
            contacts::visible(tx, viewer, id, Access::Read)
                .await?
                .ok_or_else(missing)?,
        ),
        RecordKind::Lead => Record::Lead(
            leads::visible(tx, viewer, id, Access::Read)
                .await?
                .ok_or_else(missing)?,
        ),
        RecordKind::Opportunity => Record::Opportunity(
            opportunities::visible(tx, viewer, id, Access::Read)
                .await?
                .ok_or_else(missing)?,
        ),
    })
}
