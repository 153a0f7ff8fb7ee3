//! Commission lines, statements, recalculations and the audit trail in the proto shape, and the
//! statement statuses a request may ask for.

use proto::commissions as pb;

use super::adjustment::adjustment_to_pb;
use super::{period_kind_to_pb, timestamp_to_pb};
use crate::domain::audit::AuditEntry;
use crate::domain::engine::{Line, LineKind, Rule};
use crate::domain::statement::{Recalculation, Statement, Status, StoredLine};

fn line_kind_to_pb(kind: LineKind) -> pb::LineKind {
    match kind {
        LineKind::Commission => pb::LineKind::Commission,
        LineKind::RetroactiveTrueUp => pb::LineKind::RetroactiveTrueUp,
        LineKind::DealCap => pb::LineKind::DealCap,
        LineKind::PeriodCap => pb::LineKind::PeriodCap,
    }
}

/// An engine line (recalculated, not stored) in the proto shape.
pub fn engine_line_to_pb(line: Line, currency: &str) -> pb::Line {
    let one_based = |index: Option<u32>| index.map_or(0, |i| i32::try_from(i + 1).unwrap_or(0));
    pb::Line {
        deal_id: line.deal_id.to_string(),
        kind: line_kind_to_pb(line.kind) as i32,
        reversal: line.reversal,
        currency_code: currency.to_owned(),
        base_minor: line.base,
        rate_millionths: line.rate,
        multiplier_millionths: line.multiplier,
        tier: one_based(line.tier),
        band: one_based(line.band),
        amount_minor: line.amount,
        explanation: line.explanation,
        product_id: match line.rule {
            Rule::Product(product) => product.to_string(),
            Rule::Schedule | Rule::Pipeline(_) | Rule::Cap => String::new(),
        },
        ..Default::default()
    }
}

pub fn line_to_pb(stored: StoredLine) -> pb::Line {
    let currency = stored.currency.clone();
    pb::Line {
        id: stored.id.to_string(),
        participant_id: stored.participant_id.to_string(),
        plan_version_id: stored.plan_version_id.to_string(),
        credit_period_start: stored.period.start.to_string(),
        statement_period_start: stored.statement_period_start.to_string(),
        period: period_kind_to_pb(stored.period.kind) as i32,
        create_time: Some(timestamp_to_pb(stored.created_at)),
        ..engine_line_to_pb(stored.line, &currency)
    }
}

pub fn status_to_pb(status: Status) -> pb::StatementStatus {
    match status {
        Status::Draft => pb::StatementStatus::Draft,
        Status::Approved => pb::StatementStatus::Approved,
        Status::Paid => pb::StatementStatus::Paid,
    }
}

/// The status a request moves a statement to: approved or paid (a statement starts as draft).
pub fn status_from_pb(raw: i32) -> Result<Status, &'static str> {
    match pb::StatementStatus::try_from(raw) {
        Ok(pb::StatementStatus::Approved) => Ok(Status::Approved),
        Ok(pb::StatementStatus::Paid) => Ok(Status::Paid),
        _ => Err("must be STATEMENT_STATUS_APPROVED or STATEMENT_STATUS_PAID"),
    }
}

pub fn statement_to_pb(statement: Statement) -> pb::Statement {
    let (total, closing) = (statement.total(), statement.closing());
    pb::Statement {
        participant_id: statement.participant_id.to_string(),
        period: period_kind_to_pb(statement.period.kind) as i32,
        period_start: statement.period.start.to_string(),
        currency_code: statement.currency,
        status: status_to_pb(statement.status) as i32,
        earned_minor: statement.totals.earned,
        clawbacks_minor: statement.totals.clawbacks,
        total_minor: total,
        adjustments_minor: statement.adjusted,
        opening_balance_minor: statement.opening,
        closing_balance_minor: closing,
        adjustments: statement
            .adjustments
            .into_iter()
            .map(adjustment_to_pb)
            .collect(),
        lines: statement.lines.into_iter().map(line_to_pb).collect(),
    }
}

/// A recalculation; its lines are the engine's, not stored, so they carry no currency.
pub fn recalculation_to_pb(recalculation: Recalculation) -> pb::RecalculatePeriodResponse {
    pb::RecalculatePeriodResponse {
        stored_total_minor: recalculation.stored_total,
        recalculated_total_minor: recalculation.recalculated_total,
        matches: recalculation.matches,
        recalculated_lines: recalculation
            .lines
            .into_iter()
            .map(|l| engine_line_to_pb(l, ""))
            .collect(),
    }
}

pub fn audit_entry_to_pb(entry: AuditEntry) -> pb::AuditEntry {
    pb::AuditEntry {
        id: entry.id.to_string(),
        actor_id: entry.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        action: entry.action,
        subject_id: entry.subject_id.map(|s| s.to_string()).unwrap_or_default(),
        detail: entry.detail,
        occur_time: Some(timestamp_to_pb(entry.occurred_at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_moves_a_statement_only_to_approved_or_paid() {
        let parse = |s: pb::StatementStatus| status_from_pb(s as i32);
        assert_eq!(parse(pb::StatementStatus::Approved), Ok(Status::Approved));
        assert_eq!(parse(pb::StatementStatus::Paid), Ok(Status::Paid));
        assert!(parse(pb::StatementStatus::Draft).is_err());
        assert!(parse(pb::StatementStatus::Unspecified).is_err());
        for status in [Status::Draft, Status::Approved, Status::Paid] {
            assert_ne!(status_to_pb(status), pb::StatementStatus::Unspecified);
        }
    }
}
