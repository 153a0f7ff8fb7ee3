//! `salescompass.commissions.v1.AdjustmentService`: manual adjustments and disputes.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, viewer};
use crate::convert::{
    adjustment_to_pb, dispute_to_pb, id_from_pb, period_from_pb, uuid_from_pb, validated,
};
use crate::domain::FieldViolation;
use crate::domain::adjustment::{Adjustment, AdjustmentStatus};
use crate::domain::violations::Violations;
use crate::error::Error;

/// Reasons, comments and resolutions are short texts.
const MAX_TEXT_CHARS: usize = 2_000;

pub struct AdjustmentApi {
    shared: Arc<Shared>,
}

impl AdjustmentApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

fn text(v: &mut Violations, field: &str, raw: &str) -> String {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        v.add(field, "is required");
    } else if trimmed.chars().count() > MAX_TEXT_CHARS {
        v.add(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    }
    trimmed.to_owned()
}

#[tonic::async_trait]
impl pb::adjustment_service_server::AdjustmentService for AdjustmentApi {
    #[tracing::instrument(skip_all)]
    async fn create_adjustment(
        &self,
        request: Request<pb::CreateAdjustmentRequest>,
    ) -> Result<Response<pb::Adjustment>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let raw = request
            .get_ref()
            .adjustment
            .as_ref()
            .ok_or_else(|| Error::invalid("adjustment", "is required"))?;
        let mut v = Violations::new();
        let participant = v.check(
            "adjustment.participant_id",
            uuid_from_pb(&raw.participant_id),
        );
        let mut period_violations = Violations::new();
        let period = period_from_pb(&mut period_violations, raw.period, &raw.period_start);
        if let Err(violations) = period_violations.finish() {
            v.extend(
                violations
                    .into_iter()
                    .map(|p| FieldViolation::new(format!("adjustment.{}", p.field), p.description)),
            );
        }
        if iso_currency::Currency::from_code(&raw.currency_code).is_none() {
            v.add(
                "adjustment.currency_code",
                "must be an ISO 4217 currency code",
            );
        }
        if raw.amount_minor == 0 {
            v.add("adjustment.amount_minor", "must not be 0");
        }
        let reason = text(&mut v, "adjustment.reason", &raw.reason);
        v.finish().map_err(Error::from)?;
        let status =
            AdjustmentStatus::on_creation(raw.amount_minor, self.shared.approval_threshold);
        let adjustment = Adjustment {
            id: Uuid::now_v7(),
            participant_id: validated(participant)?,
            period: validated(period)?,
            currency: raw.currency_code.clone(),
            amount: raw.amount_minor,
            reason,
            status,
            requested_by: viewer.user_id,
            approved_by: (status == AdjustmentStatus::Approved).then_some(viewer.user_id),
            created_at: crate::store::now(),
        };
        let created = self
            .shared
            .store
            .create_adjustment(viewer, adjustment)
            .await?;
        Ok(Response::new(adjustment_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn approve_adjustment(
        &self,
        request: Request<pb::ApproveAdjustmentRequest>,
    ) -> Result<Response<pb::Adjustment>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let id = id_from_pb("id", &request.get_ref().id)?;
        let approved = self
            .shared
            .store
            .approve_adjustment(viewer, id)
            .await?
            .ok_or(Error::NotFound("adjustment"))?;
        Ok(Response::new(adjustment_to_pb(approved)))
    }

    #[tracing::instrument(skip_all)]
    async fn raise_dispute(
        &self,
        request: Request<pb::RaiseDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let line = v.check("line_id", uuid_from_pb(&request.line_id));
        let comment = text(&mut v, "comment", &request.comment);
        v.finish().map_err(Error::from)?;
        let dispute = self
            .shared
            .store
            .raise_dispute(viewer, validated(line)?, comment)
            .await?
            .ok_or(Error::NotFound("line"))?;
        Ok(Response::new(dispute_to_pb(dispute)))
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_dispute(
        &self,
        request: Request<pb::ResolveDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let viewer = viewer(&request)?;
        viewer.require_admin().map_err(Error::from)?;
        let request = request.get_ref();
        let id = id_from_pb("id", &request.id)?;
        let mut v = Violations::new();
        let resolution = text(&mut v, "resolution", &request.resolution);
        v.finish().map_err(Error::from)?;
        let dispute = self
            .shared
            .store
            .resolve_dispute(viewer, id, resolution)
            .await?
            .ok_or(Error::NotFound("dispute"))?;
        Ok(Response::new(dispute_to_pb(dispute)))
    }
}

#[cfg(test)]
mod tests {
    use auth::BuiltinRole;
    use chrono::Utc;
    use pb::adjustment_service_server::AdjustmentService;
    use tonic::Code;

    use super::*;
    use crate::api::testing::{
        APPROVAL_THRESHOLD, bad_fields, quarter, refused, request, shared, viewer,
    };
    use crate::domain::adjustment::{Dispute, DisputeStatus};
    use crate::store::MockStore;

    fn adjustment_request(participant: Uuid, amount_minor: i64) -> pb::CreateAdjustmentRequest {
        pb::CreateAdjustmentRequest {
            adjustment: Some(pb::Adjustment {
                participant_id: participant.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
                currency_code: "EUR".into(),
                amount_minor,
                reason: " Missed split on the Acme renewal ".into(),
                ..Default::default()
            }),
        }
    }

    #[tokio::test]
    async fn a_small_adjustment_is_approved_by_its_requester_and_a_large_one_waits() {
        let admin = viewer(BuiltinRole::Admin);
        let rep = Uuid::now_v7();
        for (amount, status, approved_by) in [
            (
                -APPROVAL_THRESHOLD,
                AdjustmentStatus::Approved,
                Some(admin.user_id),
            ),
            (APPROVAL_THRESHOLD + 1, AdjustmentStatus::Pending, None),
        ] {
            let mut store = MockStore::new();
            store
                .expect_create_adjustment()
                .withf(move |who, a| {
                    *who == admin
                        && a.participant_id == rep
                        && a.period == quarter("2026-04-01")
                        && a.currency == "EUR"
                        && a.amount == amount
                        && a.reason == "Missed split on the Acme renewal"
                        && a.status == status
                        && a.requested_by == admin.user_id
                        && a.approved_by == approved_by
                })
                .times(1)
                .returning(|_, adjustment| Ok(adjustment));
            let api = AdjustmentApi::new(shared(store));
            let created = api
                .create_adjustment(request(admin, adjustment_request(rep, amount)))
                .await
                .expect("created")
                .into_inner();
            assert_eq!(created.amount_minor, amount);
            assert_eq!(created.requested_by, admin.user_id.to_string());
        }
    }

    #[tokio::test]
    async fn every_bad_adjustment_field_is_named_before_the_store() {
        let api = AdjustmentApi::new(shared(MockStore::new()));
        let status = refused(
            api.create_adjustment(request(
                viewer(BuiltinRole::Admin),
                pb::CreateAdjustmentRequest {
                    adjustment: Some(pb::Adjustment {
                        participant_id: "someone".into(),
                        period: pb::PeriodKind::Month as i32,
                        period_start: "2026-04-02".into(),
                        currency_code: "EURO".into(),
                        amount_minor: 0,
                        reason: String::new(),
                        ..Default::default()
                    }),
                },
            ))
            .await,
        );
        assert_eq!(
            bad_fields(&status),
            [
                "adjustment.participant_id",
                "adjustment.period_start",
                "adjustment.currency_code",
                "adjustment.amount_minor",
                "adjustment.reason",
            ]
        );
        let missing = refused(
            api.create_adjustment(request(
                viewer(BuiltinRole::Admin),
                pb::CreateAdjustmentRequest { adjustment: None },
            ))
            .await,
        );
        assert_eq!(bad_fields(&missing), ["adjustment"]);
    }

    #[tokio::test]
    async fn a_rep_may_not_adjust_approve_or_resolve() {
        let rep = viewer(BuiltinRole::SalesRep);
        let api = AdjustmentApi::new(shared(MockStore::new()));
        let created = refused(
            api.create_adjustment(request(rep, adjustment_request(rep.user_id, 100)))
                .await,
        );
        assert_eq!(created.code(), Code::PermissionDenied);
        let approved = refused(
            api.approve_adjustment(request(
                rep,
                pb::ApproveAdjustmentRequest {
                    id: Uuid::now_v7().to_string(),
                },
            ))
            .await,
        );
        assert_eq!(approved.code(), Code::PermissionDenied);
        let resolved = refused(
            api.resolve_dispute(request(
                rep,
                pb::ResolveDisputeRequest {
                    id: Uuid::now_v7().to_string(),
                    resolution: "Fixed".into(),
                },
            ))
            .await,
        );
        assert_eq!(resolved.code(), Code::PermissionDenied);
    }

    #[tokio::test]
    async fn approving_an_unknown_adjustment_is_not_found() {
        let id = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_approve_adjustment()
            .withf(move |_, asked| *asked == id)
            .times(1)
            .returning(|_, _| Ok(None));
        let api = AdjustmentApi::new(shared(store));
        let status = refused(
            api.approve_adjustment(request(
                viewer(BuiltinRole::Admin),
                pb::ApproveAdjustmentRequest { id: id.to_string() },
            ))
            .await,
        );
        assert_eq!(status.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn a_rep_raises_a_dispute_on_a_line_with_the_trimmed_comment() {
        let rep = viewer(BuiltinRole::SalesRep);
        let line = Uuid::now_v7();
        let mut store = MockStore::new();
        store
            .expect_raise_dispute()
            .withf(move |who, asked, comment| {
                *who == rep && *asked == line && comment == "Rate should be 6 %"
            })
            .times(1)
            .returning(move |who, line_id, comment| {
                Ok(Some(Dispute {
                    id: Uuid::now_v7(),
                    line_id,
                    comment,
                    status: DisputeStatus::Open,
                    resolution: String::new(),
                    raised_by: who.user_id,
                    resolved_by: None,
                    created_at: Utc::now(),
                }))
            });
        let api = AdjustmentApi::new(shared(store));
        let dispute = api
            .raise_dispute(request(
                rep,
                pb::RaiseDisputeRequest {
                    line_id: line.to_string(),
                    comment: "  Rate should be 6 % ".into(),
                },
            ))
            .await
            .expect("raised")
            .into_inner();
        assert_eq!(dispute.status, pb::DisputeStatus::Open as i32);
        assert_eq!(dispute.raised_by, rep.user_id.to_string());

        let api = AdjustmentApi::new(shared(MockStore::new()));
        let status = refused(
            api.raise_dispute(request(
                rep,
                pb::RaiseDisputeRequest {
                    line_id: "line".into(),
                    comment: " ".into(),
                },
            ))
            .await,
        );
        assert_eq!(bad_fields(&status), ["line_id", "comment"]);
    }
}
