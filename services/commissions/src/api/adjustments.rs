//! `salescompass.commissions.v1.AdjustmentService`: manual adjustments and disputes.

use std::sync::Arc;

use proto::commissions as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{Shared, convert, parse_id, parse_period, validated, viewer};
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
        let raw = request
            .get_ref()
            .adjustment
            .as_ref()
            .ok_or_else(|| Error::invalid("adjustment", "is required"))?;
        let mut v = Violations::new();
        let participant = v.check(
            "adjustment.participant_id",
            Uuid::parse_str(&raw.participant_id).map_err(|_| "must be a UUID"),
        );
        let mut period_violations = Violations::new();
        let period = parse_period(&mut period_violations, raw.period, &raw.period_start);
        if let Err(violations) = period_violations.finish() {
            v.extend(violations.into_iter().map(|p| {
                crate::domain::FieldViolation::new(format!("adjustment.{}", p.field), p.description)
            }));
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
        Ok(Response::new(convert::adjustment(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn approve_adjustment(
        &self,
        request: Request<pb::ApproveAdjustmentRequest>,
    ) -> Result<Response<pb::Adjustment>, Status> {
        let viewer = viewer(&request)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let approved = self
            .shared
            .store
            .approve_adjustment(viewer, id)
            .await?
            .ok_or(Error::NotFound("adjustment"))?;
        Ok(Response::new(convert::adjustment(approved)))
    }

    #[tracing::instrument(skip_all)]
    async fn raise_dispute(
        &self,
        request: Request<pb::RaiseDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let mut v = Violations::new();
        let line = v.check(
            "line_id",
            Uuid::parse_str(&request.line_id).map_err(|_| "must be a UUID"),
        );
        let comment = text(&mut v, "comment", &request.comment);
        v.finish().map_err(Error::from)?;
        let dispute = self
            .shared
            .store
            .raise_dispute(viewer, validated(line)?, comment)
            .await?
            .ok_or(Error::NotFound("line"))?;
        Ok(Response::new(convert::dispute(dispute)))
    }

    #[tracing::instrument(skip_all)]
    async fn resolve_dispute(
        &self,
        request: Request<pb::ResolveDisputeRequest>,
    ) -> Result<Response<pb::Dispute>, Status> {
        let viewer = viewer(&request)?;
        let request = request.get_ref();
        let id = parse_id("id", &request.id)?;
        let mut v = Violations::new();
        let resolution = text(&mut v, "resolution", &request.resolution);
        v.finish().map_err(Error::from)?;
        let dispute = self
            .shared
            .store
            .resolve_dispute(viewer, id, resolution)
            .await?
            .ok_or(Error::NotFound("dispute"))?;
        Ok(Response::new(convert::dispute(dispute)))
    }
}
