//! Admin changes to an existing pipeline. Each runs under the pipeline's row lock (so two
//! admins cannot together archive the last won stage), decides with
//! [`crate::domain::pipeline_edit`], writes, and publishes `crm.pipeline.updated` with the
//! pipeline as it is after the change.

use uuid::Uuid;

use super::pipelines::{load_one, name_taken};
use super::{Tx, now, opportunities, publish};
use crate::domain::pipeline::{Pipeline, RawStage, Stage};
use crate::domain::pipeline_edit::{self as rules, EditError, StagePatch};
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::events::publish as events;

pub(crate) fn edit_error(error: EditError) -> Error {
    match error {
        EditError::Invalid(violations) => Error::InvalidArgument(violations),
        EditError::Precondition(message) => Error::FailedPrecondition(message),
    }
}

/// The pipeline, locked against concurrent edits for the rest of the transaction.
pub(crate) async fn lock(tx: &mut Tx, id: Uuid) -> Result<Option<Pipeline>> {
    let found: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM pipelines WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match found {
        Some(id) => load_one(tx, id).await,
        None => Ok(None),
    }
}

/// Reloads the pipeline after a change and publishes it.
async fn announce(tx: &mut Tx, viewer: Viewer, id: Uuid, changed: &[&str]) -> Result<Pipeline> {
    let after = load_one(tx, id)
        .await?
        .ok_or_else(|| Error::Internal("edited pipeline vanished".to_owned()))?;
    publish(
        tx,
        &[events::pipeline_updated(
            viewer.tenant_id,
            viewer.user_id,
            after.clone(),
            changed,
        )?],
    )
    .await?;
    Ok(after)
}

pub(crate) async fn rename(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    name: &str,
) -> Result<Pipeline> {
    let name = rules::rename_pipeline(name).map_err(edit_error)?;
    if name == pipeline.name {
        return Ok(pipeline.clone());
    }
    sqlx::query("UPDATE pipelines SET name = $2 WHERE id = $1")
        .bind(pipeline.id)
        .bind(&name)
        .execute(&mut *tx)
        .await
        .map_err(|error| match db::unique_violation(&error) {
            Some("pipelines_name_key") => name_taken(),
            _ => Error::Store(error),
        })?;
    announce(tx, viewer, pipeline.id, &["name"]).await
}

/// Moves the default flag; both pipelines announce the change.
pub(crate) async fn set_default(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
) -> Result<Pipeline> {
    rules::set_default(pipeline).map_err(edit_error)?;
    if pipeline.is_default {
        return Ok(pipeline.clone());
    }
    // The lock ensure_default takes: concurrent hand-overs queue, and each then sees the
    // other's committed default. Two statements: the one-default index is checked row by row.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('crm.default_pipeline:' || $1::text, 0))",
    )
    .bind(viewer.tenant_id)
    .execute(&mut *tx)
    .await?;
    let previous: Option<Uuid> =
        sqlx::query_scalar("UPDATE pipelines SET is_default = false WHERE is_default RETURNING id")
            .fetch_optional(&mut *tx)
            .await?;
    sqlx::query("UPDATE pipelines SET is_default = true WHERE id = $1")
        .bind(pipeline.id)
        .execute(&mut *tx)
        .await?;
    if let Some(previous) = previous {
        announce(tx, viewer, previous, &["is_default"]).await?;
    }
    announce(tx, viewer, pipeline.id, &["is_default"]).await
}

pub(crate) async fn archive_pipeline(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
) -> Result<Pipeline> {
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM opportunities o JOIN stages s ON s.id = o.stage_id
         WHERE o.pipeline_id = $1 AND o.deleted_at IS NULL AND s.category = 'open'",
    )
    .bind(pipeline.id)
    .fetch_one(&mut *tx)
    .await?;
    rules::archive_pipeline(pipeline, open).map_err(edit_error)?;
    sqlx::query("UPDATE pipelines SET archived_at = $2 WHERE id = $1")
        .bind(pipeline.id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    announce(tx, viewer, pipeline.id, &["archived"]).await
}

/// Appends a stage after the last one.
pub(crate) async fn create_stage(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    raw: &RawStage,
) -> Result<Pipeline> {
    let spec = rules::new_stage(pipeline, raw).map_err(edit_error)?;
    let position = pipeline
        .stages
        .iter()
        .map(|s| s.position + 1)
        .max()
        .unwrap_or(0);
    sqlx::query(
        "INSERT INTO stages (id, tenant_id, pipeline_id, name, probability, category, position)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(viewer.tenant_id)
    .bind(pipeline.id)
    .bind(&spec.name)
    .bind(spec.probability)
    .bind(spec.category.as_str())
    .bind(position)
    .execute(&mut *tx)
    .await?;
    announce(tx, viewer, pipeline.id, &["stages"]).await
}

/// Live opportunities in a stage, and how many of them are open (deleted ones excluded).
async fn live_deals(tx: &mut Tx, stage: &Stage) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM opportunities WHERE stage_id = $1 AND deleted_at IS NULL",
    )
    .bind(stage.id)
    .fetch_one(&mut *tx)
    .await?)
}

pub(crate) async fn update_stage(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    stage_id: Uuid,
    patch: &StagePatch,
) -> Result<Pipeline> {
    let stage = pipeline.stage(stage_id).ok_or(Error::NotFound("stage"))?;
    let deals = if patch.category.is_some_and(|c| c != stage.category) {
        live_deals(tx, stage).await?
    } else {
        0
    };
    let (after, changed) =
        rules::update_stage(pipeline, stage_id, patch, deals).map_err(edit_error)?;
    if changed.is_empty() {
        return Ok(pipeline.clone());
    }
    sqlx::query("UPDATE stages SET name = $2, probability = $3, category = $4 WHERE id = $1")
        .bind(stage_id)
        .bind(&after.name)
        .bind(after.probability)
        .bind(after.category.as_str())
        .execute(&mut *tx)
        .await?;
    announce(tx, viewer, pipeline.id, &["stages"]).await
}

/// Gives the stages positions 0, 1, … in `order`. The (pipeline, position) key is checked row
/// by row, so positions first move out of the way (negative), then into place.
async fn renumber(tx: &mut Tx, pipeline_id: Uuid, order: &[Uuid]) -> Result<()> {
    sqlx::query("UPDATE stages SET position = -1 - position WHERE pipeline_id = $1")
        .bind(pipeline_id)
        .execute(&mut *tx)
        .await?;
    let positions: Vec<i32> = (0..order.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "UPDATE stages s SET position = n.position
         FROM UNNEST($2::uuid[], $3::int[]) AS n(id, position)
         WHERE s.id = n.id AND s.pipeline_id = $1",
    )
    .bind(pipeline_id)
    .bind(order)
    .bind(&positions)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) async fn reorder_stages(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    requested: &[Uuid],
) -> Result<Pipeline> {
    let order = rules::reorder_stages(pipeline, requested).map_err(edit_error)?;
    renumber(tx, pipeline.id, &order).await?;
    announce(tx, viewer, pipeline.id, &["stages"]).await
}

/// Archives the stage; its live deals move to `move_to` first. Returns the number moved.
pub(crate) async fn archive_stage(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    stage_id: Uuid,
    move_to: Option<Uuid>,
) -> Result<(Pipeline, i64)> {
    let stage = pipeline.stage(stage_id).ok_or(Error::NotFound("stage"))?;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM opportunities o JOIN stages s ON s.id = o.stage_id
         WHERE o.stage_id = $1 AND o.deleted_at IS NULL AND s.category = 'open'",
    )
    .bind(stage_id)
    .fetch_one(&mut *tx)
    .await?;
    let target = rules::archive_stage(pipeline, stage_id, move_to, open).map_err(edit_error)?;
    let moved = match &target {
        Some(target) => opportunities::move_all(tx, viewer, stage, target).await?,
        None => 0,
    };
    sqlx::query("UPDATE stages SET archived_at = $2 WHERE id = $1")
        .bind(stage_id)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    let after = announce(tx, viewer, pipeline.id, &["stages"]).await?;
    Ok((after, moved))
}

pub(crate) async fn delete_stage(
    tx: &mut Tx,
    viewer: Viewer,
    pipeline: &Pipeline,
    stage_id: Uuid,
) -> Result<Pipeline> {
    pipeline.stage(stage_id).ok_or(Error::NotFound("stage"))?;
    // Deleted opportunities and history rows still name the stage: it must stay resolvable.
    let used: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM opportunities WHERE stage_id = $1)
              + (SELECT count(*) FROM stage_history
                 WHERE to_stage_id = $1 OR from_stage_id = $1)",
    )
    .bind(stage_id)
    .fetch_one(&mut *tx)
    .await?;
    rules::delete_stage(pipeline, stage_id, used).map_err(edit_error)?;
    sqlx::query("DELETE FROM stages WHERE id = $1")
        .bind(stage_id)
        .execute(&mut *tx)
        .await?;
    let order: Vec<Uuid> = pipeline
        .stages
        .iter()
        .filter(|s| s.id != stage_id)
        .map(|s| s.id)
        .collect();
    renumber(tx, pipeline.id, &order).await?;
    announce(tx, viewer, pipeline.id, &["stages"]).await
}
