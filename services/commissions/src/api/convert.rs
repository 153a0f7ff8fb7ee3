//! Proto ↔ domain conversions.

use chrono::{DateTime, Utc};
use proto::commissions as pb;
use uuid::Uuid;

use super::{parse_day, period_kind};
use crate::domain::engine::{LineKind, Rule};
use crate::domain::period::PeriodKind;
use crate::domain::plan::{
    Band, Effective, NewVersion, PipelineRate, Plan, PlanVersion, ProductRate, Rules, Schedule,
    Tier, TierMode,
};
use crate::domain::statement::Status;
use crate::domain::violations::Violations;
use crate::store::{Statement, StoredLine};

pub const MAX_PARTICIPANTS: usize = 1_000;

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A version from the request; violations are named relative to the version message.
pub fn new_version(
    version: &pb::PlanVersion,
) -> Result<NewVersion, Vec<crate::domain::FieldViolation>> {
    let mut v = Violations::new();
    let from = v.check("effective_from", parse_day(&version.effective_from));
    let to = if version.effective_to.is_empty() {
        Some(None)
    } else {
        v.check("effective_to", parse_day(&version.effective_to))
            .map(Some)
    };
    let effective = match (from, to) {
        (Some(from), Some(to)) => v.check("effective_to", Effective::parse(from, to)),
        _ => None,
    };
    let mut participants = Vec::new();
    if version.participant_ids.is_empty() && version.participant_roles.is_empty() {
        v.add(
            "participant_ids",
            "at least one participant or participant role is required",
        );
    } else if version.participant_ids.len() > MAX_PARTICIPANTS {
        v.add("participant_ids", format!("at most {MAX_PARTICIPANTS}"));
    }
    for (i, raw) in version.participant_ids.iter().enumerate() {
        match Uuid::parse_str(raw) {
            Ok(id) if participants.contains(&id) => {
                v.add(format!("participant_ids[{i}]"), "appears more than once")
            }
            Ok(id) => participants.push(id),
            Err(_) => v.add(format!("participant_ids[{i}]"), "must be a UUID"),
        }
    }
    let mut roles: Vec<String> = Vec::new();
    for (i, raw) in version.participant_roles.iter().enumerate() {
        match auth::BuiltinRole::parse(raw) {
            Some(role) if roles.iter().any(|r| r == role.as_str()) => {
                v.add(format!("participant_roles[{i}]"), "appears more than once")
            }
            Some(role) => roles.push(role.as_str().to_owned()),
            None => v.add(
                format!("participant_roles[{i}]"),
                "must be ROLE_ADMIN, ROLE_MANAGER, ROLE_SALES_REP or ROLE_SUPPORT",
            ),
        }
    }
    let period = v.check("period", period_kind(version.period));
    let fiscal = if version.fiscal_year_start_month == 0 {
        1
    } else {
        u32::try_from(version.fiscal_year_start_month).unwrap_or(0)
    };
    let schedule = match (
        version.tiers.is_empty(),
        pb::TierMode::try_from(version.tier_mode),
    ) {
        (true, Ok(pb::TierMode::Unspecified)) => Some(Schedule::Flat {
            rate: version.flat_rate_millionths,
        }),
        (_, Ok(mode @ (pb::TierMode::Graduated | pb::TierMode::Retroactive))) => {
            if version.flat_rate_millionths != 0 {
                v.add(
                    "flat_rate_millionths",
                    "set either a flat rate or tiers, not both",
                );
            }
            Some(Schedule::Tiered {
                mode: if mode == pb::TierMode::Graduated {
                    TierMode::Graduated
                } else {
                    TierMode::Retroactive
                },
                tiers: version
                    .tiers
                    .iter()
                    .map(|t| Tier {
                        from: t.from_minor,
                        to: (t.to_minor != 0).then_some(t.to_minor),
                        rate: t.rate_millionths,
                    })
                    .collect(),
            })
        }
        _ => {
            v.add(
                "tier_mode",
                "tiers need TIER_MODE_GRADUATED or TIER_MODE_RETROACTIVE",
            );
            None
        }
    };
    let pipeline_rates = parse_rates(
        &mut v,
        "pipeline_rates",
        "pipeline_id",
        version
            .pipeline_rates
            .iter()
            .map(|p| (p.pipeline_id.as_str(), p.rate_millionths)),
        |pipeline_id, rate| PipelineRate { pipeline_id, rate },
    );
    let product_rates = parse_rates(
        &mut v,
        "product_rates",
        "product_id",
        version
            .product_rates
            .iter()
            .map(|p| (p.product_id.as_str(), p.rate_millionths)),
        |product_id, rate| ProductRate { product_id, rate },
    );
    let decimals = iso_currency::Currency::from_code(&version.currency_code)
        .and_then(|c| c.exponent())
        .map_or(0, u32::from);
    let cap = |value: i64| (value != 0).then_some(value);
    let rules = match (period, schedule) {
        (Some(period), Some(schedule)) => Some(Rules {
            currency: version.currency_code.clone(),
            decimals,
            period,
            fiscal_year_start_month: fiscal,
            schedule,
            bands: version
                .bands
                .iter()
                .map(|b| Band {
                    from_basis_points: b.from_basis_points,
                    multiplier: b.multiplier_millionths,
                })
                .collect(),
            pipeline_rates,
            product_rates,
            deal_cap: cap(version.deal_cap_minor),
            period_cap: cap(version.period_cap_minor),
        }),
        _ => None,
    };
    if let Some(rules) = &rules
        && let Err(violations) = rules.validate()
    {
        v.extend(violations);
    }
    v.finish()?;
    match (effective, rules) {
        (Some(effective), Some(rules)) => Ok(NewVersion {
            effective,
            participants,
            roles,
            rules,
        }),
        _ => Err(vec![crate::domain::FieldViolation::new(
            "version",
            "is invalid",
        )]),
    }
}

pub fn period(kind: PeriodKind) -> pb::PeriodKind {
    match kind {
        PeriodKind::Month => pb::PeriodKind::Month,
        PeriodKind::Quarter => pb::PeriodKind::Quarter,
        PeriodKind::Year => pb::PeriodKind::Year,
    }
}

pub fn version(version: PlanVersion) -> pb::PlanVersion {
    let rules = version.rules;
    let (flat, mode, tiers) = match rules.schedule {
        Schedule::Flat { rate } => (rate, pb::TierMode::Unspecified, vec![]),
        Schedule::Tiered { mode, tiers } => (
            0,
            match mode {
                TierMode::Graduated => pb::TierMode::Graduated,
                TierMode::Retroactive => pb::TierMode::Retroactive,
            },
            tiers
                .into_iter()
                .map(|t| pb::Tier {
                    from_minor: t.from,
                    to_minor: t.to.unwrap_or(0),
                    rate_millionths: t.rate,
                })
                .collect(),
        ),
    };
    pb::PlanVersion {
        id: version.id.to_string(),
        plan_id: version.plan_id.to_string(),
        version: version.version,
        effective_from: version.effective.from.to_string(),
        effective_to: version
            .effective
            .to
            .map(|d| d.to_string())
            .unwrap_or_default(),
        participant_ids: version.participants.iter().map(Uuid::to_string).collect(),
        participant_roles: version.roles.clone(),
        currency_code: rules.currency,
        period: period(rules.period) as i32,
        fiscal_year_start_month: i32::try_from(rules.fiscal_year_start_month).unwrap_or(1),
        flat_rate_millionths: flat,
        tier_mode: mode as i32,
        tiers,
        bands: rules
            .bands
            .into_iter()
            .map(|b| pb::Band {
                from_basis_points: b.from_basis_points,
                multiplier_millionths: b.multiplier,
            })
            .collect(),
        pipeline_rates: rules
            .pipeline_rates
            .into_iter()
            .map(|p| pb::PipelineRate {
                pipeline_id: p.pipeline_id.to_string(),
                rate_millionths: p.rate,
            })
            .collect(),
        product_rates: rules
            .product_rates
            .into_iter()
            .map(|p| pb::ProductRate {
                product_id: p.product_id.to_string(),
                rate_millionths: p.rate,
            })
            .collect(),
        deal_cap_minor: rules.deal_cap.unwrap_or(0),
        period_cap_minor: rules.period_cap.unwrap_or(0),
        create_time: Some(timestamp(version.created_at)),
        created_by: version.created_by.to_string(),
    }
}

pub fn plan(plan: Plan) -> pb::Plan {
    pb::Plan {
        id: plan.id.to_string(),
        name: plan.name,
        versions: plan.versions.into_iter().map(version).collect(),
        create_time: Some(timestamp(plan.created_at)),
    }
}

fn line_kind(kind: LineKind) -> pb::LineKind {
    match kind {
        LineKind::Commission => pb::LineKind::Commission,
        LineKind::RetroactiveTrueUp => pb::LineKind::RetroactiveTrueUp,
        LineKind::DealCap => pb::LineKind::DealCap,
        LineKind::PeriodCap => pb::LineKind::PeriodCap,
    }
}

/// An engine line (recalculated, not stored) in the proto shape.
pub fn engine_line(line: crate::domain::engine::Line, currency: &str) -> pb::Line {
    let one_based = |index: Option<u32>| index.map_or(0, |i| i32::try_from(i + 1).unwrap_or(0));
    pb::Line {
        deal_id: line.deal_id.to_string(),
        kind: line_kind(line.kind) as i32,
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

pub fn line(stored: StoredLine) -> pb::Line {
    let currency = stored.currency.clone();
    pb::Line {
        id: stored.id.to_string(),
        participant_id: stored.participant_id.to_string(),
        plan_version_id: stored.plan_version_id.to_string(),
        credit_period_start: stored.period.start.to_string(),
        statement_period_start: stored.statement_period_start.to_string(),
        period: period(stored.period.kind) as i32,
        create_time: Some(timestamp(stored.created_at)),
        ..engine_line(stored.line, &currency)
    }
}

pub fn status(status: Status) -> pb::StatementStatus {
    match status {
        Status::Draft => pb::StatementStatus::Draft,
        Status::Approved => pb::StatementStatus::Approved,
        Status::Paid => pb::StatementStatus::Paid,
    }
}

pub fn statement(statement: Statement) -> pb::Statement {
    let (total, closing) = (statement.total(), statement.closing());
    pb::Statement {
        participant_id: statement.participant_id.to_string(),
        period: period(statement.period.kind) as i32,
        period_start: statement.period.start.to_string(),
        currency_code: statement.currency,
        status: status(statement.status) as i32,
        earned_minor: statement.totals.earned,
        clawbacks_minor: statement.totals.clawbacks,
        total_minor: total,
        adjustments_minor: statement.adjusted,
        opening_balance_minor: statement.opening,
        closing_balance_minor: closing,
        adjustments: statement.adjustments.into_iter().map(adjustment).collect(),
        lines: statement.lines.into_iter().map(line).collect(),
    }
}

pub fn adjustment(adjustment: crate::domain::adjustment::Adjustment) -> pb::Adjustment {
    use crate::domain::adjustment::AdjustmentStatus;
    pb::Adjustment {
        id: adjustment.id.to_string(),
        participant_id: adjustment.participant_id.to_string(),
        period: period(adjustment.period.kind) as i32,
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
        create_time: Some(timestamp(adjustment.created_at)),
    }
}

pub fn dispute(dispute: crate::domain::adjustment::Dispute) -> pb::Dispute {
    use crate::domain::adjustment::DisputeStatus;
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
        create_time: Some(timestamp(dispute.created_at)),
    }
}

/// `(id, rate)` entries of a rate list, each bad id a violation on `<list>[i].<id_field>`. The
/// rules check names entries by index, so while any id is bad the list is left empty and the
/// rates are checked once every id parses (a dropped entry would shift the later indices).
fn parse_rates<'a, R, T>(
    v: &mut Violations,
    list: &str,
    id_field: &str,
    entries: impl Iterator<Item = (&'a str, R)>,
    build: impl Fn(Uuid, R) -> T,
) -> Vec<T> {
    let mut parsed = Vec::new();
    let mut all_parsed = true;
    for (i, (id, rate)) in entries.enumerate() {
        match Uuid::parse_str(id) {
            Ok(id) => parsed.push(build(id, rate)),
            Err(_) => {
                v.add(format!("{list}[{i}].{id_field}"), "must be a UUID");
                all_parsed = false;
            }
        }
    }
    if !all_parsed {
        parsed.clear();
    }
    parsed
}
