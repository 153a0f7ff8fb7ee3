//! Activities linked to any record.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::history::record_visible;
use super::page::{PageSql, fetch_page};
use super::{PgStore, Tx, check_owner, notifications, now, publish, scope, users};
use crate::domain::activity::{
    Activity, ActivityData, ActivityKind, ActivityPatch, RecordRef, RecordType,
};
use crate::domain::notification::{
    NewNotification, NotificationKind, check_remind_time, mentions, title,
};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::support as events;
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Activities follow the visibility of owned sales records: reps their own, managers their
/// team's, admins all (support users their own).
pub(crate) const VISIBILITY: RecordKind = RecordKind::Lead;

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ActivityStore: Send + Sync + 'static {
    async fn create_activity(&self, viewer: Viewer, data: ActivityData) -> Result<Activity>;
    async fn activity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Activity>>;
    async fn list_activities(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Activity>>;
    async fn update_activity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ActivityPatch,
    ) -> Result<Option<Activity>>;
    async fn delete_activity(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Sets or clears the completion time; `None` when the activity is not visible.
    async fn complete_activity(
        &self,
        viewer: Viewer,
        id: Uuid,
        completed: bool,
    ) -> Result<Option<Activity>>;
}

const KINDS: &[&str] = &[
    "ACTIVITY_KIND_TASK",
    "ACTIVITY_KIND_CALL",
    "ACTIVITY_KIND_MEETING",
    "ACTIVITY_KIND_EMAIL",
    "ACTIVITY_KIND_NOTE",
];
const RECORD_TYPES: &[&str] = &[
    "RECORD_TYPE_ACCOUNT",
    "RECORD_TYPE_CONTACT",
    "RECORD_TYPE_LEAD",
    "RECORD_TYPE_OPPORTUNITY",
    "RECORD_TYPE_CASE",
];

pub static LISTING: Listing = Listing {
    resource: "activities",
    fields: &[
        Field {
            name: "kind",
            column: "('ACTIVITY_KIND_' || upper(t.kind))",
            kind: Kind::Enum(KINDS),
        },
        Field {
            name: "subject",
            column: "t.subject",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "related_type",
            column: "('RECORD_TYPE_' || upper(t.related_type))",
            kind: Kind::Enum(RECORD_TYPES),
        },
        Field {
            name: "related_id",
            column: "t.related_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "owner_id",
            column: "t.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "due_date",
            column: "t.due_date",
            kind: Kind::Date,
        },
        Field {
            name: "completed",
            column: "(t.completed_at IS NOT NULL)::text",
            kind: Kind::Enum(&["true", "false"]),
        },
        Field {
            name: "create_time",
            column: "t.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "t.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "t.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "t.updated_at",
            kind: KeyKind::Timestamp,
        },
        // Undated activities sort after every dated one.
        SortKey {
            name: "due_date",
            expr: "COALESCE(t.due_date, DATE '9999-12-31')",
            kind: KeyKind::Date,
        },
    ],
};

pub(crate) const COLUMNS: &str = "t.id, t.kind, t.subject, t.body, t.related_type, t.related_id, \
    t.due_date, t.remind_at, t.owner_id, t.completed_at, t.created_at, t.updated_at";

const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: "FROM activities t",
    base: "t.deleted_at IS NULL",
    owner_column: "t.owner_id",
    id_column: "t.id",
};

pub(crate) fn from_row(row: &PgRow) -> Result<Activity> {
    let kind: String = row.try_get("kind")?;
    let related_type: String = row.try_get("related_type")?;
    Ok(Activity {
        id: row.try_get("id")?,
        data: ActivityData {
            kind: ActivityKind::parse(&kind)
                .ok_or_else(|| Error::Internal(format!("stored activity kind {kind:?}")))?,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            related_to: RecordRef {
                record_type: RecordType::parse(&related_type).ok_or_else(|| {
                    Error::Internal(format!("stored record type {related_type:?}"))
                })?,
                id: row.try_get("related_id")?,
            },
            due_date: row.try_get("due_date")?,
            remind_at: row.try_get("remind_at")?,
            owner_id: row.try_get("owner_id")?,
        },
        completed_at: row.try_get("completed_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Activity>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM activities t WHERE t.id = $1 AND t.deleted_at IS NULL{}",
        if access == Access::Write {
            " FOR UPDATE"
        } else {
            ""
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(activity) = row.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    let scope = scope(tx, viewer, VISIBILITY, access).await?;
    Ok(scope.allows(activity.data.owner_id).then_some(activity))
}

/// The linked record must exist in this tenant and be visible to the viewer.
async fn check_related(tx: &mut Tx, viewer: Viewer, related: RecordRef) -> Result<()> {
    if record_visible(tx, viewer, related).await? {
        Ok(())
    } else {
        Err(Error::invalid(
            "related_to.id",
            format!("no such {}", related.record_type.as_str()),
        ))
    }
}

/// Users mentioned in `after` and not already in `before`: an edit notifies only new mentions.
fn new_mentions(before: &str, after: &str) -> Vec<Uuid> {
    if before == after {
        return Vec::new();
    }
    let old = mentions(before);
    mentions(after)
        .into_iter()
        .filter(|id| !old.contains(id))
        .collect()
}

/// Notifies the mentioned users, in the transaction of the write: active users of the tenant
/// other than the author. Unknown ids stay plain text (mentioning is no way to probe users).
async fn notify_mentions(
    tx: &mut Tx,
    viewer: Viewer,
    activity: &Activity,
    mentioned: &[Uuid],
) -> Result<()> {
    let mentioned: Vec<Uuid> = mentioned
        .iter()
        .copied()
        .filter(|id| *id != viewer.user_id)
        .collect();
    if mentioned.is_empty() {
        return Ok(());
    }
    let active = users::activity(tx, &mentioned).await?;
    for (user_id, active) in mentioned.into_iter().zip(active) {
        if active != Some(true) {
            continue;
        }
        notifications::insert(
            tx,
            viewer.tenant_id,
            &NewNotification {
                user_id,
                kind: NotificationKind::Mentioned,
                title: title("You were mentioned: ", &activity.data.subject),
                body: activity
                    .data
                    .body
                    .chars()
                    .take(MAX_MENTION_EXCERPT)
                    .collect(),
                subject_type: "activity".to_owned(),
                subject_id: activity.id.to_string(),
                source_key: None,
            },
        )
        .await?;
    }
    Ok(())
}

/// The start of the body a mention notification carries.
const MAX_MENTION_EXCERPT: usize = 500;

async fn save(tx: &mut Tx, activity: &Activity) -> Result<()> {
    let d = &activity.data;
    sqlx::query(
        "UPDATE activities SET kind = $2, subject = $3, body = $4, related_type = $5,
             related_id = $6, due_date = $7, remind_at = $8, owner_id = $9, completed_at = $10,
             updated_at = $11
         WHERE id = $1",
    )
    .bind(activity.id)
    .bind(d.kind.as_str())
    .bind(&d.subject)
    .bind(&d.body)
    .bind(d.related_to.record_type.as_str())
    .bind(d.related_to.id)
    .bind(d.due_date)
    .bind(d.remind_at)
    .bind(d.owner_id)
    .bind(activity.completed_at)
    .bind(activity.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl ActivityStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_activity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_activity", tenant_id = %viewer.tenant_id))]
    async fn create_activity(&self, viewer: Viewer, data: ActivityData) -> Result<Activity> {
        let mut tx = self.tx(viewer).await?;
        let write = scope(&mut tx, viewer, VISIBILITY, Access::Write).await?;
        check_owner(&mut tx, viewer, &write, data.owner_id).await?;
        check_related(&mut tx, viewer, data.related_to).await?;
        let at = now();
        let activity = Activity {
            id: Uuid::now_v7(),
            data,
            completed_at: None,
            created_at: at,
            updated_at: at,
        };
        let d = &activity.data;
        sqlx::query(
            "INSERT INTO activities (id, tenant_id, kind, subject, body, related_type, related_id,
                 due_date, remind_at, owner_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(activity.id)
        .bind(viewer.tenant_id)
        .bind(d.kind.as_str())
        .bind(&d.subject)
        .bind(&d.body)
        .bind(d.related_to.record_type.as_str())
        .bind(d.related_to.id)
        .bind(d.due_date)
        .bind(d.remind_at)
        .bind(d.owner_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        notify_mentions(&mut tx, viewer, &activity, &mentions(&activity.data.body)).await?;
        publish(
            &mut tx,
            &[
                events::activity_changed(viewer, "crm.activity.created", activity.clone(), &[])?,
                events::activity_changed(viewer, "crm.activity.logged", activity.clone(), &[])?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(activity)
    }

    async fn activity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Activity>> {
        let mut tx = self.tx(viewer).await?;
        let activity = visible(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        Ok(activity)
    }

    #[tracing::instrument(name = "crm.postgres.list_activities", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_activities", tenant_id = %viewer.tenant_id))]
    async fn list_activities(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Activity>> {
        let mut tx = self.tx(viewer).await?;
        let read = scope(&mut tx, viewer, VISIBILITY, Access::Read).await?;
        let page = fetch_page(&mut tx, &PAGE, &read, &query, from_row, |a| a.id).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_activity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_activity", tenant_id = %viewer.tenant_id))]
    async fn update_activity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ActivityPatch,
    ) -> Result<Option<Activity>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let data = before.data.apply(&patch);
        let changed = before.data.changed_fields(&data);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        if data.owner_id != before.data.owner_id {
            let write = scope(&mut tx, viewer, VISIBILITY, Access::Write).await?;
            check_owner(&mut tx, viewer, &write, data.owner_id).await?;
        }
        if data.related_to != before.data.related_to {
            check_related(&mut tx, viewer, data.related_to).await?;
        }
        let rescheduled = data.remind_at != before.data.remind_at;
        if rescheduled {
            check_remind_time(data.remind_at, now())
                .map_err(|e| Error::invalid("remind_time", e.to_string()))?;
        }
        let mentioned = new_mentions(&before.data.body, &data.body);
        let updated = Activity {
            data,
            updated_at: now(),
            ..before
        };
        save(&mut tx, &updated).await?;
        if rescheduled {
            // A new time is a new reminder: pending again, even if the old one fired.
            sqlx::query("UPDATE activities SET reminded_at = NULL WHERE id = $1")
                .bind(updated.id)
                .execute(&mut *tx)
                .await?;
        }
        notify_mentions(&mut tx, viewer, &updated, &mentioned).await?;
        publish(
            &mut tx,
            &[events::activity_changed(
                viewer,
                "crm.activity.updated",
                updated.clone(),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_activity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_activity", tenant_id = %viewer.tenant_id))]
    async fn delete_activity(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(activity) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE activities SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::activity_changed(
                viewer,
                "crm.activity.deleted",
                activity,
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.complete_activity", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "complete_activity", tenant_id = %viewer.tenant_id))]
    async fn complete_activity(
        &self,
        viewer: Viewer,
        id: Uuid,
        completed: bool,
    ) -> Result<Option<Activity>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        if before.completed_at.is_some() == completed {
            return Ok(Some(before));
        }
        let at = now();
        let completed_at: Option<DateTime<Utc>> = completed.then_some(at);
        let updated = Activity {
            completed_at,
            updated_at: at,
            ..before
        };
        save(&mut tx, &updated).await?;
        publish(
            &mut tx,
            &[events::activity_changed(
                viewer,
                "crm.activity.updated",
                updated.clone(),
                &["completed", "complete_time"],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }
}
