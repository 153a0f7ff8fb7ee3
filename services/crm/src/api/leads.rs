//! LeadService, including ConvertLead.

use std::sync::Arc;

use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_WRITE};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::read_mask::ReadMask;
use super::{ListRequest, mask_paths, optional_id, parse_amount, parse_id, required_id, viewer};
use crate::convert;
use crate::domain::account::parse_employee_count;
use crate::domain::conversion::{ConvertOptions, OpportunityOptions};
use crate::domain::duplicates::Probe;
use crate::domain::lead::{
    LeadData, LeadFields, LeadPatch, LeadRating, LeadStatus, MAX_NAME_LEN, MAX_TEXT_LEN,
    optional_email, optional_phone, parse_score,
};
use crate::domain::opportunity::MAX_NAME_LEN as MAX_OPPORTUNITY_NAME_LEN;
use crate::domain::record_fields::LEADS;
use crate::domain::visibility::Viewer;
use crate::domain::{Violations, country, day, text};
use crate::error::{Error, Result};
use crate::store::leads::{LISTING, LeadStore};

pub struct LeadApi {
    store: Arc<dyn LeadStore>,
}

fn rating(raw: i32) -> Result<LeadRating, &'static str> {
    match pb::LeadRating::try_from(raw) {
        Ok(pb::LeadRating::Unspecified) => Ok(LeadRating::Unspecified),
        Ok(pb::LeadRating::Cold) => Ok(LeadRating::Cold),
        Ok(pb::LeadRating::Warm) => Ok(LeadRating::Warm),
        Ok(pb::LeadRating::Hot) => Ok(LeadRating::Hot),
        Err(_) => Err("is not a known rating"),
    }
}

fn status(raw: i32) -> Result<LeadStatus, &'static str> {
    let status = match pb::LeadStatus::try_from(raw) {
        Ok(pb::LeadStatus::New) => LeadStatus::New,
        Ok(pb::LeadStatus::Working) => LeadStatus::Working,
        Ok(pb::LeadStatus::Qualified) => LeadStatus::Qualified,
        Ok(pb::LeadStatus::Disqualified) => LeadStatus::Disqualified,
        Ok(pb::LeadStatus::Converted) => LeadStatus::Converted,
        Ok(pb::LeadStatus::Unspecified) => return Err("is required"),
        Err(_) => return Err("is not a known status"),
    };
    status.settable()
}

impl LeadApi {
    pub fn new(store: Arc<dyn LeadStore>) -> Self {
        Self { store }
    }

    /// The validated record of a create request (also one row of an import).
    pub(crate) fn parse_create(viewer: Viewer, r: pb::CreateLeadRequest) -> Result<LeadData> {
        let mut v = Violations::new();
        let basics = LeadFields {
            first_name: &r.first_name,
            last_name: &r.last_name,
            email: &r.email,
            phone: &r.phone,
            company: &r.company,
            title: &r.title,
            source: &r.source,
            country_code: &r.country_code,
            employee_count: r.employee_count,
        }
        .parse(&mut v);
        let rating = v.check("rating", rating(r.rating));
        let owner = v.check("owner_id", optional_id(&r.owner_id));
        let custom_values = v.check_all(convert::custom_values_from_pb(
            &r.custom_fields,
            "custom_fields.",
        ));
        v.finish()?;
        let (Some(basics), Some(rating), Some(owner), Some(custom_values)) =
            (basics, rating, owner, custom_values)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        Ok(basics.into_data(rating, owner.unwrap_or(viewer.user_id), custom_values))
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateLeadRequest) -> Result<pb::Lead> {
        let force = r.force;
        let unowned = r.owner_id.trim().is_empty();
        let data = Self::parse_create(viewer, r)?;
        let probe = (!force).then(|| Probe::lead(&data));
        let record = if unowned {
            self.store.create_unowned_lead(viewer, data, probe).await?
        } else {
            self.store.create_lead(viewer, data, probe).await?
        };
        Ok(convert::lead_to_pb(record))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateLeadRequest) -> Result<pb::Lead> {
        let paths = mask_paths(r.update_mask, &LEADS.updatable())?;
        let l = r
            .lead
            .ok_or_else(|| Error::invalid("lead", "is required"))?;
        let id = parse_id("lead.id", &l.id)?;
        let mut v = Violations::new();
        let mut patch = LeadPatch::default();
        for path in &paths {
            match path.as_str() {
                "first_name" => {
                    patch.first_name = v.check(
                        "lead.first_name",
                        text::optional(&l.first_name, MAX_NAME_LEN),
                    )
                }
                "last_name" => {
                    patch.last_name =
                        v.check("lead.last_name", text::required(&l.last_name, MAX_NAME_LEN))
                }
                "email" => patch.email = v.check("lead.email", optional_email(&l.email)),
                "phone" => patch.phone = v.check("lead.phone", optional_phone(&l.phone)),
                "company" => {
                    patch.company =
                        v.check("lead.company", text::optional(&l.company, MAX_TEXT_LEN))
                }
                "title" => {
                    patch.title = v.check("lead.title", text::optional(&l.title, MAX_TEXT_LEN))
                }
                "source" => {
                    patch.source = v.check("lead.source", text::optional(&l.source, MAX_TEXT_LEN))
                }
                "country_code" => {
                    patch.country_code = v.check(
                        "lead.country_code",
                        country::parse_optional(&l.country_code),
                    )
                }
                "employee_count" => {
                    patch.employee_count = v.check(
                        "lead.employee_count",
                        parse_employee_count(l.employee_count),
                    )
                }
                "status" => patch.status = v.check("lead.status", status(l.status)),
                "rating" => patch.rating = v.check("lead.rating", rating(l.rating)),
                "score" => patch.score = v.check("lead.score", parse_score(l.score)),
                "owner_id" => patch.owner_id = v.check("lead.owner_id", required_id(&l.owner_id)),
                "custom_fields" => {
                    patch.custom_fields = v.check_all(convert::custom_values_from_pb(
                        &l.custom_fields,
                        "lead.custom_fields.",
                    ))
                }
                _ => {}
            }
        }
        v.finish()?;
        let lead = self
            .store
            .update_lead(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("lead."))?
            .ok_or(Error::NotFound("lead"))?;
        Ok(convert::lead_to_pb(lead))
    }

    async fn convert(
        &self,
        viewer: Viewer,
        r: pb::ConvertLeadRequest,
    ) -> Result<pb::ConvertLeadResponse> {
        let id = parse_id("id", &r.id)?;
        let mut v = Violations::new();
        let existing_account_id =
            v.check("existing_account_id", optional_id(&r.existing_account_id));
        let name = v.check(
            "opportunity_name",
            text::optional(&r.opportunity_name, MAX_OPPORTUNITY_NAME_LEN),
        );
        let amount = parse_amount("opportunity_amount", r.opportunity_amount.as_ref(), &mut v);
        let pipeline_id = v.check("pipeline_id", optional_id(&r.pipeline_id));
        let close_date = if r.close_date.is_empty() {
            Some(None)
        } else {
            v.check("close_date", day::parse(&r.close_date).map(Some))
        };
        if !r.create_opportunity {
            // Opportunity details without an opportunity are a client mistake, not a no-op.
            for (field, given) in [
                ("opportunity_name", !r.opportunity_name.is_empty()),
                ("opportunity_amount", r.opportunity_amount.is_some()),
                ("pipeline_id", !r.pipeline_id.is_empty()),
                ("close_date", !r.close_date.is_empty()),
            ] {
                if given {
                    v.add(field, "is only allowed with create_opportunity");
                }
            }
        }
        v.finish()?;
        let (
            Some(existing_account_id),
            Some(name),
            Some(amount),
            Some(pipeline_id),
            Some(close_date),
        ) = (existing_account_id, name, amount, pipeline_id, close_date)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let options = ConvertOptions {
            existing_account_id,
            opportunity: r.create_opportunity.then(|| OpportunityOptions {
                name: Some(name).filter(|n| !n.is_empty()),
                amount,
                pipeline_id,
                close_date,
            }),
        };
        let conversion = self
            .store
            .convert_lead(viewer, id, options)
            .await?
            .ok_or(Error::NotFound("lead"))?;
        Ok(pb::ConvertLeadResponse {
            account: Some(convert::account_to_pb(conversion.account)),
            contact: Some(convert::contact_to_pb(conversion.contact)),
            opportunity: conversion.opportunity.map(convert::opportunity_to_pb),
            lead: Some(convert::lead_to_pb(conversion.lead)),
        })
    }
}

#[tonic::async_trait]
impl pb::lead_service_server::LeadService for LeadApi {
    #[tracing::instrument(skip_all)]
    async fn create_lead(
        &self,
        request: Request<pb::CreateLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_lead(
        &self,
        request: Request<pb::GetLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mask = ReadMask::<pb::Lead>::parse(request.get_ref().read_mask.clone())?;
        let lead = self
            .store
            .lead(viewer, id)
            .await?
            .ok_or(Error::NotFound("lead"))?;
        Ok(Response::new(mask.apply(convert::lead_to_pb(lead))?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_leads(
        &self,
        request: Request<pb::ListLeadsRequest>,
    ) -> Result<Response<pb::ListLeadsResponse>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            &LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let mask = ReadMask::<pb::Lead>::parse(r.read_mask)?;
        let page = self.store.list_leads(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListLeadsResponse {
            next_page_token: list.next_page_token(page.next),
            leads: mask.apply_all(page.items.into_iter().map(convert::lead_to_pb))?,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_lead(
        &self,
        request: Request<pb::UpdateLeadRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_lead(
        &self,
        request: Request<pb::DeleteLeadRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_lead(viewer, id).await? {
            return Err(Error::NotFound("lead").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn convert_lead(
        &self,
        request: Request<pb::ConvertLeadRequest>,
    ) -> Result<Response<pb::ConvertLeadResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.convert(viewer, request.into_inner()).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::api::test_requests::request_as;
    use uuid::Uuid;

    use super::*;
    use crate::store::leads::MockLeadStore;

    fn api(store: MockLeadStore) -> LeadApi {
        LeadApi::new(Arc::new(store))
    }

    fn viewer() -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_validates_the_flat_body() {
        let mut store = MockLeadStore::new();
        store.expect_create_lead().never();
        let error = api(store)
            .create(
                viewer(),
                pb::CreateLeadRequest {
                    last_name: "".into(),
                    email: "ann@".into(),
                    phone: "12345".into(),
                    country_code: "ZZ".into(),
                    rating: 99,
                    ..Default::default()
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            ["last_name", "email", "phone", "country_code", "rating"]
        );
    }

    #[tokio::test]
    async fn status_converted_cannot_be_set_by_update() {
        let mut store = MockLeadStore::new();
        store.expect_update_lead().never();
        let error = api(store)
            .update(
                viewer(),
                pb::UpdateLeadRequest {
                    lead: Some(pb::Lead {
                        id: Uuid::now_v7().to_string(),
                        status: pb::LeadStatus::Converted as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["status".into()],
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["lead.status"]);
    }

    #[tokio::test]
    async fn conversion_options_are_validated_and_mapped() {
        let mut store = MockLeadStore::new();
        store.expect_convert_lead().never();
        let api = api(store);
        let error = api
            .convert(
                viewer(),
                pb::ConvertLeadRequest {
                    id: Uuid::now_v7().to_string(),
                    create_opportunity: true,
                    close_date: "31.12.2026".into(),
                    pipeline_id: "x".into(),
                    opportunity_amount: Some(proto::google::r#type::Money {
                        currency_code: "USD".into(),
                        units: -5,
                        nanos: 0,
                    }),
                    ..Default::default()
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            ["opportunity_amount.units", "pipeline_id", "close_date"]
        );
        let error = api
            .convert(
                viewer(),
                pb::ConvertLeadRequest {
                    id: Uuid::now_v7().to_string(),
                    opportunity_name: "Deal".into(),
                    ..Default::default()
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["opportunity_name"]);
    }

    #[tokio::test]
    async fn conversion_passes_options_to_the_store() {
        let existing = Uuid::now_v7();
        let mut store = MockLeadStore::new();
        store
            .expect_convert_lead()
            .withf(move |_, _, options| {
                options.existing_account_id == Some(existing)
                    && options.opportunity.as_ref().is_some_and(|o| {
                        o.name.as_deref() == Some("Big deal") && o.pipeline_id.is_none()
                    })
            })
            .returning(|_, _, _| Ok(None));
        let error = api(store)
            .convert(
                viewer(),
                pb::ConvertLeadRequest {
                    id: Uuid::now_v7().to_string(),
                    existing_account_id: existing.to_string(),
                    create_opportunity: true,
                    opportunity_name: "Big deal".into(),
                    ..Default::default()
                },
            )
            .await
            .expect_err("invisible lead");
        assert!(matches!(error, Error::NotFound("lead")));
    }

    #[tokio::test]
    async fn an_update_mask_naming_a_system_field_never_reaches_the_store() {
        let mut store = MockLeadStore::new();
        store.expect_update_lead().never();
        let error = api(store)
            .update(
                viewer(),
                pb::UpdateLeadRequest {
                    lead: Some(pb::Lead {
                        id: Uuid::now_v7().to_string(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["converted_account_id".into()],
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["update_mask"]);
    }

    #[tokio::test]
    async fn a_share_too_weak_for_the_change_is_permission_denied() {
        use pb::lead_service_server::LeadService as _;
        let mut store = MockLeadStore::new();
        store.expect_update_lead().times(1).returning(|_, _, _| {
            Err(Error::PermissionDenied(
                "the lead is shared with you read-only".into(),
            ))
        });
        let request = pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: Uuid::now_v7().to_string(),
                company: "Acme".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["company".into()],
            }),
        };
        let status = api(store)
            .update_lead(request_as(viewer(), request))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
    }

    #[tokio::test]
    async fn support_cannot_read_leads_and_the_store_is_never_asked() {
        use pb::lead_service_server::LeadService as _;
        let mut store = MockLeadStore::new();
        store.expect_lead().never();
        let support = Viewer {
            role: auth::BuiltinRole::Support,
            ..viewer()
        };
        let get = pb::GetLeadRequest {
            id: Uuid::now_v7().to_string(),
            ..Default::default()
        };
        let status = api(store)
            .get_lead(request_as(support, get))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
    }
}
