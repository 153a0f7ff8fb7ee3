//! Manual adjustments and disputes in the proto shape.

use proto::commissions as pb;

use super::{period_kind_to_pb, timestamp_to_pb};
use crate::domain::adjustment::{Adjustment, AdjustmentStatus, Dispute, DisputeStatus};

pub fn adjustment_to_pb(adjustment: Adjustment) -> pb::Adjustment {
    pb::Adjustment {
        id: adjustment.id.to_string(),
        participant_id: adjustment.participant_id.to_string(),
        period: period_kind_to_pb(adjustment.period.kind) as i32,
        period_start: adjustment.period.start.to_string(),
        currency_code: adjustment.currency,
        amount_minor: adjustment.amount,
        reason: adjustment.reason,
        status: match adjustment.status {
            AdjustmentStatus::Pending => pb::AdjustmentStatus::Pending,
            AdjustmentStatus::Approved => pb::AdjustmentStatus::Approved,
        } as i32,
        requested_by: adjustment.requested_by.to_string(),
        approved_by: adjustment
            .approved_by
            .map(|a| a.to_string())
            .unwrap_or_default(),
        create_time: Some(timestamp_to_pb(adjustment.created_at)),
    }
}

pub fn dispute_to_pb(dispute: Dispute) -> pb::Dispute {
    pb::Dispute {
        id: dispute.id.to_string(),
        line_id: dispute.line_id.to_string(),
        comment: dispute.comment,
        status: match dispute.status {
            DisputeStatus::Open => pb::DisputeStatus::Open,
            DisputeStatus::Resolved => pb::DisputeStatus::Resolved,
        } as i32,
        resolution: dispute.resolution,
        raised_by: dispute.raised_by.to_string(),
        resolved_by: dispute
            .resolved_by
            .map(|a| a.to_string())
            .unwrap_or_default(),
        create_time: Some(timestamp_to_pb(dispute.created_at)),
    }
}
