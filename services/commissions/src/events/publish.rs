//! Builders of the events commissions publishes, written to the outbox in the transaction of the
//! change. Routing keys follow `commissions.<entity>.<event>`.

use events::NewEvent;
use proto::commissions as pb;
use uuid::Uuid;

use crate::convert::{
    adjustment_to_pb, dispute_to_pb, engine_line_to_pb, period_kind_to_pb, status_to_pb,
    version_to_pb,
};
use crate::domain::adjustment::{Adjustment, Dispute};
use crate::domain::engine::Line;
use crate::domain::period::Period;
use crate::domain::plan::PlanVersion;
use crate::domain::quota::Quota;
use crate::domain::statement::Status;

pub type Result<T> = std::result::Result<T, events::Error>;

/// `commissions.line.recorded`.
pub fn lines_recorded(
    tenant_id: Uuid,
    participant: Uuid,
    deal_id: Uuid,
    currency: &str,
    lines: &[Line],
    cause: Uuid,
) -> Result<NewEvent> {
    let payload = pb::LinesRecorded {
        participant_id: participant.to_string(),
        deal_id: deal_id.to_string(),
        total_minor: lines.iter().map(|l| l.amount).sum(),
        lines: lines
            .iter()
            .map(|l| pb::Line {
                participant_id: participant.to_string(),
                ..engine_line_to_pb(l.clone(), currency)
            })
            .collect(),
        cause_event_id: cause.to_string(),
    };
    NewEvent::new(
        "commissions.line.recorded",
        tenant_id,
        "participant",
        participant,
        &payload,
    )
}

/// `commissions.plan_version.created`.
pub fn plan_version_created(
    tenant_id: Uuid,
    actor: Uuid,
    version: &PlanVersion,
) -> Result<NewEvent> {
    NewEvent::new(
        "commissions.plan_version.created",
        tenant_id,
        "plan",
        version.plan_id,
        &pb::PlanVersionCreated {
            version: Some(version_to_pb(version.clone())),
            actor_id: actor.to_string(),
        },
    )
}

/// `commissions.plan_version.ended`.
pub fn plan_version_ended(tenant_id: Uuid, actor: Uuid, version: &PlanVersion) -> Result<NewEvent> {
    NewEvent::new(
        "commissions.plan_version.ended",
        tenant_id,
        "plan",
        version.plan_id,
        &pb::PlanVersionEnded {
            version: Some(version_to_pb(version.clone())),
            actor_id: actor.to_string(),
        },
    )
}

/// `commissions.statement.approved` or `commissions.statement.paid`.
pub fn statement_status_changed(
    tenant_id: Uuid,
    actor: Uuid,
    participant: Uuid,
    period: Period,
    status: Status,
) -> Result<NewEvent> {
    NewEvent::new(
        &format!("commissions.statement.{}", status.as_str()),
        tenant_id,
        "participant",
        participant,
        &pb::StatementStatusChanged {
            participant_id: participant.to_string(),
            period: period_kind_to_pb(period.kind) as i32,
            period_start: period.start.to_string(),
            status: status_to_pb(status) as i32,
            actor_id: actor.to_string(),
        },
    )
}

/// `commissions.adjustment.created` or `commissions.adjustment.approved`.
pub fn adjustment_changed(
    tenant_id: Uuid,
    actor: Uuid,
    verb: &str,
    adjustment: &Adjustment,
) -> Result<NewEvent> {
    NewEvent::new(
        &format!("commissions.adjustment.{verb}"),
        tenant_id,
        "participant",
        adjustment.participant_id,
        &pb::AdjustmentChanged {
            adjustment: Some(adjustment_to_pb(adjustment.clone())),
            actor_id: actor.to_string(),
        },
    )
}

/// `commissions.dispute.resolved`, naming the participant and the statement the disputed line
/// landed in.
pub fn dispute_resolved(
    tenant_id: Uuid,
    actor: Uuid,
    participant: Uuid,
    statement: Period,
    dispute: &Dispute,
) -> Result<NewEvent> {
    NewEvent::new(
        "commissions.dispute.resolved",
        tenant_id,
        "participant",
        participant,
        &pb::DisputeResolved {
            dispute: Some(dispute_to_pb(dispute.clone())),
            participant_id: participant.to_string(),
            period: period_kind_to_pb(statement.kind) as i32,
            period_start: statement.start.to_string(),
            actor_id: actor.to_string(),
        },
    )
}

/// `commissions.quota.set`.
pub fn quota_set(tenant_id: Uuid, quota: &Quota) -> Result<NewEvent> {
    let payload = pb::QuotaSet {
        quota: Some(pb::Quota {
            user_id: quota.user_id.to_string(),
            period: period_kind_to_pb(quota.period.kind) as i32,
            period_start: quota.period.start.to_string(),
            currency_code: quota.currency.clone(),
            amount_minor: quota.amount,
            fiscal_year_start_month: 0,
        }),
        period_end: quota.period.end().to_string(),
    };
    NewEvent::new(
        "commissions.quota.set",
        tenant_id,
        "quota",
        quota_key(quota.user_id, quota.period),
        &payload,
    )
}

/// `commissions.quota.deleted`.
pub fn quota_deleted(tenant_id: Uuid, user_id: Uuid, period: Period) -> Result<NewEvent> {
    let payload = pb::QuotaDeleted {
        user_id: user_id.to_string(),
        period: period_kind_to_pb(period.kind) as i32,
        period_start: period.start.to_string(),
    };
    NewEvent::new(
        "commissions.quota.deleted",
        tenant_id,
        "quota",
        quota_key(user_id, period),
        &payload,
    )
}

/// The aggregate of a quota event: `<user>/<kind>/<start>`.
fn quota_key(user_id: Uuid, period: Period) -> String {
    format!("{user_id}/{}/{}", period.kind.as_str(), period.start)
}
