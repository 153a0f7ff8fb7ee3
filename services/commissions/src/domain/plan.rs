//! Commission plans: the rules of one plan version, validated once when the version is created
//! so the engine never re-checks them.
//!
//! - **Schedule**: a flat rate, or tiers over the participant's credited bookings in the period.
//!   Tiers are half-open ranges `[from, to)` of cumulative bookings that must start at 0, touch
//!   each other (no gap, no overlap) and end open. *Graduated* tiers rate each part of the
//!   bookings at its own tier (tax brackets); *retroactive* tiers rate all bookings of the period
//!   at the tier the cumulative total has reached (reaching exactly `from` counts as reached).
//! - **Multiplier bands** over quota attainment: band `i` applies from `from_basis_points` of
//!   quota (10 000 = 100 %) up to the next band. A multiplier above ×1 is an accelerator, below a
//!   decelerator. Without a quota for the period no multiplier applies.
//! - **Pipeline rates**: deals of these pipelines are rated flat at their own rate instead of the
//!   schedule (they still count toward attainment and tiers).
//! - **Product rates**: the products of a won deal (its accepted quote's lines) with a product
//!   rate earn it on their net amounts; the rest of the deal amount is rated as usual. They count
//!   toward attainment and tiers as pipeline-rated bookings do.
//! - **Caps**: the commission of one deal, and of one period, never exceed the cap.
//! - **Currency**: the plan's currency; a deal in another currency is converted with the
//!   tenant's exchange-rate table at the rates in force on its close date. Without a rate in
//!   force the deal is refused (recorded in the audit log, no line) rather than converted at a
//!   guessed rate.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::money::{MILLION, Minor};
use super::period::PeriodKind;
use super::violations::Violations;

/// Highest rate: 100 % of the bookings.
pub const MAX_RATE: i64 = MILLION;
/// Highest multiplier: ×10.
pub const MAX_MULTIPLIER: i64 = 10 * MILLION;
pub const MAX_TIERS: usize = 20;
pub const MAX_BANDS: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierMode {
    Graduated,
    Retroactive,
}

impl TierMode {
    pub fn name(self) -> &'static str {
        match self {
            TierMode::Graduated => "graduated",
            TierMode::Retroactive => "retroactive",
        }
    }
}

/// Bookings in `[from, to)` (minor units, cumulative in the period); `to: None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub from: Minor,
    pub to: Option<Minor>,
    /// Millionths of the bookings.
    pub rate: i64,
}

impl Tier {
    pub fn contains(&self, amount: Minor) -> bool {
        amount >= self.from && self.to.is_none_or(|to| amount < to)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    Flat { rate: i64 },
    Tiered { mode: TierMode, tiers: Vec<Tier> },
}

/// A multiplier from `from_basis_points` of quota attainment up to the next band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    pub from_basis_points: i64,
    pub multiplier: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRate {
    pub pipeline_id: Uuid,
    pub rate: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRate {
    pub product_id: Uuid,
    pub rate: i64,
}

/// The rules of one plan version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// ISO 4217 code; deal amounts must be in it.
    pub currency: String,
    /// Decimal places of the currency's minor unit (2 for USD).
    pub decimals: u32,
    pub period: PeriodKind,
    /// Month (1–12) the fiscal year starts in; quarters and years align to it.
    pub fiscal_year_start_month: u32,
    pub schedule: Schedule,
    /// Empty: no multipliers.
    pub bands: Vec<Band>,
    pub pipeline_rates: Vec<PipelineRate>,
    /// Versions stored before product rates existed have none.
    #[serde(default)]
    pub product_rates: Vec<ProductRate>,
    pub deal_cap: Option<Minor>,
    pub period_cap: Option<Minor>,
}

impl Rules {
    /// Checks every rule, naming each bad field (paths relative to the plan version).
    pub fn validate(&self) -> Result<(), Vec<super::FieldViolation>> {
        let mut v = Violations::new();
        if iso_currency::Currency::from_code(&self.currency).is_none() {
            v.add("currency_code", "must be an ISO 4217 currency code");
        }
        if !(1..=12).contains(&self.fiscal_year_start_month) {
            v.add("fiscal_year_start_month", "must be between 1 and 12");
        }
        match &self.schedule {
            Schedule::Flat { rate } => check_rate(&mut v, "flat_rate_millionths", *rate),
            Schedule::Tiered { tiers, .. } => check_tiers(&mut v, tiers),
        }
        check_bands(&mut v, &self.bands);
        for (i, p) in self.pipeline_rates.iter().enumerate() {
            check_rate(
                &mut v,
                &format!("pipeline_rates[{i}].rate_millionths"),
                p.rate,
            );
            if self.pipeline_rates[..i]
                .iter()
                .any(|q| q.pipeline_id == p.pipeline_id)
            {
                v.add(
                    format!("pipeline_rates[{i}].pipeline_id"),
                    "appears more than once",
                );
            }
        }
        for (i, p) in self.product_rates.iter().enumerate() {
            check_rate(
                &mut v,
                &format!("product_rates[{i}].rate_millionths"),
                p.rate,
            );
            if self.product_rates[..i]
                .iter()
                .any(|q| q.product_id == p.product_id)
            {
                v.add(
                    format!("product_rates[{i}].product_id"),
                    "appears more than once",
                );
            }
        }
        for (field, cap) in [
            ("deal_cap_minor", self.deal_cap),
            ("period_cap_minor", self.period_cap),
        ] {
            if cap.is_some_and(|c| c < 0) {
                v.add(field, "must not be negative");
            }
        }
        v.finish()
    }

    /// The rate rule a deal of `pipeline_id` falls under.
    pub fn pipeline_rate(&self, pipeline_id: Option<Uuid>) -> Option<PipelineRate> {
        let pipeline_id = pipeline_id?;
        self.pipeline_rates
            .iter()
            .copied()
            .find(|p| p.pipeline_id == pipeline_id)
    }
}

impl Rules {
    /// The product rate of `product_id`, if the plan has one.
    pub fn product_rate(&self, product_id: Uuid) -> Option<ProductRate> {
        self.product_rates
            .iter()
            .copied()
            .find(|p| p.product_id == product_id)
    }
}

fn check_rate(v: &mut Violations, field: &str, rate: i64) {
    if rate < 0 {
        v.add(field, "must not be negative");
    } else if rate > MAX_RATE {
        v.add(field, "must be at most 100%");
    }
}

fn check_tiers(v: &mut Violations, tiers: &[Tier]) {
    if tiers.is_empty() {
        v.add("tiers", "at least one tier is required");
        return;
    }
    if tiers.len() > MAX_TIERS {
        v.add("tiers", format!("at most {MAX_TIERS} tiers"));
        return;
    }
    for (i, tier) in tiers.iter().enumerate() {
        check_rate(v, &format!("tiers[{i}].rate_millionths"), tier.rate);
        let expected_from = if i == 0 { Some(0) } else { tiers[i - 1].to };
        match expected_from {
            Some(expected) if tier.from < expected => v.add(
                format!("tiers[{i}].from_minor"),
                format!("overlaps the previous tier, which ends at {expected}"),
            ),
            Some(expected) if tier.from > expected => v.add(
                format!("tiers[{i}].from_minor"),
                if i == 0 {
                    "the first tier must start at 0".to_owned()
                } else {
                    format!("leaves a gap after the previous tier, which ends at {expected}")
                },
            ),
            Some(_) => {}
            None => v.add(
                format!("tiers[{}].to_minor", i - 1),
                "only the last tier may be open-ended",
            ),
        }
        match tier.to {
            Some(to) if to <= tier.from => {
                v.add(format!("tiers[{i}].to_minor"), "must be greater than from")
            }
            None | Some(_) => {}
        }
    }
    if tiers.last().is_some_and(|t| t.to.is_some()) {
        v.add(
            format!("tiers[{}].to_minor", tiers.len() - 1),
            "the last tier must be open-ended",
        );
    }
}

fn check_bands(v: &mut Violations, bands: &[Band]) {
    if bands.len() > MAX_BANDS {
        v.add("bands", format!("at most {MAX_BANDS} bands"));
        return;
    }
    for (i, band) in bands.iter().enumerate() {
        if i == 0 && band.from_basis_points != 0 {
            v.add(
                "bands[0].from_basis_points",
                "the first band must start at 0",
            );
        }
        if i > 0 && band.from_basis_points <= bands[i - 1].from_basis_points {
            v.add(
                format!("bands[{i}].from_basis_points"),
                "must be greater than the previous band's",
            );
        }
        if band.multiplier < 0 {
            v.add(
                format!("bands[{i}].multiplier_millionths"),
                "must not be negative",
            );
        } else if band.multiplier > MAX_MULTIPLIER {
            v.add(
                format!("bands[{i}].multiplier_millionths"),
                "must be at most 10",
            );
        }
    }
}

/// When a plan version applies: `[from, to)`; `to: None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
}

impl Effective {
    pub fn parse(from: NaiveDate, to: Option<NaiveDate>) -> Result<Self, &'static str> {
        if to.is_some_and(|to| to <= from) {
            return Err("must be after effective_from");
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        day >= self.from && self.to.is_none_or(|to| day < to)
    }

    pub fn overlaps(&self, other: &Effective) -> bool {
        let ends_after_other_starts = self.to.is_none_or(|to| to > other.from);
        let starts_before_other_ends = other.to.is_none_or(|to| self.from < to);
        ends_after_other_starts && starts_before_other_ends
    }
}

/// A plan version as stored: immutable once created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanVersion {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub version: i32,
    pub effective: Effective,
    pub participants: Vec<Uuid>,
    /// Built-in role names (`auth::BuiltinRole::as_str`) whose holders participate.
    pub roles: Vec<String>,
    pub rules: Rules,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// A version to add: validated rules, when, and for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub effective: Effective,
    pub participants: Vec<Uuid>,
    pub roles: Vec<String>,
    pub rules: Rules,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: Uuid,
    pub name: String,
    /// Oldest first.
    pub versions: Vec<PlanVersion>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rules(schedule: Schedule) -> Rules {
        Rules {
            currency: "USD".into(),
            decimals: 2,
            period: PeriodKind::Quarter,
            fiscal_year_start_month: 1,
            schedule,
            bands: vec![],
            pipeline_rates: vec![],
            product_rates: vec![],
            deal_cap: None,
            period_cap: None,
        }
    }

    fn tier(from: Minor, to: Option<Minor>, rate: i64) -> Tier {
        Tier { from, to, rate }
    }

    fn fields(rules: &Rules) -> Vec<String> {
        rules
            .validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn contiguous_open_ended_tiers_are_valid() {
        let ok = rules(Schedule::Tiered {
            mode: TierMode::Graduated,
            tiers: vec![tier(0, Some(100), 1), tier(100, None, 2)],
        });
        assert_eq!(fields(&ok), Vec::<String>::new());
    }

    #[test]
    fn overlapping_gapped_and_closed_tiers_are_refused() {
        for (tiers, expected) in [
            (
                vec![tier(0, Some(100), 1), tier(90, None, 2)],
                vec!["tiers[1].from_minor"],
            ),
            (
                vec![tier(0, Some(100), 1), tier(110, None, 2)],
                vec!["tiers[1].from_minor"],
            ),
            (vec![tier(5, None, 1)], vec!["tiers[0].from_minor"]),
            (vec![tier(0, Some(100), 1)], vec!["tiers[0].to_minor"]),
            (
                vec![tier(0, None, 1), tier(100, None, 2)],
                vec!["tiers[0].to_minor"],
            ),
            (
                vec![tier(0, Some(0), 1), tier(0, None, 1)],
                vec!["tiers[0].to_minor"],
            ),
            (vec![], vec!["tiers"]),
        ] {
            let plan = rules(Schedule::Tiered {
                mode: TierMode::Retroactive,
                tiers,
            });
            assert_eq!(fields(&plan), expected);
        }
    }

    #[test]
    fn negative_rates_multipliers_and_caps_are_refused() {
        let mut plan = rules(Schedule::Flat { rate: -1 });
        plan.bands = vec![Band {
            from_basis_points: 0,
            multiplier: -1,
        }];
        plan.deal_cap = Some(-5);
        plan.pipeline_rates = vec![PipelineRate {
            pipeline_id: Uuid::nil(),
            rate: -3,
        }];
        assert_eq!(
            fields(&plan),
            [
                "flat_rate_millionths",
                "bands[0].multiplier_millionths",
                "pipeline_rates[0].rate_millionths",
                "deal_cap_minor"
            ]
        );
    }

    #[test]
    fn product_rates_are_non_negative_at_most_full_and_once_per_product() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut plan = rules(Schedule::Flat { rate: 1 });
        plan.product_rates = vec![
            ProductRate {
                product_id: a,
                rate: 100_000,
            },
            ProductRate {
                product_id: b,
                rate: -1,
            },
            ProductRate {
                product_id: a,
                rate: MAX_RATE + 1,
            },
        ];
        assert_eq!(
            fields(&plan),
            [
                "product_rates[1].rate_millionths",
                "product_rates[2].rate_millionths",
                "product_rates[2].product_id"
            ]
        );
        assert_eq!(plan.product_rate(a).map(|p| p.rate), Some(100_000));
        assert_eq!(plan.product_rate(Uuid::from_u128(3)), None);
    }

    #[test]
    fn versions_stored_before_product_rates_read_as_having_none() {
        let mut stored = serde_json::to_value(rules(Schedule::Flat { rate: 1 })).expect("json");
        stored
            .as_object_mut()
            .expect("object")
            .remove("product_rates");
        let read: Rules = serde_json::from_value(stored).expect("old rules still read");
        assert!(read.product_rates.is_empty());
    }

    #[test]
    fn bands_start_at_zero_and_increase() {
        let mut plan = rules(Schedule::Flat { rate: 1 });
        plan.bands = vec![
            Band {
                from_basis_points: 100,
                multiplier: MILLION,
            },
            Band {
                from_basis_points: 100,
                multiplier: MILLION,
            },
        ];
        assert_eq!(
            fields(&plan),
            ["bands[0].from_basis_points", "bands[1].from_basis_points"]
        );
    }

    #[test]
    fn effective_ranges_overlap_when_they_share_a_day() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("date");
        let q1 = Effective::parse(d(1, 1), Some(d(4, 1))).expect("valid");
        let q2 = Effective::parse(d(4, 1), None).expect("valid");
        assert!(!q1.overlaps(&q2) && !q2.overlaps(&q1));
        let march = Effective::parse(d(3, 1), Some(d(3, 2))).expect("valid");
        assert!(q1.overlaps(&march) && march.overlaps(&q1));
        assert!(Effective::parse(d(2, 1), Some(d(2, 1))).is_err());
        assert!(q1.contains(d(3, 31)) && !q1.contains(d(4, 1)));
    }
}
