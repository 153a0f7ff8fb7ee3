//! Pipelines and stages. The default pipeline is created on first need (or from the tenant's
//! provisioned event, whichever comes first); a partial unique index makes that idempotent.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::pipeline_edits as edits;
use super::{PgStore, Tx, now, publish};
use crate::domain::pipeline::{
    NewPipeline, Pipeline, RawStage, Stage, StageCategory, default_pipeline,
};
use crate::domain::pipeline_edit::StagePatch;
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::events::publish as events;

/// The tenant's sales pipelines.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait PipelineStore: Send + Sync + 'static {
    /// The tenant's pipelines, default first (created on the spot if still missing).
    async fn list_pipelines(&self, viewer: Viewer) -> Result<Vec<Pipeline>>;
    async fn pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>>;
    async fn create_pipeline(&self, viewer: Viewer, pipeline: NewPipeline) -> Result<Pipeline>;
    /// Renames; `None` when there is no such pipeline.
    async fn rename_pipeline(
        &self,
        viewer: Viewer,
        id: Uuid,
        name: String,
    ) -> Result<Option<Pipeline>>;
    async fn set_default_pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>>;
    async fn archive_pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>>;
    async fn create_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage: RawStage,
    ) -> Result<Option<Pipeline>>;
    async fn update_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        patch: StagePatch,
    ) -> Result<Option<Pipeline>>;
    async fn reorder_stages(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_ids: Vec<Uuid>,
    ) -> Result<Option<Pipeline>>;
    /// Archives a stage, moving its live opportunities to `move_to` in the same transaction;
    /// returns the pipeline and how many moved.
    async fn archive_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        move_to: Option<Uuid>,
    ) -> Result<Option<(Pipeline, i64)>>;
    async fn delete_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
    ) -> Result<Option<Pipeline>>;
}

const STAGE_COLUMNS: &str =
    "id, pipeline_id, name, probability, category, position, archived_at IS NOT NULL AS archived";

pub(crate) fn stage_from_row(row: &PgRow) -> Result<Stage> {
    let category: String = row.try_get("category")?;
    Ok(Stage {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        probability: row.try_get("probability")?,
        category: StageCategory::parse(&category)
            .ok_or_else(|| Error::Internal(format!("unknown stage category {category}")))?,
        position: row.try_get("position")?,
        archived: row.try_get("archived")?,
    })
}

/// Pipelines matching `only` (all when `None`), default first, with their stages in order.
async fn load(tx: &mut Tx, only: Option<Uuid>) -> Result<Vec<Pipeline>> {
    let rows = sqlx::query(
        "SELECT id, name, is_default, archived_at IS NOT NULL AS archived, created_at
         FROM pipelines
         WHERE $1::uuid IS NULL OR id = $1
         ORDER BY is_default DESC, created_at, id",
    )
    .bind(only)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let stage_rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {STAGE_COLUMNS} FROM stages WHERE pipeline_id = ANY($1) ORDER BY position"
    )))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut stages: HashMap<Uuid, Vec<Stage>> = HashMap::new();
    for row in &stage_rows {
        let pipeline_id: Uuid = row.try_get("pipeline_id")?;
        stages
            .entry(pipeline_id)
            .or_default()
            .push(stage_from_row(row)?);
    }
    rows.iter()
        .map(|row| {
            let id: Uuid = row.try_get("id")?;
            Ok(Pipeline {
                id,
                name: row.try_get("name")?,
                is_default: row.try_get("is_default")?,
                archived: row.try_get("archived")?,
                stages: stages.remove(&id).unwrap_or_default(),
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

pub(crate) async fn load_one(tx: &mut Tx, id: Uuid) -> Result<Option<Pipeline>> {
    Ok(load(tx, Some(id)).await?.into_iter().next())
}

pub(crate) fn name_taken() -> Error {
    Error::AlreadyExists {
        field: "pipeline.name",
        message: "a pipeline with this name already exists".to_owned(),
    }
}

/// Inserts a pipeline and its stages; a name already in use is ALREADY_EXISTS.
async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    pipeline: &NewPipeline,
    is_default: bool,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO pipelines (id, tenant_id, name, is_default, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(&pipeline.name)
    .bind(is_default)
    .bind(now())
    .execute(&mut *tx)
    .await
    .map_err(|error| match db::unique_violation(&error) {
        Some("pipelines_name_key") => name_taken(),
        _ => Error::Store(error),
    })?;
    let count = pipeline.stages.len();
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::now_v7()).collect();
    let names: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
    let probabilities: Vec<i32> = pipeline.stages.iter().map(|s| s.probability).collect();
    let categories: Vec<&str> = pipeline
        .stages
        .iter()
        .map(|s| s.category.as_str())
        .collect();
    let positions: Vec<i32> = (0..count)
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO stages (id, tenant_id, pipeline_id, name, probability, category, position)
         SELECT s.id, $1, $2, s.name, s.probability, s.category, s.position
         FROM UNNEST($3::uuid[], $4::text[], $5::int[], $6::text[], $7::int[])
              AS s(id, name, probability, category, position)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(&ids)
    .bind(&names)
    .bind(&probabilities)
    .bind(&categories)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

async fn default_id(tx: &mut Tx) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM pipelines WHERE is_default")
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// The tenant's default pipeline, created (with a `crm.pipeline.created` event) if missing.
///
/// Creators of a missing default take a per-tenant lock and look again, so only one of two
/// first uses at once inserts it; the other then finds the row.
pub(crate) async fn ensure_default(tx: &mut Tx, tenant_id: Uuid) -> Result<Pipeline> {
    let mut existing = default_id(tx).await?;
    if existing.is_none() {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('crm.default_pipeline:' || $1::text, 0))",
        )
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        existing = default_id(tx).await?;
    }
    if let Some(id) = existing {
        return load_one(tx, id)
            .await?
            .ok_or_else(|| Error::Internal("default pipeline vanished".to_owned()));
    }
    let id = insert(tx, tenant_id, &default_pipeline(), true).await?;
    let created = load_one(tx, id)
        .await?
        .ok_or_else(|| Error::Internal("default pipeline vanished".to_owned()))?;
    publish(
        tx,
        &[events::pipeline_created(tenant_id, None, created.clone())?],
    )
    .await?;
    tracing::info!(%tenant_id, pipeline_id = %id, "default pipeline created");
    Ok(created)
}

pub(crate) async fn is_archived(tx: &mut Tx, pipeline_id: Uuid) -> Result<bool> {
    let archived: Option<bool> =
        sqlx::query_scalar("SELECT archived_at IS NOT NULL FROM pipelines WHERE id = $1")
            .bind(pipeline_id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(archived.unwrap_or(false))
}

/// A stage of any of the tenant's pipelines, with its pipeline id.
pub(crate) async fn stage(tx: &mut Tx, id: Uuid) -> Result<Option<(Uuid, Stage)>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {STAGE_COLUMNS} FROM stages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| Ok((r.try_get("pipeline_id")?, stage_from_row(&r)?)))
        .transpose()
}

#[async_trait]
impl PipelineStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.list_pipelines", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_pipelines", tenant_id = %viewer.tenant_id))]
    async fn list_pipelines(&self, viewer: Viewer) -> Result<Vec<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        ensure_default(&mut tx, viewer.tenant_id).await?;
        let pipelines = load(&mut tx, None).await?;
        tx.commit().await?;
        Ok(pipelines)
    }

    async fn pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let pipeline = load_one(&mut tx, id).await?;
        tx.commit().await?;
        Ok(pipeline)
    }

    #[tracing::instrument(name = "crm.postgres.create_pipeline", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_pipeline", tenant_id = %viewer.tenant_id))]
    async fn create_pipeline(&self, viewer: Viewer, pipeline: NewPipeline) -> Result<Pipeline> {
        let mut tx = self.tx(viewer).await?;
        // The default comes first, so a custom pipeline can never take its place.
        ensure_default(&mut tx, viewer.tenant_id).await?;
        let id = insert(&mut tx, viewer.tenant_id, &pipeline, false).await?;
        let created = load_one(&mut tx, id)
            .await?
            .ok_or_else(|| Error::Internal("created pipeline vanished".to_owned()))?;
        publish(
            &mut tx,
            &[events::pipeline_created(
                viewer.tenant_id,
                Some(viewer.user_id),
                created.clone(),
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(name = "crm.postgres.rename_pipeline", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "rename_pipeline", tenant_id = %viewer.tenant_id))]
    async fn rename_pipeline(
        &self,
        viewer: Viewer,
        id: Uuid,
        name: String,
    ) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, id).await? else {
            return Ok(None);
        };
        let after = edits::rename(&mut tx, viewer, &pipeline, &name).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.set_default_pipeline", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_default_pipeline", tenant_id = %viewer.tenant_id))]
    async fn set_default_pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        // The current default is created first, so it exists to hand the flag over.
        ensure_default(&mut tx, viewer.tenant_id).await?;
        let Some(pipeline) = edits::lock(&mut tx, id).await? else {
            return Ok(None);
        };
        let after = edits::set_default(&mut tx, viewer, &pipeline).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.archive_pipeline", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "archive_pipeline", tenant_id = %viewer.tenant_id))]
    async fn archive_pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, id).await? else {
            return Ok(None);
        };
        let after = edits::archive_pipeline(&mut tx, viewer, &pipeline).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.create_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_stage", tenant_id = %viewer.tenant_id))]
    async fn create_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage: RawStage,
    ) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let after = edits::create_stage(&mut tx, viewer, &pipeline, &stage).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.update_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_stage", tenant_id = %viewer.tenant_id))]
    async fn update_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        patch: StagePatch,
    ) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let after = edits::update_stage(&mut tx, viewer, &pipeline, stage_id, &patch).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.reorder_stages", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "reorder_stages", tenant_id = %viewer.tenant_id))]
    async fn reorder_stages(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_ids: Vec<Uuid>,
    ) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let after = edits::reorder_stages(&mut tx, viewer, &pipeline, &stage_ids).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.archive_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "archive_stage", tenant_id = %viewer.tenant_id))]
    async fn archive_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
        move_to: Option<Uuid>,
    ) -> Result<Option<(Pipeline, i64)>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let done = edits::archive_stage(&mut tx, viewer, &pipeline, stage_id, move_to).await?;
        tx.commit().await?;
        Ok(Some(done))
    }

    #[tracing::instrument(name = "crm.postgres.delete_stage", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_stage", tenant_id = %viewer.tenant_id))]
    async fn delete_stage(
        &self,
        viewer: Viewer,
        pipeline_id: Uuid,
        stage_id: Uuid,
    ) -> Result<Option<Pipeline>> {
        let mut tx = self.tx(viewer).await?;
        let Some(pipeline) = edits::lock(&mut tx, pipeline_id).await? else {
            return Ok(None);
        };
        let after = edits::delete_stage(&mut tx, viewer, &pipeline, stage_id).await?;
        tx.commit().await?;
        Ok(Some(after))
    }
}
