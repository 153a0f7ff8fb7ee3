//! `salescompass.commissions.v1.PlanService`.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};

use super::{Shared, convert, parse_id, validated, viewer};
use crate::domain::violations::Violations;
use crate::error::Error;

pub struct PlanApi {
    shared: Arc<Shared>,
}

impl PlanApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// Names are required and short.
const MAX_NAME_CHARS: usize = 200;

#[tonic::async_trait]
impl pb::plan_service_server::PlanService for PlanApi {
    #[tracing::instrument(skip_all)]
    async fn create_plan(
        &self,
        request: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let viewer = viewer(&request)?;
        let request = request.into_inner();
        let name = request.name.trim().to_owned();
        let mut violations = Vec::new();
        if name.is_empty() {
            violations.push(crate::domain::FieldViolation::new("name", "is required"));
        } else if name.chars().count() > MAX_NAME_CHARS {
            violations.push(crate::domain::FieldViolation::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        let version = match request.version.as_ref() {
            Some(version) => match convert::new_version(version) {
                Ok(parsed) => Some(parsed),
                Err(errors) => {
                    violations.extend(errors.into_iter().map(|v| {
                        crate::domain::FieldViolation::new(
                            format!("version.{}", v.field),
                            v.description,
                        )
                    }));
                    None
                }
            },
            None => {
                violations.push(crate::domain::FieldViolation::new("version", "is required"));
                None
            }
        };
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let version = super::validated(version)?;
        let plan = self.shared.store.create_plan(viewer, name, version).await?;
        Ok(Response::new(convert::plan(plan)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let viewer = viewer(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let plan = self
            .shared
            .store
            .plan(viewer, id)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        Ok(Response::new(convert::plan(plan)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let viewer = viewer(&request)?;
        let plans = self.shared.store.list_plans(viewer).await?;
        Ok(Response::new(pb::ListPlansResponse {
            plans: plans.into_iter().map(convert::plan).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_plan_version(
        &self,
        request: Request<pb::CreatePlanVersionRequest>,
    ) -> Result<Response<pb::PlanVersion>, Status> {
        let viewer = viewer(&request)?;
        let request = request.into_inner();
        let plan_id = parse_id("plan_id", &request.plan_id)?;
        let version = request
            .version
            .as_ref()
            .ok_or_else(|| Error::invalid("version", "is required"))?;
        let version = convert::new_version(version)
            .map_err(|violations| Error::InvalidArgument(violations).prefixed("version."))?;
        let created = self
            .shared
            .store
            .create_version(viewer, plan_id, version)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        Ok(Response::new(convert::version(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn end_plan_version(
        &self,
        request: Request<pb::EndPlanVersionRequest>,
    ) -> Result<Response<pb::PlanVersion>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let id = |raw: &str| uuid::Uuid::parse_str(raw).map_err(|_| "must be a UUID");
        let plan_id = v.check("plan_id", id(&request.plan_id));
        let version_id = v.check("version_id", id(&request.version_id));
        let end = v.check("effective_to", super::parse_day(&request.effective_to));
        v.finish().map_err(Error::from)?;
        let ended = self
            .shared
            .store
            .end_version(
                viewer,
                validated(plan_id)?,
                validated(version_id)?,
                validated(end)?,
            )
            .await?
            .ok_or(Error::NotFound("plan version"))?;
        Ok(Response::new(convert::version(ended)))
    }
}
