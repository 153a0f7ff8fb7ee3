//! PipelineService.

use std::sync::Arc;

use auth::permissions::{CRM_PIPELINES_WRITE, CRM_RECORDS_READ};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::{parse_id, viewer};
use crate::convert;
use crate::domain::pipeline::{NewPipeline, RawStage, StageCategory};
use crate::error::{Error, Result};
use crate::store::pipelines::PipelineStore;

pub struct PipelineApi {
    store: Arc<dyn PipelineStore>,
}

impl PipelineApi {
    pub fn new(store: Arc<dyn PipelineStore>) -> Self {
        Self { store }
    }
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
