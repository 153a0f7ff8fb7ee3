//! Plans and their versions: a requested version parsed into the domain's rules (every bad
//! field named), and plans and versions in the proto shape.

use proto::commissions as pb;
use uuid::Uuid;

use super::{day_from_pb, period_kind_from_pb, period_kind_to_pb, timestamp_to_pb};
use crate::domain::FieldViolation;
use crate::domain::plan::{
    Band, Effective, NewVersion, PipelineRate, Plan, PlanVersion, ProductRate, Rules, Schedule,
    Tier, TierMode,
};
use crate::domain::violations::Violations;

/// Most participants one version may name.
pub const MAX_PARTICIPANTS: usize = 1_000;

/// A version from the request; violations are named relative to the version message.
pub fn new_version_from_pb(version: &pb::PlanVersion) -> Result<NewVersion, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let from = v.check("effective_from", day_from_pb(&version.effective_from));
    let to = if version.effective_to.is_empty() {
        Some(None)
    } else {
        v.check("effective_to", day_from_pb(&version.effective_to))
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
    let period = v.check("period", period_kind_from_pb(version.period));
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
        _ => Err(vec![FieldViolation::new("version", "is invalid")]),
    }
}

pub fn version_to_pb(version: PlanVersion) -> pb::PlanVersion {
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
        period: period_kind_to_pb(rules.period) as i32,
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
        create_time: Some(timestamp_to_pb(version.created_at)),
        created_by: version.created_by.to_string(),
    }
}

pub fn plan_to_pb(plan: Plan) -> pb::Plan {
    pb::Plan {
        id: plan.id.to_string(),
        name: plan.name,
        versions: plan.versions.into_iter().map(version_to_pb).collect(),
        create_time: Some(timestamp_to_pb(plan.created_at)),
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

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;

    fn tiered() -> pb::PlanVersion {
        pb::PlanVersion {
            effective_from: "2026-01-01".into(),
            effective_to: "2027-01-01".into(),
            participant_ids: vec![Uuid::now_v7().to_string()],
            participant_roles: vec!["ROLE_MANAGER".into()],
            currency_code: "EUR".into(),
            period: pb::PeriodKind::Quarter as i32,
            fiscal_year_start_month: 4,
            tier_mode: pb::TierMode::Graduated as i32,
            tiers: vec![
                pb::Tier {
                    from_minor: 0,
                    to_minor: 1_000_000,
                    rate_millionths: 50_000,
                },
                pb::Tier {
                    from_minor: 1_000_000,
                    to_minor: 0,
                    rate_millionths: 80_000,
                },
            ],
            bands: vec![
                pb::Band {
                    from_basis_points: 0,
                    multiplier_millionths: 1_000_000,
                },
                pb::Band {
                    from_basis_points: 10_000,
                    multiplier_millionths: 1_500_000,
                },
            ],
            pipeline_rates: vec![pb::PipelineRate {
                pipeline_id: Uuid::now_v7().to_string(),
                rate_millionths: 30_000,
            }],
            deal_cap_minor: 5_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn a_version_renders_back_as_it_was_requested() {
        let requested = tiered();
        let parsed = new_version_from_pb(&requested).expect("valid");
        assert_eq!(
            parsed.effective,
            Effective {
                from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
                to: NaiveDate::from_ymd_opt(2027, 1, 1),
            }
        );
        // An open-ended last tier is `to_minor: 0` on the wire and `None` in the domain.
        assert!(matches!(
            &parsed.rules.schedule,
            Schedule::Tiered { mode: TierMode::Graduated, tiers } if tiers[1].to.is_none()
        ));
        assert_eq!(parsed.rules.decimals, 2);
        let (id, plan_id, by) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let rendered = version_to_pb(PlanVersion {
            id,
            plan_id,
            version: 1,
            effective: parsed.effective,
            participants: parsed.participants,
            roles: parsed.roles,
            rules: parsed.rules,
            created_by: by,
            created_at: Utc::now(),
        });
        assert_eq!(
            pb::PlanVersion {
                id: String::new(),
                plan_id: String::new(),
                version: 0,
                create_time: None,
                created_by: String::new(),
                ..rendered
            },
            requested
        );
    }

    #[test]
    fn bad_ids_and_a_missing_mode_are_named_by_position() {
        let bad = pb::PlanVersion {
            participant_ids: vec!["p".into()],
            participant_roles: vec!["ROLE_ADMIN".into(), "ROLE_ADMIN".into()],
            tier_mode: pb::TierMode::Unspecified as i32,
            pipeline_rates: vec![
                pb::PipelineRate {
                    pipeline_id: Uuid::now_v7().to_string(),
                    rate_millionths: 1,
                },
                pb::PipelineRate {
                    pipeline_id: "pipe".into(),
                    rate_millionths: 1,
                },
            ],
            ..tiered()
        };
        let fields: Vec<String> = new_version_from_pb(&bad)
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "participant_ids[0]",
                "participant_roles[1]",
                "tier_mode",
                "pipeline_rates[1].pipeline_id",
            ]
        );
    }
}
