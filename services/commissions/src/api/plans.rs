//! `salescompass.commissions.v1.PlanService`.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};

use super::{Shared, viewer};
use crate::convert::{
    day_from_pb, id_from_pb, new_version_from_pb, plan_to_pb, uuid_from_pb, validated,
    version_to_pb,
};
use crate::domain::FieldViolation;
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
        viewer.require_admin().map_err(Error::from)?;
        let request = request.into_inner();
        let name = request.name.trim().to_owned();
        let mut violations = Vec::new();
        if name.is_empty() {
            violations.push(FieldViolation::new("name", "is required"));
        } else if name.chars().count() > MAX_NAME_CHARS {
            violations.push(FieldViolation::new(
                "name",
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        let version = match request.version.as_ref() {
            Some(version) => match new_version_from_pb(version) {
                Ok(parsed) => Some(parsed),
                Err(errors) => {
                    violations.extend(errors.into_iter().map(|v| {
                        FieldViolation::new(format!("version.{}", v.field), v.description)
                    }));
                    None
                }
            },
            None => {
                violations.push(FieldViolation::new("version", "is required"));
                None
            }
        };
        if !violations.is_empty() {
            return Err(Error::InvalidArgument(violations).into());
        }
        let version = validated(version)?;
        let plan = self.shared.store.create_plan(viewer, name, version).await?;
        Ok(Response::new(plan_to_pb(plan)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::Plan>, Status> {
        let viewer = viewer(&request)?;
        let id = id_from_pb("id", &request.get_ref().id)?;
        let plan = self
            .shared
            .store
            .plan(viewer, id)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        Ok(Response::new(plan_to_pb(plan)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let viewer = viewer(&request)?;
        let plans = self.shared.store.list_plans(viewer).await?;
        Ok(Response::new(pb::ListPlansResponse {
            plans: plans.into_iter().map(plan_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn create_plan_version(
        &self,
        request: Request<pb::CreatePlanVersionRequest>,
    ) -> Result<Response<pb::PlanVersion>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let request = request.into_inner();
        let plan_id = id_from_pb("plan_id", &request.plan_id)?;
        let version = request
            .version
            .as_ref()
            .ok_or_else(|| Error::invalid("version", "is required"))?;
        let version = new_version_from_pb(version)
            .map_err(|violations| Error::InvalidArgument(violations).prefixed("version."))?;
        let created = self
            .shared
            .store
            .create_version(viewer, plan_id, version)
            .await?
            .ok_or(Error::NotFound("plan"))?;
        Ok(Response::new(version_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn end_plan_version(
        &self,
        request: Request<pb::EndPlanVersionRequest>,
    ) -> Result<Response<pb::PlanVersion>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let plan_id = v.check("plan_id", uuid_from_pb(&request.plan_id));
        let version_id = v.check("version_id", uuid_from_pb(&request.version_id));
        let end = v.check("effective_to", day_from_pb(&request.effective_to));
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
        Ok(Response::new(version_to_pb(ended)))
    }
}

#[cfg(test)]
mod tests {
    use auth::BuiltinRole;
    use chrono::Utc;
    use pb::plan_service_server::PlanService;
    use tonic::Code;
    use uuid::Uuid;

    use super::*;
    use crate::api::testing::{bad_fields, day, refused, request, shared, viewer};
    use crate::domain::plan::{Effective, NewVersion, Plan, PlanVersion, Schedule};
    use crate::store::MockStore;

    fn flat_version() -> pb::PlanVersion {
        pb::PlanVersion {
            effective_from: "2026-01-01".into(),
            participant_roles: vec!["ROLE_SALES_REP".into()],
            currency_code: "EUR".into(),
            period: pb::PeriodKind::Quarter as i32,
            flat_rate_millionths: 50_000,
            ..Default::default()
        }
    }

    fn stored_version(plan_id: Uuid, new: NewVersion, by: Uuid) -> PlanVersion {
        PlanVersion {
            id: Uuid::now_v7(),
            plan_id,
            version: 1,
            effective: new.effective,
            participants: new.participants,
            roles: new.roles,
            rules: new.rules,
            created_by: by,
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_plan_is_created_with_the_trimmed_name_and_the_parsed_version() {
        let admin = viewer(BuiltinRole::Admin);
        let mut store = MockStore::new();
        store
            .expect_create_plan()
            .withf(move |who, name, version| {
                *who == admin
                    && name == "Field sales"
                    && version.effective
                        == Effective {
                            from: day("2026-01-01"),
                            to: None,
                        }
                    && version.roles == ["ROLE_SALES_REP"]
                    && version.rules.schedule == Schedule::Flat { rate: 50_000 }
            })
            .times(1)
            .returning(move |who, name, version| {
                let id = Uuid::now_v7();
                Ok(Plan {
                    id,
                    name,
                    versions: vec![stored_version(id, version, who.user_id)],
                    created_at: Utc::now(),
                })
            });
        let api = PlanApi::new(shared(store));
        let plan = api
            .create_plan(request(
                admin,
                pb::CreatePlanRequest {
                    name: "  Field sales ".into(),
                    version: Some(flat_version()),
                },
            ))
            .await
            .expect("created")
            .into_inner();
        assert_eq!(plan.name, "Field sales");
        assert_eq!(plan.versions.len(), 1);
        assert_eq!(plan.versions[0].flat_rate_millionths, 50_000);
        assert_eq!(plan.versions[0].created_by, admin.user_id.to_string());
    }

    #[tokio::test]
    async fn a_plan_without_name_or_with_a_bad_version_never_reaches_the_store() {
        let api = PlanApi::new(shared(MockStore::new()));
        let status = refused(
            api.create_plan(request(
                viewer(BuiltinRole::Admin),
                pb::CreatePlanRequest {
                    name: " ".into(),
                    version: Some(pb::PlanVersion {
                        effective_from: "2026-13-01".into(),
                        currency_code: "EUR".into(),
                        ..flat_version()
                    }),
                },
            ))
            .await,
        );
        assert_eq!(
            bad_fields(&status),
            ["name", "version.effective_from"],
            "{status:?}"
        );
        let status = refused(
            api.create_plan(request(
                viewer(BuiltinRole::Admin),
                pb::CreatePlanRequest {
                    name: "Plan".into(),
                    version: None,
                },
            ))
            .await,
        );
        assert_eq!(bad_fields(&status), ["version"]);
    }

    #[tokio::test]
    async fn a_sales_rep_may_not_create_or_change_plans() {
        let api = PlanApi::new(shared(MockStore::new()));
        let rep = viewer(BuiltinRole::SalesRep);
        let created = refused(
            api.create_plan(request(
                rep,
                pb::CreatePlanRequest {
                    name: "Mine".into(),
                    version: Some(flat_version()),
                },
            ))
            .await,
        );
        assert_eq!(created.code(), Code::PermissionDenied);
        let ended = refused(
            api.end_plan_version(request(
                rep,
                pb::EndPlanVersionRequest {
                    plan_id: Uuid::now_v7().to_string(),
                    version_id: Uuid::now_v7().to_string(),
                    effective_to: "2026-06-01".into(),
                },
            ))
            .await,
        );
        assert_eq!(ended.code(), Code::PermissionDenied);
    }

    #[tokio::test]
    async fn a_taken_plan_name_is_already_exists() {
        let mut store = MockStore::new();
        store.expect_create_plan().times(1).returning(|_, _, _| {
            Err(Error::AlreadyExists {
                field: "name",
                message: "a plan with this name already exists".to_owned(),
            })
        });
        let api = PlanApi::new(shared(store));
        let status = refused(
            api.create_plan(request(
                viewer(BuiltinRole::Admin),
                pb::CreatePlanRequest {
                    name: "Taken".into(),
                    version: Some(flat_version()),
                },
            ))
            .await,
        );
        assert_eq!(status.code(), Code::AlreadyExists);
    }

    #[tokio::test]
    async fn an_unknown_or_invisible_plan_is_not_found() {
        let rep = viewer(BuiltinRole::SalesRep);
        let id = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_plan()
            .withf(move |who, asked| *who == rep && *asked == id)
            .times(1)
            .returning(|_, _| Ok(None));
        let api = PlanApi::new(shared(store));
        let status = refused(
            api.get_plan(request(rep, pb::GetPlanRequest { id: id.to_string() }))
                .await,
        );
        assert_eq!(status.code(), Code::NotFound);
        let malformed = refused(
            api.get_plan(request(rep, pb::GetPlanRequest { id: "7".into() }))
                .await,
        );
        assert_eq!(bad_fields(&malformed), ["id"]);
    }

    #[tokio::test]
    async fn ending_a_version_names_every_bad_field_and_maps_a_missing_version() {
        let admin = viewer(BuiltinRole::Admin);
        let api = PlanApi::new(shared(MockStore::new()));
        let status = refused(
            api.end_plan_version(request(
                admin,
                pb::EndPlanVersionRequest {
                    plan_id: "x".into(),
                    version_id: String::new(),
                    effective_to: "June".into(),
                },
            ))
            .await,
        );
        assert_eq!(
            bad_fields(&status),
            ["plan_id", "version_id", "effective_to"]
        );

        let (plan_id, version_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut store = MockStore::new();
        store
            .expect_end_version()
            .withf(move |_, plan, version, end| {
                (*plan, *version, *end) == (plan_id, version_id, day("2026-07-01"))
            })
            .times(1)
            .returning(|_, _, _, _| Ok(None));
        let api = PlanApi::new(shared(store));
        let status = refused(
            api.end_plan_version(request(
                admin,
                pb::EndPlanVersionRequest {
                    plan_id: plan_id.to_string(),
                    version_id: version_id.to_string(),
                    effective_to: "2026-07-01".into(),
                },
            ))
            .await,
        );
        assert_eq!(status.code(), Code::NotFound);
    }
}
