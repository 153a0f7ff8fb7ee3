//! CaseService: support cases, their life cycle actions and the tenant's business hours.

use std::sync::Arc;

use auth::BuiltinRole;
use auth::permissions::{CRM_CASES_WRITE, CRM_RECORDS_READ, TENANT_UPDATE};
use proto::crm as pb;
use tonic::{Request, Response, Status as GrpcStatus};

use super::{ListRequest, mask_paths, optional_id, parse_id, required_id, viewer};
use crate::convert::{
    self, business_hours_to_pb, case_priority_from_pb, case_to_pb, working_case_status_from_pb,
};
use crate::domain::Violations;
use crate::domain::business_hours::{BusinessHours, parse_time, parse_time_zone, parse_weekdays};
use crate::domain::case::{
    Action, CaseData, CasePatch, MAX_DESCRIPTION_LEN, MAX_SUBJECT_LEN, Priority,
};
use crate::domain::text;
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::store::cases::{CaseStore, LISTING};

const UPDATABLE: &[&str] = &[
    "subject",
    "description",
    "priority",
    "status",
    "account_id",
    "contact_id",
    "owner_id",
    "custom_fields",
];

pub struct CaseApi {
    store: Arc<dyn CaseStore>,
}

impl CaseApi {
    pub fn new(store: Arc<dyn CaseStore>) -> Self {
        Self { store }
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateCaseRequest) -> Result<pb::Case> {
        let c = r
            .case
            .ok_or_else(|| Error::invalid("case", "is required"))?;
        let mut v = Violations::new();
        let subject = v.check("case.subject", text::required(&c.subject, MAX_SUBJECT_LEN));
        let description = v.check(
            "case.description",
            text::optional(&c.description, MAX_DESCRIPTION_LEN),
        );
        let priority = v.check(
            "case.priority",
            case_priority_from_pb(c.priority, Some(Priority::Normal)),
        );
        let account_id = v.check("case.account_id", optional_id(&c.account_id));
        let contact_id = v.check("case.contact_id", optional_id(&c.contact_id));
        let owner = v.check("case.owner_id", optional_id(&c.owner_id));
        let custom_values = v.check_all(convert::custom_values_from_pb(
            &c.custom_fields,
            "case.custom_fields.",
        ));
        v.finish()?;
        let (
            Some(subject),
            Some(description),
            Some(priority),
            Some(account_id),
            Some(contact_id),
            Some(owner),
            Some(custom_fields),
        ) = (
            subject,
            description,
            priority,
            account_id,
            contact_id,
            owner,
            custom_values,
        )
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let case = self
            .store
            .create_case(
                viewer,
                CaseData {
                    subject,
                    description,
                    priority,
                    account_id,
                    contact_id,
                    owner_id: owner.unwrap_or(viewer.user_id),
                    custom_fields,
                },
            )
            .await
            .map_err(|e| e.prefixed("case."))?;
        Ok(case_to_pb(case))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateCaseRequest) -> Result<pb::Case> {
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let c = r
            .case
            .ok_or_else(|| Error::invalid("case", "is required"))?;
        let id = parse_id("case.id", &c.id)?;
        let mut v = Violations::new();
        let mut patch = CasePatch::default();
        for path in &paths {
            match path.as_str() {
                "subject" => {
                    patch.subject =
                        v.check("case.subject", text::required(&c.subject, MAX_SUBJECT_LEN))
                }
                "description" => {
                    patch.description = v.check(
                        "case.description",
                        text::optional(&c.description, MAX_DESCRIPTION_LEN),
                    )
                }
                "priority" => {
                    patch.priority =
                        v.check("case.priority", case_priority_from_pb(c.priority, None))
                }
                "status" => {
                    patch.status = v.check("case.status", working_case_status_from_pb(c.status))
                }
                "account_id" => {
                    patch.account_id = v.check("case.account_id", optional_id(&c.account_id))
                }
                "contact_id" => {
                    patch.contact_id = v.check("case.contact_id", optional_id(&c.contact_id))
                }
                "owner_id" => patch.owner_id = v.check("case.owner_id", required_id(&c.owner_id)),
                "custom_fields" => {
                    patch.custom_fields = v.check_all(convert::custom_values_from_pb(
                        &c.custom_fields,
                        "case.custom_fields.",
                    ))
                }
                _ => {}
            }
        }
        v.finish()?;
        let case = self
            .store
            .update_case(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("case."))?
            .ok_or(Error::NotFound("case"))?;
        Ok(case_to_pb(case))
    }

    async fn act(&self, viewer: Viewer, id: &str, action: Action) -> Result<pb::Case> {
        let id = parse_id("id", id)?;
        let case = self
            .store
            .act_on_case(viewer, id, action)
            .await?
            .ok_or(Error::NotFound("case"))?;
        Ok(case_to_pb(case))
    }
}

/// Parses business hours; violations name `business_hours.<field>`.
pub fn parse_business_hours(h: &pb::BusinessHours) -> Result<BusinessHours> {
    let mut v = Violations::new();
    let zone = v.check("business_hours.time_zone", parse_time_zone(&h.time_zone));
    let days = v.check("business_hours.weekdays", parse_weekdays(&h.weekdays));
    let opens = v.check("business_hours.opens_at", parse_time(&h.opens_at));
    let closes = v.check("business_hours.closes_at", parse_time(&h.closes_at));
    v.finish()?;
    let (Some(zone), Some(days), Some(opens), Some(closes)) = (zone, days, opens, closes) else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    BusinessHours::new(zone, days, opens, closes)
        .map_err(|e| Error::invalid("business_hours.closes_at", e.to_string()))
}

#[tonic::async_trait]
impl pb::case_service_server::CaseService for CaseApi {
    #[tracing::instrument(skip_all)]
    async fn create_case(
        &self,
        request: Request<pb::CreateCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let case = self
            .store
            .case(viewer, id)
            .await?
            .ok_or(Error::NotFound("case"))?;
        Ok(Response::new(case_to_pb(case)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, GrpcStatus> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            &LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let page = self.store.list_cases(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListCasesResponse {
            next_page_token: list.next_page_token(page.next),
            cases: page.items.into_iter().map(case_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_case(
        &self,
        request: Request<pb::UpdateCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_case(
        &self,
        request: Request<pb::DeleteCaseRequest>,
    ) -> Result<Response<()>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_case(viewer, id).await? {
            return Err(Error::NotFound("case").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn respond_case(
        &self,
        request: Request<pb::RespondCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.act(viewer, &request.get_ref().id, Action::Respond)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_case(
        &self,
        request: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.act(viewer, &request.get_ref().id, Action::Resolve)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn close_case(
        &self,
        request: Request<pb::CloseCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.act(viewer, &request.get_ref().id, Action::Close)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn reopen_case(
        &self,
        request: Request<pb::ReopenCaseRequest>,
    ) -> Result<Response<pb::Case>, GrpcStatus> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.act(viewer, &request.get_ref().id, Action::Reopen)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_business_hours(
        &self,
        request: Request<pb::GetBusinessHoursRequest>,
    ) -> Result<Response<pb::BusinessHours>, GrpcStatus> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let hours = self.store.business_hours(viewer).await?;
        Ok(Response::new(business_hours_to_pb(&hours)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_business_hours(
        &self,
        request: Request<pb::UpdateBusinessHoursRequest>,
    ) -> Result<Response<pb::BusinessHours>, GrpcStatus> {
        let viewer = viewer(&request, TENANT_UPDATE)?;
        // Custom roles may hold tenant.update; the SLA clock is still an admin decision.
        if viewer.role != BuiltinRole::Admin {
            return Err(GrpcStatus::permission_denied(
                "only admins change business hours",
            ));
        }
        let r = request.into_inner();
        let hours = r
            .business_hours
            .as_ref()
            .ok_or_else(|| Error::invalid("business_hours", "is required"))
            .and_then(parse_business_hours)?;
        let saved = self.store.set_business_hours(viewer, hours).await?;
        Ok(Response::new(business_hours_to_pb(&saved)))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::cases::MockCaseStore;

    fn viewer() -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: BuiltinRole::Support,
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_unknown_priority_is_refused_before_the_store() {
        let mut store = MockCaseStore::new();
        store.expect_create_case().never();
        let error = CaseApi::new(Arc::new(store))
            .create(
                viewer(),
                pb::CreateCaseRequest {
                    case: Some(pb::Case {
                        subject: "Broken".into(),
                        priority: 42,
                        account_id: "nope".into(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["case.priority", "case.account_id"]);
    }

    #[tokio::test]
    async fn finishing_a_case_through_update_is_refused() {
        let mut store = MockCaseStore::new();
        store.expect_update_case().never();
        let error = CaseApi::new(Arc::new(store))
            .update(
                viewer(),
                pb::UpdateCaseRequest {
                    case: Some(pb::Case {
                        id: Uuid::now_v7().to_string(),
                        status: pb::CaseStatus::Closed as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["status".into()],
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["case.status"]);
    }

    #[test]
    fn business_hours_violations_name_each_field() {
        let error = parse_business_hours(&pb::BusinessHours {
            time_zone: "Nowhere/Land".into(),
            weekdays: vec![0],
            opens_at: "9am".into(),
            closes_at: "17:00".into(),
        })
        .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "business_hours.time_zone",
                "business_hours.weekdays",
                "business_hours.opens_at"
            ]
        );
        let backwards = parse_business_hours(&pb::BusinessHours {
            time_zone: "Europe/Berlin".into(),
            weekdays: vec![1, 2, 3],
            opens_at: "17:00".into(),
            closes_at: "09:00".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(backwards), ["business_hours.closes_at"]);
    }
}
