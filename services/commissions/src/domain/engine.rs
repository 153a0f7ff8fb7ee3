//! The calculation engine: from a participant's credit on a won deal, the plan's rules, the
//! quota and what the period already holds, the commission lines — each with the rule and tier
//! that produced it. Pure: no I/O, no clock.
//!
//! How a credit is rated:
//! 1. The credited bookings occupy `[A, A + c)` of the period's cumulative attainment `A`. That
//!    range is cut at every tier boundary (graduated tiers) and every multiplier band boundary
//!    (`quota × band start`, rounded half to even); each piece is one `Commission` line,
//!    `piece × rate × multiplier`, rounded half to even.
//!    A deal's products with a product rate come first: each occupies its share of the line's
//!    net amount (never more than what is left of the credit) and is rated at its product rate,
//!    cut at the band boundaries. The rest of the credit is rated by the pipeline rate or the
//!    schedule.
//! 2. Retroactive tiers rate the whole credit at the tier the new cumulative reached; when that
//!    tier differs from the one before, a `RetroactiveTrueUp` line re-rates everything rated by
//!    the schedule earlier in the period to the new tier (exact target, rounded once, minus what
//!    those lines already paid).
//! 3. A `DealCap` line brings the deal's lines down to the per-deal cap; then a `PeriodCap` line
//!    keeps the period's total at or below the per-period cap.
//!
//! A clawback reverses exactly the lines a deal produced (each negated, `reversal = true`).
//! [`PeriodState`] is a fold over the period's lines, so the service rebuilds it from what it
//! stored; [`recalculate`] replays a period's history from scratch and yields the same lines.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::money::{self, MILLION, Minor, format_minor, format_multiplier, format_percent};
use super::plan::{Rules, Schedule, TierMode};

/// One participant's share of a won deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub deal_id: Uuid,
    /// Credited bookings in minor units of the plan's currency (the split share of the amount).
    pub credited: Minor,
    pub pipeline_id: Option<Uuid>,
    /// The deal's products (its accepted quote's lines), as shares of this credit, in quote
    /// order; empty when the deal had no accepted quote.
    pub products: Vec<ProductCredit>,
}

/// A participant's share of one product line of a won deal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCredit {
    pub product_id: Uuid,
    /// As the quote line recorded them; for explanations.
    pub sku: String,
    pub name: String,
    /// The split share of the line's net amount, in minor units of the plan's currency.
    pub credited: Minor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineKind {
    Commission,
    RetroactiveTrueUp,
    DealCap,
    PeriodCap,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Commission => "commission",
            LineKind::RetroactiveTrueUp => "retroactive_true_up",
            LineKind::DealCap => "deal_cap",
            LineKind::PeriodCap => "period_cap",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            LineKind::Commission,
            LineKind::RetroactiveTrueUp,
            LineKind::DealCap,
            LineKind::PeriodCap,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// Which rate rule rated a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The plan's schedule (flat or tiered).
    Schedule,
    /// A pipeline-specific flat rate.
    Pipeline(Uuid),
    /// A product-specific flat rate, on the product's net amount.
    Product(Uuid),
    /// Caps rate nothing.
    Cap,
}

/// A commission line as the engine computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub deal_id: Uuid,
    pub kind: LineKind,
    pub rule: Rule,
    /// Bookings this line rates (negative on reversals; 0 for caps).
    pub base: Minor,
    /// Millionths; 0 for caps.
    pub rate: i64,
    /// Millionths; ×1 when no band applies.
    pub multiplier: i64,
    /// Index of the tier (tiered schedules).
    pub tier: Option<u32>,
    /// Index of the multiplier band (when the plan has bands and a quota is set).
    pub band: Option<u32>,
    pub amount: Minor,
    /// Whether this line reverses an earlier one (a clawback).
    pub reversal: bool,
    /// What a rep reads: the rule, tier and numbers.
    pub explanation: String,
}

/// What the period holds so far for one participant, folded from its lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodState {
    /// Credited bookings (attainment), net of clawbacks.
    pub attained: Minor,
    /// Bookings rated by the schedule, per multiplier band (for retroactive re-rating).
    pub schedule_base: BTreeMap<Option<u32>, Minor>,
    /// What schedule lines and true-ups paid.
    pub schedule_paid: Minor,
    /// Total of every line.
    pub earned: Minor,
}

impl PeriodState {
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a Line>) -> Self {
        let mut state = Self::default();
        for line in lines {
            state.apply(line);
        }
        state
    }

    pub fn apply(&mut self, line: &Line) {
        self.earned += line.amount;
        match (line.kind, line.rule) {
            (LineKind::Commission, Rule::Schedule) => {
                self.attained += line.base;
                *self.schedule_base.entry(line.band).or_default() += line.base;
                self.schedule_paid += line.amount;
            }
            (LineKind::Commission, _) => self.attained += line.base,
            (LineKind::RetroactiveTrueUp, _) => self.schedule_paid += line.amount,
            (LineKind::DealCap | LineKind::PeriodCap, _) => {}
        }
    }
}

/// The lines a participant earns for `credit`, given the period so far. `quota` is the
/// participant's quota for the period (bands apply only with a positive quota).
pub fn calculate(
    rules: &Rules,
    quota: Option<Minor>,
    state: &PeriodState,
    credit: &Credit,
) -> Vec<Line> {
    let mut lines = Vec::new();
    if credit.credited <= 0 {
        return lines;
    }
    let start = state.attained;
    let end = start + credit.credited;
    let pipeline = rules.pipeline_rate(credit.pipeline_id);
    let bands = BandEdges::new(rules, quota);
    let currency = |amount| format_minor(amount, rules.decimals);

    // Product-rated lines first; the deal never earns on more than its credited amount, so a
    // product takes at most what is left of it (nets above the amount: a quote-level discount).
    let mut rest = start;
    for product in &credit.products {
        let Some(rate) = rules.product_rate(product.product_id) else {
            continue;
        };
        let base = product.credited.clamp(0, end - rest);
        if base == 0 {
            continue;
        }
        let what = format!(
            "product rate {} for {} ({})",
            format_percent(rate.rate),
            product.sku,
            product.name
        );
        rate_pieces(
            &mut lines,
            rules,
            &bands,
            credit.deal_id,
            rest,
            rest + base,
            &[],
            |_| {
                (
                    Rule::Product(product.product_id),
                    None,
                    rate.rate,
                    what.clone(),
                )
            },
        );
        rest += base;
    }

    // The rest of the credit: the pipeline rate, else the schedule.
    let mut tier_edges = Vec::new();
    if pipeline.is_none()
        && let Schedule::Tiered {
            mode: TierMode::Graduated,
            tiers,
        } = &rules.schedule
    {
        tier_edges.extend(tiers.iter().map(|t| t.from));
    }
    rate_pieces(
        &mut lines,
        rules,
        &bands,
        credit.deal_id,
        rest,
        end,
        &tier_edges,
        |from| match pipeline {
            Some(p) => (
                Rule::Pipeline(p.pipeline_id),
                None,
                p.rate,
                format!("pipeline rate {}", format_percent(p.rate)),
            ),
            None => match &rules.schedule {
                Schedule::Flat { rate } => (
                    Rule::Schedule,
                    None,
                    *rate,
                    format!("flat rate {}", format_percent(*rate)),
                ),
                Schedule::Tiered { mode, tiers } => {
                    // Graduated: the tier this piece lies in. Retroactive: the tier reached.
                    let position = match mode {
                        TierMode::Graduated => from,
                        TierMode::Retroactive => end,
                    };
                    let index = tier_index(tiers, position);
                    let tier = tiers[index];
                    (
                        Rule::Schedule,
                        Some(index as u32),
                        tier.rate,
                        format!(
                            "{} tier {} ({} to {}) at {}",
                            mode.name(),
                            index + 1,
                            currency(tier.from),
                            tier.to.map_or("no limit".to_owned(), currency),
                            format_percent(tier.rate)
                        ),
                    )
                }
            },
        },
    );

    // The product-rated part of the deal counts toward the tier reached, as pipeline-rated
    // deals count toward the next deal's.
    if pipeline.is_none()
        && let Schedule::Tiered {
            mode: TierMode::Retroactive,
            tiers,
        } = &rules.schedule
    {
        let reached = tier_index(tiers, end);
        let before = tier_index(tiers, start);
        let prior_base: Minor = state.schedule_base.values().sum();
        if reached != before && prior_base != 0 {
            let rate = tiers[reached].rate;
            let exact: i128 = state
                .schedule_base
                .iter()
                .map(|(band, base)| {
                    i128::from(*base) * i128::from(rate) * i128::from(bands.multiplier(*band))
                })
                .sum();
            let target = money::to_minor(money::round_half_even(
                exact,
                i128::from(MILLION) * i128::from(MILLION),
            ));
            let amount = target - state.schedule_paid;
            if amount != 0 {
                lines.push(Line {
                    deal_id: credit.deal_id,
                    kind: LineKind::RetroactiveTrueUp,
                    rule: Rule::Schedule,
                    base: prior_base,
                    rate,
                    multiplier: MILLION,
                    tier: Some(reached as u32),
                    band: None,
                    amount,
                    reversal: false,
                    explanation: format!(
                        "retroactive tier {} reached: earlier bookings of {} re-rated at {}",
                        reached + 1,
                        currency(prior_base),
                        format_percent(rate)
                    ),
                });
            }
        }
    }

    let deal_total: Minor = lines.iter().map(|l| l.amount).sum();
    let mut total = deal_total;
    if let Some(cap) = rules.deal_cap
        && total > cap
    {
        lines.push(cap_line(
            credit.deal_id,
            LineKind::DealCap,
            cap - total,
            format!("deal cap of {} reached", currency(cap)),
        ));
        total = cap;
    }
    if let Some(cap) = rules.period_cap
        && state.earned + total > cap
    {
        let allowed = (cap - state.earned).max(0);
        lines.push(cap_line(
            credit.deal_id,
            LineKind::PeriodCap,
            allowed - total,
            format!("period cap of {} reached", currency(cap)),
        ));
    }
    lines
}

/// Rates the bookings `[from, to)` of the period: one line per piece between the band
/// boundaries and `edges` (tier starts) within the range, rated as `rate_at(piece start)` says.
#[allow(clippy::too_many_arguments)]
fn rate_pieces(
    lines: &mut Vec<Line>,
    rules: &Rules,
    bands: &BandEdges<'_>,
    deal_id: Uuid,
    from: Minor,
    to: Minor,
    edges: &[Minor],
    rate_at: impl Fn(Minor) -> (Rule, Option<u32>, i64, String),
) {
    if to <= from {
        return;
    }
    let mut cuts = vec![from, to];
    cuts.extend(bands.edges_within(from, to));
    cuts.extend(edges.iter().copied().filter(|e| *e > from && *e < to));
    cuts.sort_unstable();
    cuts.dedup();
    for piece in cuts.windows(2) {
        let (from, to) = (piece[0], piece[1]);
        let base = to - from;
        let (band, multiplier) = bands.at(from);
        let (rule, tier, rate, what) = rate_at(from);
        let amount = money::commission(base, rate, multiplier);
        let mut explanation = format!(
            "{} of bookings at {what}",
            format_minor(base, rules.decimals)
        );
        if let Some(band) = band {
            explanation.push_str(&format!(
                ", {} {} from {}% of quota",
                band_word(multiplier),
                format_multiplier(multiplier),
                format_minor(rules.bands[band as usize].from_basis_points, 2)
            ));
        }
        lines.push(Line {
            deal_id,
            kind: LineKind::Commission,
            rule,
            base,
            rate,
            multiplier,
            tier,
            band,
            amount,
            reversal: false,
            explanation,
        });
    }
}

fn band_word(multiplier: i64) -> &'static str {
    match multiplier.cmp(&MILLION) {
        std::cmp::Ordering::Greater => "accelerator",
        std::cmp::Ordering::Less => "decelerator",
        std::cmp::Ordering::Equal => "multiplier",
    }
}

fn cap_line(deal_id: Uuid, kind: LineKind, amount: Minor, explanation: String) -> Line {
    Line {
        deal_id,
        kind,
        rule: Rule::Cap,
        base: 0,
        rate: 0,
        multiplier: MILLION,
        tier: None,
        band: None,
        amount,
        reversal: false,
        explanation,
    }
}

/// The tier containing `amount` (validated tiers cover every non-negative amount; a negative
/// attainment, after clawbacks, counts as the first tier).
fn tier_index(tiers: &[super::plan::Tier], amount: Minor) -> usize {
    tiers.iter().position(|t| t.contains(amount)).unwrap_or(0)
}

/// Multiplier band boundaries in bookings, for one quota.
struct BandEdges<'a> {
    rules: &'a Rules,
    /// `(from, band index)`, ascending; empty when no band applies.
    edges: Vec<(Minor, u32)>,
}

impl<'a> BandEdges<'a> {
    fn new(rules: &'a Rules, quota: Option<Minor>) -> Self {
        let edges = match quota {
            Some(quota) if quota > 0 => rules
                .bands
                .iter()
                .enumerate()
                .map(|(i, band)| {
                    let from = money::to_minor(money::round_half_even(
                        i128::from(quota) * i128::from(band.from_basis_points),
                        10_000,
                    ));
                    (from, i as u32)
                })
                .collect(),
            _ => Vec::new(),
        };
        Self { rules, edges }
    }

    fn edges_within(&self, start: Minor, end: Minor) -> impl Iterator<Item = Minor> + '_ {
        self.edges
            .iter()
            .map(|(from, _)| *from)
            .filter(move |from| *from > start && *from < end)
    }

    /// The band at cumulative bookings `position` and its multiplier.
    fn at(&self, position: Minor) -> (Option<u32>, i64) {
        let band = self
            .edges
            .iter()
            .rev()
            .find(|(from, _)| *from <= position)
            .or(self.edges.first())
            .map(|(_, index)| *index);
        (band, self.multiplier(band))
    }

    fn multiplier(&self, band: Option<u32>) -> i64 {
        band.and_then(|b| self.rules.bands.get(b as usize))
            .map_or(MILLION, |b| b.multiplier)
    }
}

/// Lines reversing `lines` exactly (those not yet reversed, as the caller selects them).
pub fn clawback(lines: &[Line]) -> Vec<Line> {
    lines
        .iter()
        .map(|line| Line {
            base: -line.base,
            amount: -line.amount,
            reversal: true,
            explanation: format!("clawback: {}", line.explanation),
            ..line.clone()
        })
        .collect()
}

/// One recorded step of a period's history, in processing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Won(Credit),
    /// The deal was reopened or lost after being won: its lines are reversed.
    Reversed(Uuid),
}

/// Replays a participant's period from scratch: the lines the steps produce, in order. The
/// service stores the same lines incrementally; a recalculation compares or rebuilds them.
pub fn recalculate(rules: &Rules, quota: Option<Minor>, steps: &[Step]) -> Vec<Line> {
    let with_rules: Vec<(Step, &Rules)> = steps.iter().map(|s| (s.clone(), rules)).collect();
    replay(quota, &with_rules)
}

/// [`recalculate`] where each win is rated by the plan version that was in force for it (a
/// period may span two versions).
pub fn replay(quota: Option<Minor>, steps: &[(Step, &Rules)]) -> Vec<Line> {
    let mut all: Vec<Line> = Vec::new();
    let mut state = PeriodState::default();
    // Lines of each deal still in force (not reversed).
    let mut active: BTreeMap<Uuid, Vec<Line>> = BTreeMap::new();
    for (step, rules) in steps {
        let produced = match step {
            Step::Won(credit) => {
                if active.contains_key(&credit.deal_id) {
                    // A duplicate win of a deal in force earns nothing more.
                    continue;
                }
                let lines = calculate(rules, quota, &state, credit);
                active.insert(credit.deal_id, lines.clone());
                lines
            }
            Step::Reversed(deal_id) => match active.remove(deal_id) {
                Some(lines) => clawback(&lines),
                None => continue,
            },
        };
        for line in &produced {
            state.apply(line);
        }
        all.extend(produced);
    }
    all
}

#[cfg(test)]
mod tests;
