//! The estimator: what a deal would pay a participant if it closed now. It runs the engine's own
//! [`engine::calculate`] on the period as it stands, so an estimate and the lines a win later
//! writes agree (as long as nothing else lands in the period first). Pure: the store supplies the
//! plan version, the period's lines and the quota.

use chrono::NaiveDate;
use uuid::Uuid;

use super::engine::{self, Credit, Line, PeriodState};
use super::money::{Minor, split};
use super::period::Period;
use super::plan::PlanVersion;
use super::statement::Attainment;

/// An open deal as the CRM last described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDeal {
    pub deal_id: Uuid,
    /// Currency code and amount in its minor units; `None` when the deal has no amount yet.
    pub amount: Option<(String, Minor)>,
    /// Credited users and percents (owner at 100 when the deal has no splits).
    pub splits: Vec<(Uuid, u32)>,
    pub pipeline_id: Option<Uuid>,
}

impl OpenDeal {
    /// `participant`'s share of `amount` by the deal's splits (the same rounding as a win);
    /// `None` when the deal does not credit them.
    pub fn share_of(&self, participant: Uuid, amount: Minor) -> Option<Minor> {
        let percents: Vec<u32> = self.splits.iter().map(|(_, p)| *p).collect();
        let index = self.splits.iter().position(|(u, _)| *u == participant)?;
        split(amount, &percents).get(index).copied()
    }
}

/// What to estimate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An open deal crediting the participant, at its own amount or this one (currency, minor).
    Deal {
        deal_id: Uuid,
        amount: Option<(String, Minor)>,
    },
    /// A credit of this amount, rated by the pipeline's rate if the plan has one.
    Amount {
        currency: String,
        amount: Minor,
        pipeline_id: Option<Uuid>,
    },
}

/// An estimate request: whose, what and the day the deal would close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateRequest {
    pub participant: Uuid,
    pub subject: Subject,
    pub close_date: NaiveDate,
}

/// What to estimate: the participant's credit under one plan version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstimateInput {
    pub version: PlanVersion,
    /// The period the deal would count toward.
    pub period: Period,
    pub quota: Option<Minor>,
    /// The period's lines so far, folded.
    pub state: PeriodState,
    pub credit: Credit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub participant_id: Uuid,
    pub plan_id: Uuid,
    pub plan_version_id: Uuid,
    pub currency: String,
    pub period: Period,
    pub credited: Minor,
    /// What the win would write.
    pub lines: Vec<Line>,
    pub commission: Minor,
    pub before: Attainment,
    pub after: Attainment,
}

/// Rates the credit on top of the period so far, exactly as a win would.
pub fn estimate(participant: Uuid, input: EstimateInput) -> Estimate {
    let rules = &input.version.rules;
    let lines = engine::calculate(rules, input.quota, &input.state, &input.credit);
    let mut after = input.state.clone();
    for line in &lines {
        after.apply(line);
    }
    // Attainment only: the period's pace is not what an estimate is about.
    let measure = |attained| Attainment::measure(attained, input.quota, 0, 0);
    Estimate {
        participant_id: participant,
        plan_id: input.version.plan_id,
        plan_version_id: input.version.id,
        currency: rules.currency.clone(),
        period: input.period,
        credited: input.credit.credited,
        commission: lines.iter().map(|l| l.amount).sum(),
        lines,
        before: measure(input.state.attained),
        after: measure(after.attained),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::domain::engine::{LineKind, Rule};
    use crate::domain::period::PeriodKind;
    use crate::domain::plan::{Band, Effective, Rules, Schedule, Tier, TierMode};

    /// 1.00 in cents.
    const UNIT: Minor = 100;

    /// 5 % up to 100 000, 8 % above.
    fn graduated() -> Rules {
        Rules {
            currency: "USD".into(),
            decimals: 2,
            period: PeriodKind::Quarter,
            fiscal_year_start_month: 1,
            schedule: Schedule::Tiered {
                mode: TierMode::Graduated,
                tiers: vec![
                    Tier {
                        from: 0,
                        to: Some(100_000 * UNIT),
                        rate: 50_000,
                    },
                    Tier {
                        from: 100_000 * UNIT,
                        to: None,
                        rate: 80_000,
                    },
                ],
            },
            bands: vec![],
            pipeline_rates: vec![],
            product_rates: vec![],
            deal_cap: None,
            period_cap: None,
        }
    }

    fn version(rules: Rules) -> PlanVersion {
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        PlanVersion {
            id: Uuid::now_v7(),
            plan_id: Uuid::now_v7(),
            version: 1,
            effective: Effective { from, to: None },
            participants: vec![],
            roles: vec![],
            rules,
            created_by: Uuid::now_v7(),
            created_at: Utc::now(),
        }
    }

    fn input(
        rules: Rules,
        attained: Minor,
        credited: Minor,
        quota: Option<Minor>,
    ) -> EstimateInput {
        let mut state = PeriodState::default();
        if attained > 0 {
            // An earlier win that filled the period so far.
            let earlier = Credit {
                deal_id: Uuid::now_v7(),
                credited: attained,
                pipeline_id: None,
                products: vec![],
            };
            for line in engine::calculate(&rules, quota, &state, &earlier) {
                state.apply(&line);
            }
        }
        EstimateInput {
            period: Period::containing(
                PeriodKind::Quarter,
                1,
                NaiveDate::from_ymd_opt(2026, 5, 10).expect("date"),
            ),
            version: version(rules),
            quota,
            state,
            credit: Credit {
                deal_id: Uuid::now_v7(),
                credited,
                pipeline_id: None,
                products: vec![],
            },
        }
    }

    #[test]
    fn a_deal_crossing_a_tier_pays_each_part_at_its_tier() {
        // 80 000 attained; a 50 000 deal: 20 000 at 5 % and 30 000 at 8 % = 1 000 + 2 400.
        let rep = Uuid::now_v7();
        let estimate = estimate(
            rep,
            input(
                graduated(),
                80_000 * UNIT,
                50_000 * UNIT,
                Some(200_000 * UNIT),
            ),
        );
        let pieces: Vec<(Option<u32>, Minor, Minor)> = estimate
            .lines
            .iter()
            .map(|l| (l.tier, l.base, l.amount))
            .collect();
        assert_eq!(
            pieces,
            [
                (Some(0), 20_000 * UNIT, 1_000 * UNIT),
                (Some(1), 30_000 * UNIT, 2_400 * UNIT)
            ]
        );
        assert_eq!(estimate.commission, 3_400 * UNIT);
        assert_eq!(estimate.credited, 50_000 * UNIT);
        assert_eq!(
            (estimate.before.attained, estimate.after.attained),
            (80_000 * UNIT, 130_000 * UNIT)
        );
        // 40 % of quota before, 65 % after.
        assert_eq!(
            (estimate.before.attainment, estimate.after.attainment),
            (4_000, 6_500)
        );
        assert_eq!(estimate.participant_id, rep);
        assert!(
            estimate
                .lines
                .iter()
                .all(|l| l.kind == LineKind::Commission && l.rule == Rule::Schedule && !l.reversal)
        );
    }

    #[test]
    fn an_accelerator_band_reached_by_the_deal_multiplies_the_part_above_it() {
        // Flat 10 %, ×2 from 100 % of a 100 000 quota; 90 000 attained, 20 000 deal.
        let rules = Rules {
            schedule: Schedule::Flat { rate: 100_000 },
            bands: vec![
                Band {
                    from_basis_points: 0,
                    multiplier: 1_000_000,
                },
                Band {
                    from_basis_points: 10_000,
                    multiplier: 2_000_000,
                },
            ],
            ..graduated()
        };
        let estimate = estimate(
            Uuid::now_v7(),
            input(rules, 90_000 * UNIT, 20_000 * UNIT, Some(100_000 * UNIT)),
        );
        // 10 000 at 10 % ×1 and 10 000 at 10 % ×2.
        assert_eq!(estimate.commission, 3_000 * UNIT);
        assert_eq!(estimate.after.attainment, 11_000);
    }

    #[test]
    fn without_a_quota_attainment_is_zero_but_the_commission_is_still_rated() {
        let estimate = estimate(Uuid::now_v7(), input(graduated(), 0, 10_000 * UNIT, None));
        assert_eq!(estimate.commission, 500 * UNIT);
        assert_eq!(
            (estimate.before.attainment, estimate.after.attainment),
            (0, 0)
        );
        assert_eq!(estimate.before.quota, 0);
    }

    #[test]
    fn a_split_deal_credits_each_owner_their_share_only() {
        let (a, b, stranger) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let deal = OpenDeal {
            deal_id: Uuid::now_v7(),
            amount: Some(("USD".into(), 100_001)),
            splits: vec![(a, 60), (b, 40)],
            pipeline_id: None,
        };
        assert_eq!(deal.share_of(a, 100_001), Some(60_001));
        assert_eq!(deal.share_of(b, 100_001), Some(40_000));
        assert_eq!(deal.share_of(stranger, 100_001), None);
    }
}
