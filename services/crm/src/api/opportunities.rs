//! OpportunityService, including MoveStage and ListStageHistory.

use std::sync::Arc;

use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_WRITE};
use chrono::Utc;
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::read_mask::ReadMask;
use super::{ListRequest, mask_paths, optional_id, parse_amount, parse_id, required_id, viewer};
use crate::convert;
use crate::domain::forecast::CategoryOverride;
use crate::domain::opportunity::{
    CreditSplit, DEFAULT_CLOSE_DAYS, MAX_LOST_REASON_LEN, MAX_NAME_LEN, NewOpportunity,
    OpportunityData, OpportunityPatch, Placement, parse_splits,
};
use crate::domain::record_fields::OPPORTUNITIES;
use crate::domain::visibility::Viewer;
use crate::domain::{Violations, day, text};
use crate::error::{Error, Result};
use crate::store::opportunities::{LISTING, OpportunityStore};

pub struct OpportunityApi {
    store: Arc<dyn OpportunityStore>,
}

fn splits(raw: &[pb::CreditSplit]) -> Result<Vec<CreditSplit>, String> {
    let parsed: Vec<(Uuid, i32)> = raw
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Uuid::parse_str(&s.user_id)
                .map(|id| (id, s.percent))
                .map_err(|_| format!("entry {i}: user_id must be a UUID"))
        })
        .collect::<Result<_, _>>()?;
    parse_splits(&parsed)
}

impl OpportunityApi {
    pub fn new(store: Arc<dyn OpportunityStore>) -> Self {
        Self { store }
    }

    async fn create(
        &self,
        viewer: Viewer,
        r: pb::CreateOpportunityRequest,
    ) -> Result<pb::Opportunity> {
        let o = r
            .opportunity
            .ok_or_else(|| Error::invalid("opportunity", "is required"))?;
        let mut v = Violations::new();
        let name = v.check("opportunity.name", text::required(&o.name, MAX_NAME_LEN));
        let amount = parse_amount("opportunity.amount", o.amount.as_ref(), &mut v);
        let close_date = if o.close_date.is_empty() {
            Some(Utc::now().date_naive() + chrono::Duration::days(DEFAULT_CLOSE_DAYS))
        } else {
            v.check("opportunity.close_date", day::parse(&o.close_date))
        };
        let pipeline_id = v.check("opportunity.pipeline_id", optional_id(&o.pipeline_id));
        let stage_id = v.check("opportunity.stage_id", optional_id(&o.stage_id));
        let owner = v.check("opportunity.owner_id", optional_id(&o.owner_id));
        let account_id = v.check("opportunity.account_id", optional_id(&o.account_id));
        let primary_contact_id = v.check(
            "opportunity.primary_contact_id",
            optional_id(&o.primary_contact_id),
        );
        let splits = v.check("opportunity.splits", splits(&o.splits));
        if !o.lost_reason.is_empty() {
            v.add(
                "opportunity.lost_reason",
                "is set by MoveStage when the opportunity is lost",
            );
        }
        let custom_values = v.check_all(convert::custom_values_from_pb(
            &o.custom_fields,
            "opportunity.custom_fields.",
        ));
        let forecast_category = v.check(
            "opportunity.forecast_category",
            CategoryOverride::parse(&o.forecast_category),
        );
        v.finish()?;
        let (
            Some(name),
            Some(amount),
            Some(close_date),
            Some(pipeline_id),
            Some(stage_id),
            Some(owner),
            Some(account_id),
            Some(primary_contact_id),
            Some(splits),
            Some(custom_values),
            Some(forecast_category),
        ) = (
            name,
            amount,
            close_date,
            pipeline_id,
            stage_id,
            owner,
            account_id,
            primary_contact_id,
            splits,
            custom_values,
            forecast_category,
        )
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let opportunity = self
            .store
            .create_opportunity(
                viewer,
                NewOpportunity {
                    data: OpportunityData {
                        name,
                        amount,
                        close_date,
                        owner_id: owner.unwrap_or(viewer.user_id),
                        account_id,
                        primary_contact_id,
                        lost_reason: String::new(),
                        splits,
                        custom_fields: custom_values,
                        forecast_category,
                    },
                    placement: Placement {
                        pipeline_id,
                        stage_id,
                    },
                },
            )
            .await
            .map_err(|e| e.prefixed("opportunity."))?;
        Ok(convert::opportunity_to_pb(opportunity))
    }

    async fn update(
        &self,
        viewer: Viewer,
        r: pb::UpdateOpportunityRequest,
    ) -> Result<pb::Opportunity> {
        let paths = mask_paths(r.update_mask, &OPPORTUNITIES.updatable())?;
        let o = r
            .opportunity
            .ok_or_else(|| Error::invalid("opportunity", "is required"))?;
        let id = parse_id("opportunity.id", &o.id)?;
        let mut v = Violations::new();
        let mut patch = OpportunityPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("opportunity.name", text::required(&o.name, MAX_NAME_LEN))
                }
                "amount" => {
                    patch.amount = parse_amount("opportunity.amount", o.amount.as_ref(), &mut v)
                }
                "close_date" => {
                    patch.close_date = v.check("opportunity.close_date", day::parse(&o.close_date))
                }
                "owner_id" => {
                    patch.owner_id = v.check("opportunity.owner_id", required_id(&o.owner_id))
                }
                "custom_fields" => {
                    patch.custom_fields = v.check_all(convert::custom_values_from_pb(
                        &o.custom_fields,
                        "opportunity.custom_fields.",
                    ))
                }
                "account_id" => {
                    patch.account_id = v.check("opportunity.account_id", optional_id(&o.account_id))
                }
                "primary_contact_id" => {
                    patch.primary_contact_id = v.check(
                        "opportunity.primary_contact_id",
                        optional_id(&o.primary_contact_id),
                    )
                }
                "lost_reason" => {
                    patch.lost_reason = v.check(
                        "opportunity.lost_reason",
                        text::optional(&o.lost_reason, MAX_LOST_REASON_LEN),
                    )
                }
                "splits" => patch.splits = v.check("opportunity.splits", splits(&o.splits)),
                "forecast_category" => {
                    patch.forecast_category = v.check(
                        "opportunity.forecast_category",
                        CategoryOverride::parse(&o.forecast_category),
                    )
                }
                _ => {}
            }
        }
        v.finish()?;
        let opportunity = self
            .store
            .update_opportunity(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("opportunity."))?
            .ok_or(Error::NotFound("opportunity"))?;
        Ok(convert::opportunity_to_pb(opportunity))
    }

    async fn move_stage(&self, viewer: Viewer, r: pb::MoveStageRequest) -> Result<pb::Opportunity> {
        let id = parse_id("id", &r.id)?;
        let mut v = Violations::new();
        let stage_id = v.check("stage_id", required_id(&r.stage_id));
        let lost_reason = v.check(
            "lost_reason",
            text::optional(&r.lost_reason, MAX_LOST_REASON_LEN),
        );
        v.finish()?;
        let (Some(stage_id), Some(lost_reason)) = (stage_id, lost_reason) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let opportunity = self
            .store
            .move_stage(viewer, id, stage_id, lost_reason)
            .await?
            .ok_or(Error::NotFound("opportunity"))?;
        Ok(convert::opportunity_to_pb(opportunity))
    }
}

#[tonic::async_trait]
impl pb::opportunity_service_server::OpportunityService for OpportunityApi {
    #[tracing::instrument(skip_all)]
    async fn create_opportunity(
        &self,
        request: Request<pb::CreateOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_opportunity(
        &self,
        request: Request<pb::GetOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let mask = ReadMask::<pb::Opportunity>::parse(request.get_ref().read_mask.clone())?;
        let opportunity = self
            .store
            .opportunity(viewer, id)
            .await?
            .ok_or(Error::NotFound("opportunity"))?;
        Ok(Response::new(
            mask.apply(convert::opportunity_to_pb(opportunity))?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_opportunities(
        &self,
        request: Request<pb::ListOpportunitiesRequest>,
    ) -> Result<Response<pb::ListOpportunitiesResponse>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse_with_custom(
            &LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let mask = ReadMask::<pb::Opportunity>::parse(r.read_mask)?;
        let page = self
            .store
            .list_opportunities(viewer, list.query.clone())
            .await?;
        Ok(Response::new(pb::ListOpportunitiesResponse {
            next_page_token: list.next_page_token(page.next),
            opportunities: mask
                .apply_all(page.items.into_iter().map(convert::opportunity_to_pb))?,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_opportunity(
        &self,
        request: Request<pb::UpdateOpportunityRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_opportunity(
        &self,
        request: Request<pb::DeleteOpportunityRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_opportunity(viewer, id).await? {
            return Err(Error::NotFound("opportunity").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn move_stage(
        &self,
        request: Request<pb::MoveStageRequest>,
    ) -> Result<Response<pb::Opportunity>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.move_stage(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_stage_history(
        &self,
        request: Request<pb::ListStageHistoryRequest>,
    ) -> Result<Response<pb::ListStageHistoryResponse>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let changes = self
            .store
            .stage_history(viewer, id)
            .await?
            .ok_or(Error::NotFound("opportunity"))?;
        Ok(Response::new(pb::ListStageHistoryResponse {
            changes: changes
                .into_iter()
                .map(convert::stage_change_to_pb)
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::opportunities::MockOpportunityStore;

    fn api(store: MockOpportunityStore) -> OpportunityApi {
        OpportunityApi::new(Arc::new(store))
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
    async fn create_refuses_bad_amount_date_ids_splits_and_lost_reason() {
        let mut store = MockOpportunityStore::new();
        store.expect_create_opportunity().never();
        let error = api(store)
            .create(
                viewer(),
                pb::CreateOpportunityRequest {
                    opportunity: Some(pb::Opportunity {
                        name: "Deal".into(),
                        amount: Some(proto::google::r#type::Money {
                            currency_code: "USD".into(),
                            units: 10,
                            nanos: 1,
                        }),
                        close_date: "2026/12/31".into(),
                        stage_id: "stage-1".into(),
                        splits: vec![pb::CreditSplit {
                            user_id: Uuid::now_v7().to_string(),
                            percent: 90,
                        }],
                        lost_reason: "too early".into(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "opportunity.amount.nanos",
                "opportunity.close_date",
                "opportunity.stage_id",
                "opportunity.splits",
                "opportunity.lost_reason",
            ]
        );
    }

    #[tokio::test]
    async fn move_stage_needs_a_stage() {
        let mut store = MockOpportunityStore::new();
        store.expect_move_stage().never();
        let error = api(store)
            .move_stage(
                viewer(),
                pb::MoveStageRequest {
                    id: Uuid::now_v7().to_string(),
                    stage_id: String::new(),
                    lost_reason: String::new(),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["stage_id"]);
    }

    #[tokio::test]
    async fn updating_the_amount_passes_only_the_amount() {
        let mut store = MockOpportunityStore::new();
        store
            .expect_update_opportunity()
            .withf(|_, _, patch| {
                patch
                    .amount
                    .is_some_and(|a| a.is_some_and(|m| m.units() == 12_000))
                    && patch.name.is_none()
                    && patch.close_date.is_none()
            })
            .returning(|_, _, _| Ok(None));
        let error = api(store)
            .update(
                viewer(),
                pb::UpdateOpportunityRequest {
                    opportunity: Some(pb::Opportunity {
                        id: Uuid::now_v7().to_string(),
                        amount: Some(proto::google::r#type::Money {
                            currency_code: "USD".into(),
                            units: 12_000,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["amount".into()],
                    }),
                },
            )
            .await
            .expect_err("not found");
        assert!(matches!(error, Error::NotFound("opportunity")));
    }
}
