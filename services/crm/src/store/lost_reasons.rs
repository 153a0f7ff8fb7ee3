//! The tenant's lost-reason picklist. Opportunities keep the label they were lost with (not a
//! reference), so renaming, archiving or deleting a reason never rewrites closed deals.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, now, publish};
use crate::domain::lost_reason::LostReason;
use crate::domain::pipeline_edit::check_permutation;
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LostReasonStore: Send + Sync + 'static {
    /// In order, archived included.
    async fn lost_reasons(&self, viewer: Viewer) -> Result<Vec<LostReason>>;
    /// Appends a reason (label already validated).
    async fn create_lost_reason(&self, viewer: Viewer, label: String) -> Result<LostReason>;
    /// Changes the label and/or archived flag; `None` when there is no such reason.
    async fn update_lost_reason(
        &self,
        viewer: Viewer,
        id: Uuid,
        label: Option<String>,
        archived: Option<bool>,
    ) -> Result<Option<LostReason>>;
    async fn reorder_lost_reasons(&self, viewer: Viewer, ids: Vec<Uuid>)
    -> Result<Vec<LostReason>>;
    async fn delete_lost_reason(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

const COLUMNS: &str = "id, label, position, archived_at IS NOT NULL AS archived";

fn from_row(row: &PgRow) -> Result<LostReason> {
    Ok(LostReason {
        id: row.try_get("id")?,
        label: row.try_get("label")?,
        position: row.try_get("position")?,
        archived: row.try_get("archived")?,
    })
}

/// The tenant's picklist in order (what a move to a lost stage is checked against).
pub(crate) async fn picklist(tx: &mut Tx) -> Result<Vec<LostReason>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM lost_reasons ORDER BY position, created_at, id"
    )))
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Serializes the tenant's picklist edits, so appended positions never collide.
async fn lock_picklist(tx: &mut Tx, tenant_id: Uuid) -> Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('crm.lost_reasons:' || $1::text, 0))",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn label_taken(error: sqlx::Error) -> Error {
    match db::unique_violation(&error) {
        Some("lost_reasons_label_key") => Error::AlreadyExists {
            field: "lost_reason.label",
            message: "a lost reason with this label already exists".to_owned(),
        },
        _ => Error::Store(error),
    }
}

async fn announce(tx: &mut Tx, viewer: Viewer, change: Change, reason: LostReason) -> Result<()> {
    publish(
        tx,
        &[events::lost_reason_changed(
            viewer.tenant_id,
            viewer.user_id,
            change,
            reason,
        )?],
    )
    .await
}

#[async_trait]
impl LostReasonStore for PgStore {
    async fn lost_reasons(&self, viewer: Viewer) -> Result<Vec<LostReason>> {
        let mut tx = self.tx(viewer).await?;
        let reasons = picklist(&mut tx).await?;
        tx.commit().await?;
        Ok(reasons)
    }

    #[tracing::instrument(name = "crm.postgres.create_lost_reason", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_lost_reason", tenant_id = %viewer.tenant_id))]
    async fn create_lost_reason(&self, viewer: Viewer, label: String) -> Result<LostReason> {
        let mut tx = self.tx(viewer).await?;
        lock_picklist(&mut tx, viewer.tenant_id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO lost_reasons (id, tenant_id, label, position, created_at)
             SELECT $1, $2, $3, COALESCE(max(position) + 1, 0), $4 FROM lost_reasons
             RETURNING {COLUMNS}"
        )))
        .bind(Uuid::now_v7())
        .bind(viewer.tenant_id)
        .bind(&label)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(label_taken)?;
        let reason = from_row(&row)?;
        announce(&mut tx, viewer, Change::Created, reason.clone()).await?;
        tx.commit().await?;
        Ok(reason)
    }

    #[tracing::instrument(name = "crm.postgres.update_lost_reason", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_lost_reason", tenant_id = %viewer.tenant_id))]
    async fn update_lost_reason(
        &self,
        viewer: Viewer,
        id: Uuid,
        label: Option<String>,
        archived: Option<bool>,
    ) -> Result<Option<LostReason>> {
        let mut tx = self.tx(viewer).await?;
        // An archive keeps its first time; a restore clears it.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE lost_reasons SET label = COALESCE($2, label),
                 archived_at = CASE WHEN $3::boolean IS NULL THEN archived_at
                                    WHEN $3 THEN COALESCE(archived_at, $4)
                                    ELSE NULL END
             WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(label)
        .bind(archived)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await
        .map_err(label_taken)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let reason = from_row(&row)?;
        announce(&mut tx, viewer, Change::Updated, reason.clone()).await?;
        tx.commit().await?;
        Ok(Some(reason))
    }

    #[tracing::instrument(name = "crm.postgres.reorder_lost_reasons", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "reorder_lost_reasons", tenant_id = %viewer.tenant_id))]
    async fn reorder_lost_reasons(
        &self,
        viewer: Viewer,
        ids: Vec<Uuid>,
    ) -> Result<Vec<LostReason>> {
        let mut tx = self.tx(viewer).await?;
        lock_picklist(&mut tx, viewer.tenant_id).await?;
        let current: Vec<Uuid> = picklist(&mut tx).await?.iter().map(|r| r.id).collect();
        check_permutation("lost_reason_ids", &current, &ids)
            .map_err(|v| Error::InvalidArgument(vec![v]))?;
        let positions: Vec<i32> = (0..ids.len())
            .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
            .collect();
        sqlx::query(
            "UPDATE lost_reasons r SET position = n.position
             FROM UNNEST($1::uuid[], $2::int[]) AS n(id, position) WHERE r.id = n.id",
        )
        .bind(&ids)
        .bind(&positions)
        .execute(&mut *tx)
        .await?;
        let reasons = picklist(&mut tx).await?;
        for reason in &reasons {
            announce(&mut tx, viewer, Change::Updated, reason.clone()).await?;
        }
        tx.commit().await?;
        Ok(reasons)
    }

    #[tracing::instrument(name = "crm.postgres.delete_lost_reason", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_lost_reason", tenant_id = %viewer.tenant_id))]
    async fn delete_lost_reason(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM lost_reasons WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        announce(&mut tx, viewer, Change::Deleted, from_row(&row)?).await?;
        tx.commit().await?;
        Ok(true)
    }
}
