//! PipelineService: pipelines, their stages and the tenant's lost reasons. Reads are open to
//! every CRM user; every change needs the admin's pipeline permission.

use std::sync::Arc;

use auth::permissions::{CRM_PIPELINES_WRITE, CRM_RECORDS_READ};
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{mask_paths, optional_id, parse_id, viewer};
use crate::convert;
use crate::domain::lost_reason;
use crate::domain::pipeline::{NewPipeline, RawStage, StageCategory};
use crate::domain::pipeline_edit::StagePatch;
use crate::error::{Error, Result};
use crate::store::lost_reasons::LostReasonStore;
use crate::store::pipelines::PipelineStore;

const PIPELINE_UPDATABLE: &[&str] = &["name"];
const STAGE_UPDATABLE: &[&str] = &["name", "probability", "category"];
const LOST_REASON_UPDATABLE: &[&str] = &["label", "archived"];

pub struct PipelineApi {
    store: Arc<dyn PipelineStore>,
    lost_reasons: Arc<dyn LostReasonStore>,
}

impl PipelineApi {
    pub fn new(store: Arc<dyn PipelineStore>, lost_reasons: Arc<dyn LostReasonStore>) -> Self {
        Self {
            store,
            lost_reasons,
        }
    }
}

/// The masked fields of a stage; an unspecified category in the mask names the field.
fn stage_patch(stage: &pb::Stage, paths: &[String]) -> Result<StagePatch> {
    let mut patch = StagePatch::default();
    for path in paths {
        match path.as_str() {
            "name" => patch.name = Some(stage.name.clone()),
            "probability" => patch.probability = Some(stage.probability),
            "category" => {
                patch.category = Some(category(stage.category).ok_or_else(|| {
                    Error::invalid(
                        "stage.category",
                        "must be STAGE_CATEGORY_OPEN, STAGE_CATEGORY_WON or STAGE_CATEGORY_LOST",
                    )
                })?);
            }
            _ => {}
        }
    }
    Ok(patch)
}

/// Ids in request order; each bad one is named by its index.
fn parse_ids(field: &str, raw: &[String]) -> Result<Vec<Uuid>> {
    raw.iter()
        .enumerate()
        .map(|(i, id)| parse_id(&format!("{field}[{i}]"), id))
        .collect()
}

fn lost_reasons_to_pb(reasons: Vec<lost_reason::LostReason>) -> pb::ListLostReasonsResponse {
    pb::ListLostReasonsResponse {
        lost_reasons: reasons
            .into_iter()
            .map(convert::lost_reason_to_pb)
            .collect(),
    }
}

fn found(pipeline: Option<crate::domain::pipeline::Pipeline>) -> Result<Response<pb::Pipeline>> {
    let pipeline = pipeline.ok_or(Error::NotFound("pipeline"))?;
    Ok(Response::new(convert::pipeline_to_pb(pipeline)))
}

fn category(raw: i32) -> Option<StageCategory> {
    match pb::StageCategory::try_from(raw) {
        Ok(pb::StageCategory::Open) => Some(StageCategory::Open),
        Ok(pb::StageCategory::Won) => Some(StageCategory::Won),
        Ok(pb::StageCategory::Lost) => Some(StageCategory::Lost),
        Ok(pb::StageCategory::Unspecified) | Err(_) => None,
    }
}

fn parse_pipeline(r: pb::CreatePipelineRequest) -> Result<NewPipeline> {
    let p = r
        .pipeline
        .ok_or_else(|| Error::invalid("pipeline", "is required"))?;
    let stages: Vec<RawStage> = p
        .stages
        .iter()
        .map(|s| RawStage {
            name: s.name.clone(),
            probability: s.probability,
            category: category(s.category),
        })
        .collect();
    Ok(NewPipeline::parse(&p.name, &stages, "pipeline.")?)
}

#[tonic::async_trait]
impl pb::pipeline_service_server::PipelineService for PipelineApi {
    #[tracing::instrument(skip_all)]
    async fn list_pipelines(
        &self,
        request: Request<pb::ListPipelinesRequest>,
    ) -> Result<Response<pb::ListPipelinesResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let pipelines = self.store.list_pipelines(viewer).await?;
        Ok(Response::new(pb::ListPipelinesResponse {
            pipelines: pipelines.into_iter().map(convert::pipeline_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_pipeline(
        &self,
        request: Request<pb::GetPipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let pipeline = self
            .store
            .pipeline(viewer, id)
            .await?
            .ok_or(Error::NotFound("pipeline"))?;
        Ok(Response::new(convert::pipeline_to_pb(pipeline)))
    }

    #[tracing::instrument(skip_all)]
    async fn create_pipeline(
        &self,
        request: Request<pb::CreatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let pipeline = parse_pipeline(request.into_inner())?;
        let created = self.store.create_pipeline(viewer, pipeline).await?;
        Ok(Response::new(convert::pipeline_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_pipeline(
        &self,
        request: Request<pb::UpdatePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let pipeline = r
            .pipeline
            .ok_or_else(|| Error::invalid("pipeline", "is required"))?;
        let id = parse_id("pipeline.id", &pipeline.id)?;
        mask_paths(r.update_mask, PIPELINE_UPDATABLE)?;
        Ok(found(
            self.store
                .rename_pipeline(viewer, id, pipeline.name)
                .await?,
        )?)
    }

    #[tracing::instrument(skip_all)]
    async fn set_default_pipeline(
        &self,
        request: Request<pb::SetDefaultPipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(found(self.store.set_default_pipeline(viewer, id).await?)?)
    }

    #[tracing::instrument(skip_all)]
    async fn archive_pipeline(
        &self,
        request: Request<pb::ArchivePipelineRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        Ok(found(self.store.archive_pipeline(viewer, id).await?)?)
    }

    #[tracing::instrument(skip_all)]
    async fn create_stage(
        &self,
        request: Request<pb::CreateStageRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let stage = r
            .stage
            .ok_or_else(|| Error::invalid("stage", "is required"))?;
        let raw = RawStage {
            name: stage.name,
            probability: stage.probability,
            category: category(stage.category),
        };
        Ok(found(
            self.store.create_stage(viewer, pipeline_id, raw).await?,
        )?)
    }

    #[tracing::instrument(skip_all)]
    async fn update_stage(
        &self,
        request: Request<pb::UpdateStageRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let stage = r
            .stage
            .ok_or_else(|| Error::invalid("stage", "is required"))?;
        let stage_id = parse_id("stage.id", &stage.id)?;
        let paths = mask_paths(r.update_mask, STAGE_UPDATABLE)?;
        let patch = stage_patch(&stage, &paths)?;
        Ok(found(
            self.store
                .update_stage(viewer, pipeline_id, stage_id, patch)
                .await?,
        )?)
    }

    #[tracing::instrument(skip_all)]
    async fn reorder_stages(
        &self,
        request: Request<pb::ReorderStagesRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let ids = parse_ids("stage_ids", &r.stage_ids)?;
        Ok(found(
            self.store.reorder_stages(viewer, pipeline_id, ids).await?,
        )?)
    }

    #[tracing::instrument(skip_all)]
    async fn archive_stage(
        &self,
        request: Request<pb::ArchiveStageRequest>,
    ) -> Result<Response<pb::ArchiveStageResponse>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let pipeline_id = parse_id("pipeline_id", &r.pipeline_id)?;
        let stage_id = parse_id("stage_id", &r.stage_id)?;
        let move_to =
            optional_id(&r.move_to_stage_id).map_err(|e| Error::invalid("move_to_stage_id", e))?;
        let (pipeline, moved) = self
            .store
            .archive_stage(viewer, pipeline_id, stage_id, move_to)
            .await?
            .ok_or(Error::NotFound("pipeline"))?;
        Ok(Response::new(pb::ArchiveStageResponse {
            pipeline: Some(convert::pipeline_to_pb(pipeline)),
            moved_opportunity_count: moved,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_stage(
        &self,
        request: Request<pb::DeleteStageRequest>,
    ) -> Result<Response<pb::Pipeline>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let pipeline_id = parse_id("pipeline_id", &request.get_ref().pipeline_id)?;
        let stage_id = parse_id("stage_id", &request.get_ref().stage_id)?;
        Ok(found(
            self.store
                .delete_stage(viewer, pipeline_id, stage_id)
                .await?,
        )?)
    }

    #[tracing::instrument(skip_all)]
    async fn list_lost_reasons(
        &self,
        request: Request<pb::ListLostReasonsRequest>,
    ) -> Result<Response<pb::ListLostReasonsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let reasons = self.lost_reasons.lost_reasons(viewer).await?;
        Ok(Response::new(lost_reasons_to_pb(reasons)))
    }

    #[tracing::instrument(skip_all)]
    async fn create_lost_reason(
        &self,
        request: Request<pb::CreateLostReasonRequest>,
    ) -> Result<Response<pb::LostReason>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let reason = request
            .into_inner()
            .lost_reason
            .ok_or_else(|| Error::invalid("lost_reason", "is required"))?;
        let label =
            lost_reason::parse_label(&reason.label).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let created = self.lost_reasons.create_lost_reason(viewer, label).await?;
        Ok(Response::new(convert::lost_reason_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_lost_reason(
        &self,
        request: Request<pb::UpdateLostReasonRequest>,
    ) -> Result<Response<pb::LostReason>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let reason = r
            .lost_reason
            .ok_or_else(|| Error::invalid("lost_reason", "is required"))?;
        let id = parse_id("lost_reason.id", &reason.id)?;
        let paths = mask_paths(r.update_mask, LOST_REASON_UPDATABLE)?;
        let label = if paths.iter().any(|p| p == "label") {
            Some(
                lost_reason::parse_label(&reason.label)
                    .map_err(|v| Error::InvalidArgument(vec![v]))?,
            )
        } else {
            None
        };
        let archived = paths
            .iter()
            .any(|p| p == "archived")
            .then_some(reason.archived);
        let updated = self
            .lost_reasons
            .update_lost_reason(viewer, id, label, archived)
            .await?
            .ok_or(Error::NotFound("lost reason"))?;
        Ok(Response::new(convert::lost_reason_to_pb(updated)))
    }

    #[tracing::instrument(skip_all)]
    async fn reorder_lost_reasons(
        &self,
        request: Request<pb::ReorderLostReasonsRequest>,
    ) -> Result<Response<pb::ListLostReasonsResponse>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let ids = parse_ids("lost_reason_ids", &request.get_ref().lost_reason_ids)?;
        let reasons = self.lost_reasons.reorder_lost_reasons(viewer, ids).await?;
        Ok(Response::new(lost_reasons_to_pb(reasons)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_lost_reason(
        &self,
        request: Request<pb::DeleteLostReasonRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.lost_reasons.delete_lost_reason(viewer, id).await? {
            return Err(Error::NotFound("lost reason").into());
        }
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_categories_are_reported_per_stage() {
        let stage = |name: &str, probability, category: pb::StageCategory| pb::Stage {
            name: name.into(),
            probability,
            category: category as i32,
            ..Default::default()
        };
        let error = parse_pipeline(pb::CreatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                name: "Renewals".into(),
                stages: vec![
                    stage("Due", 50, pb::StageCategory::Open),
                    stage("Renewed", 100, pb::StageCategory::Won),
                    stage("Churned", 0, pb::StageCategory::Lost),
                    stage("Limbo", 10, pb::StageCategory::Unspecified),
                ],
                ..Default::default()
            }),
        })
        .expect_err("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        assert_eq!(violations[0].field, "pipeline.stages[3].category");
    }
}
