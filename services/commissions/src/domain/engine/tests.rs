use proptest::prelude::*;

use super::*;
use crate::domain::money::split;
use crate::domain::period::PeriodKind;
use crate::domain::plan::{Band, PipelineRate, ProductRate, Tier};

/// 1.00 in cents.
const UNIT: Minor = 100;

fn rules(schedule: Schedule) -> Rules {
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

/// 5 % up to 100 000, 8 % up to 250 000, 10 % above.
fn tiered(mode: TierMode) -> Rules {
    rules(Schedule::Tiered {
        mode,
        tiers: vec![
            Tier {
                from: 0,
                to: Some(100_000 * UNIT),
                rate: 50_000,
            },
            Tier {
                from: 100_000 * UNIT,
                to: Some(250_000 * UNIT),
                rate: 80_000,
            },
            Tier {
                from: 250_000 * UNIT,
                to: None,
                rate: 100_000,
            },
        ],
    })
}

fn flat(rate: i64) -> Rules {
    rules(Schedule::Flat { rate })
}

fn credit(credited: Minor) -> Credit {
    Credit {
        deal_id: Uuid::now_v7(),
        credited,
        pipeline_id: None,
        products: vec![],
    }
}

fn product(product_id: Uuid, credited: Minor) -> ProductCredit {
    ProductCredit {
        product_id,
        sku: format!("SKU-{}", product_id.as_u128()),
        name: "Widget".into(),
        credited,
    }
}

/// A credit whose deal carries these products (id, share of the net amount).
fn with_products(credited: Minor, products: &[(Uuid, Minor)]) -> Credit {
    Credit {
        products: products
            .iter()
            .map(|(id, net)| product(*id, *net))
            .collect(),
        ..credit(credited)
    }
}

/// `rules` with these product rates.
fn product_rated(rules: Rules, rates: &[(Uuid, i64)]) -> Rules {
    Rules {
        product_rates: rates
            .iter()
            .map(|(product_id, rate)| ProductRate {
                product_id: *product_id,
                rate: *rate,
            })
            .collect(),
        ..rules
    }
}

/// The period after these earlier credits (replayed through the engine).
fn after(rules: &Rules, quota: Option<Minor>, earlier: &[Minor]) -> PeriodState {
    let steps: Vec<Step> = earlier.iter().map(|c| Step::Won(credit(*c))).collect();
    PeriodState::from_lines(&recalculate(rules, quota, &steps))
}

/// `(kind, tier, band, amount)` of each line.
type Summary = Vec<(LineKind, Option<u32>, Option<u32>, Minor)>;

/// Name, rules, quota, earlier credits, the credit, the expected lines.
type Case = (
    &'static str,
    Rules,
    Option<Minor>,
    Vec<Minor>,
    Minor,
    Summary,
);

fn summary(lines: &[Line]) -> Summary {
    lines
        .iter()
        .map(|l| (l.kind, l.tier, l.band, l.amount))
        .collect()
}

#[test]
fn the_table_of_exact_amounts() {
    use LineKind::{Commission, DealCap, PeriodCap, RetroactiveTrueUp};
    let accelerated = Rules {
        bands: vec![
            Band {
                from_basis_points: 0,
                multiplier: MILLION,
            },
            Band {
                from_basis_points: 10_000,
                multiplier: 1_500_000,
            },
        ],
        ..flat(100_000)
    };
    let decelerated = Rules {
        bands: vec![
            Band {
                from_basis_points: 0,
                multiplier: 500_000,
            },
            Band {
                from_basis_points: 5_000,
                multiplier: MILLION,
            },
        ],
        ..flat(100_000)
    };
    let deal_capped = Rules {
        deal_cap: Some(1_000 * UNIT),
        ..flat(100_000)
    };
    let period_capped = Rules {
        period_cap: Some(6_000 * UNIT),
        ..flat(100_000)
    };
    let quota = Some(100_000 * UNIT);
    let cases: Vec<Case> = vec![
        (
            "graduated: a deal ending exactly at the threshold stays in tier 1",
            tiered(TierMode::Graduated),
            None,
            vec![],
            100_000 * UNIT,
            vec![(Commission, Some(0), None, 5_000 * UNIT)],
        ),
        (
            "graduated: the first cent past the threshold is tier 2 (8 % of 0.01 rounds to 0)",
            tiered(TierMode::Graduated),
            None,
            vec![100_000 * UNIT],
            1,
            vec![(Commission, Some(1), None, 0)],
        ),
        (
            "graduated: a deal crossing the threshold is split across the tiers",
            tiered(TierMode::Graduated),
            None,
            vec![90_000 * UNIT],
            20_000 * UNIT,
            vec![
                (Commission, Some(0), None, 500 * UNIT),
                (Commission, Some(1), None, 800 * UNIT),
            ],
        ),
        (
            "graduated: a deal spanning three tiers",
            tiered(TierMode::Graduated),
            None,
            vec![],
            300_000 * UNIT,
            vec![
                (Commission, Some(0), None, 5_000 * UNIT),
                (Commission, Some(1), None, 12_000 * UNIT),
                (Commission, Some(2), None, 5_000 * UNIT),
            ],
        ),
        (
            "retroactive: reaching exactly the threshold rates everything at tier 2",
            tiered(TierMode::Retroactive),
            None,
            vec![],
            100_000 * UNIT,
            vec![(Commission, Some(1), None, 8_000 * UNIT)],
        ),
        (
            "retroactive: crossing re-rates the earlier bookings (60 000 at 5 % → 8 %)",
            tiered(TierMode::Retroactive),
            None,
            vec![60_000 * UNIT],
            50_000 * UNIT,
            vec![
                (Commission, Some(1), None, 4_000 * UNIT),
                (RetroactiveTrueUp, Some(1), None, 1_800 * UNIT),
            ],
        ),
        (
            "retroactive: within the same tier nothing is re-rated",
            tiered(TierMode::Retroactive),
            None,
            vec![110_000 * UNIT],
            10_000 * UNIT,
            vec![(Commission, Some(1), None, 800 * UNIT)],
        ),
        (
            "accelerator: ×1.5 on the part above 100 % of quota",
            accelerated.clone(),
            quota,
            vec![80_000 * UNIT],
            40_000 * UNIT,
            vec![
                (Commission, None, Some(0), 2_000 * UNIT),
                (Commission, None, Some(1), 3_000 * UNIT),
            ],
        ),
        (
            "accelerator: without a quota no band applies",
            accelerated.clone(),
            None,
            vec![80_000 * UNIT],
            40_000 * UNIT,
            vec![(Commission, None, None, 4_000 * UNIT)],
        ),
        (
            "decelerator: ×0.5 below 50 % of quota",
            decelerated.clone(),
            quota,
            vec![],
            60_000 * UNIT,
            vec![
                (Commission, None, Some(0), 2_500 * UNIT),
                (Commission, None, Some(1), 1_000 * UNIT),
            ],
        ),
        (
            "deal cap",
            deal_capped.clone(),
            None,
            vec![],
            50_000 * UNIT,
            vec![
                (Commission, None, None, 5_000 * UNIT),
                (DealCap, None, None, -4_000 * UNIT),
            ],
        ),
        (
            "period cap",
            period_capped.clone(),
            None,
            vec![50_000 * UNIT],
            20_000 * UNIT,
            vec![
                (Commission, None, None, 2_000 * UNIT),
                (PeriodCap, None, None, -1_000 * UNIT),
            ],
        ),
        (
            "banker's rounding: 5 % of 0.50 is 0.025 → 0.02",
            flat(50_000),
            None,
            vec![],
            50,
            vec![(Commission, None, None, 2)],
        ),
        (
            "banker's rounding: 5 % of 0.70 is 0.035 → 0.04",
            flat(50_000),
            None,
            vec![],
            70,
            vec![(Commission, None, None, 4)],
        ),
        (
            "a zero credit earns no line",
            flat(50_000),
            None,
            vec![],
            0,
            vec![],
        ),
    ];
    for (name, rules, quota, earlier, credited, expected) in cases {
        let state = after(&rules, quota, &earlier);
        let lines = calculate(&rules, quota, &state, &credit(credited));
        assert_eq!(summary(&lines), expected, "{name}");
    }
}

#[test]
fn retroactive_totals_equal_the_reached_rate_on_everything() {
    let rules = tiered(TierMode::Retroactive);
    let steps: Vec<Step> = [60_000, 30_000, 20_000, 200_000]
        .iter()
        .map(|c| Step::Won(credit(c * UNIT)))
        .collect();
    let total: Minor = recalculate(&rules, None, &steps)
        .iter()
        .map(|l| l.amount)
        .sum();
    // 310 000 reached tier 3: 10 % of everything.
    assert_eq!(total, 31_000 * UNIT);
}

#[test]
fn pipeline_rates_replace_the_schedule_but_count_toward_attainment() {
    let pipeline = Uuid::now_v7();
    let rules = Rules {
        pipeline_rates: vec![PipelineRate {
            pipeline_id: pipeline,
            rate: 20_000,
        }],
        ..tiered(TierMode::Graduated)
    };
    let deal = Credit {
        pipeline_id: Some(pipeline),
        ..credit(150_000 * UNIT)
    };
    let lines = calculate(&rules, None, &PeriodState::default(), &deal);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount, 3_000 * UNIT);
    assert_eq!(lines[0].rule, Rule::Pipeline(pipeline));
    assert!(lines[0].explanation.contains("pipeline rate 2%"));
    let state = PeriodState::from_lines(&lines);
    let next = calculate(&rules, None, &state, &credit(10_000 * UNIT));
    assert_eq!(summary(&next)[0].1, Some(1), "attainment reached tier 2");
}

/// `(rule, tier, band, base, amount)` of each line.
type ProductSummary = Vec<(Rule, Option<u32>, Option<u32>, Minor, Minor)>;

/// Name, rules, quota, earlier credits, the credit, the expected lines.
type ProductCase = (
    &'static str,
    Rules,
    Option<Minor>,
    Vec<Minor>,
    Credit,
    ProductSummary,
);

fn product_summary(lines: &[Line]) -> ProductSummary {
    lines
        .iter()
        .map(|l| (l.rule, l.tier, l.band, l.base, l.amount))
        .collect()
}

#[test]
fn the_table_of_product_rates() {
    let (rated, other, unrated) = (Uuid::from_u128(7), Uuid::from_u128(8), Uuid::from_u128(9));
    let p = Rule::Product(rated);
    let q = Rule::Product(other);
    let graduated = product_rated(
        tiered(TierMode::Graduated),
        &[(rated, 100_000), (other, 30_000)],
    );
    let accelerated = Rules {
        bands: vec![
            Band {
                from_basis_points: 0,
                multiplier: MILLION,
            },
            Band {
                from_basis_points: 10_000,
                multiplier: 1_500_000,
            },
        ],
        ..product_rated(flat(50_000), &[(rated, 100_000)])
    };
    let capped = Rules {
        deal_cap: Some(500 * UNIT),
        ..product_rated(flat(50_000), &[(rated, 100_000)])
    };
    let cases: Vec<ProductCase> = vec![
        (
            "product rate only: the whole deal is one rated product",
            graduated.clone(),
            None,
            vec![],
            with_products(10_000 * UNIT, &[(rated, 10_000 * UNIT)]),
            vec![(p, None, None, 10_000 * UNIT, 1_000 * UNIT)],
        ),
        (
            "product + remainder through tiers: 4 000 at 10 %, then 16 000 from 94 000 crosses \
             into tier 2 (an unrated product is part of the remainder)",
            graduated.clone(),
            None,
            vec![90_000 * UNIT],
            with_products(
                20_000 * UNIT,
                &[(rated, 4_000 * UNIT), (unrated, 6_000 * UNIT)],
            ),
            vec![
                (p, None, None, 4_000 * UNIT, 400 * UNIT),
                (Rule::Schedule, Some(0), None, 6_000 * UNIT, 300 * UNIT),
                (Rule::Schedule, Some(1), None, 10_000 * UNIT, 800 * UNIT),
            ],
        ),
        (
            "two rated products in quote order, then the remainder",
            graduated.clone(),
            None,
            vec![],
            with_products(
                10_000 * UNIT,
                &[(other, 1_000 * UNIT), (rated, 2_000 * UNIT)],
            ),
            vec![
                (q, None, None, 1_000 * UNIT, 30 * UNIT),
                (p, None, None, 2_000 * UNIT, 200 * UNIT),
                (Rule::Schedule, Some(0), None, 7_000 * UNIT, 350 * UNIT),
            ],
        ),
        (
            "product nets above the amount: rated up to the amount, no remainder",
            graduated.clone(),
            None,
            vec![],
            with_products(
                10_000 * UNIT,
                &[(rated, 9_000 * UNIT), (other, 3_000 * UNIT)],
            ),
            vec![
                (p, None, None, 9_000 * UNIT, 900 * UNIT),
                (q, None, None, 1_000 * UNIT, 30 * UNIT),
            ],
        ),
        (
            "banker's rounding per product line: 10 % of 0.25 is 0.025 → 0.02",
            graduated.clone(),
            None,
            vec![],
            with_products(25, &[(rated, 25)]),
            vec![(p, None, None, 25, 2)],
        ),
        (
            "no accepted quote: the schedule as before",
            graduated.clone(),
            None,
            vec![90_000 * UNIT],
            with_products(20_000 * UNIT, &[]),
            vec![
                (Rule::Schedule, Some(0), None, 10_000 * UNIT, 500 * UNIT),
                (Rule::Schedule, Some(1), None, 10_000 * UNIT, 800 * UNIT),
            ],
        ),
        (
            "accelerator: a product line crossing 100 % of quota is cut at the band",
            accelerated,
            Some(100_000 * UNIT),
            vec![95_000 * UNIT],
            with_products(10_000 * UNIT, &[(rated, 10_000 * UNIT)]),
            vec![
                (p, None, Some(0), 5_000 * UNIT, 500 * UNIT),
                (p, None, Some(1), 5_000 * UNIT, 750 * UNIT),
            ],
        ),
    ];
    for (name, rules, quota, earlier, credit, expected) in cases {
        let state = after(&rules, quota, &earlier);
        let lines = calculate(&rules, quota, &state, &credit);
        assert_eq!(product_summary(&lines), expected, "{name}");
        let total: Minor = lines.iter().map(|l| l.base).sum();
        assert_eq!(
            total, credit.credited,
            "{name}: every credited cent is rated once"
        );
    }
    // The deal cap covers product lines too.
    let lines = calculate(
        &capped,
        None,
        &PeriodState::default(),
        &with_products(10_000 * UNIT, &[(rated, 6_000 * UNIT)]),
    );
    assert_eq!(
        summary(&lines),
        [
            (LineKind::Commission, None, None, 600 * UNIT),
            (LineKind::Commission, None, None, 200 * UNIT),
            (LineKind::DealCap, None, None, -300 * UNIT),
        ]
    );
}

#[test]
fn product_rates_replace_the_schedule_for_their_part_but_count_toward_attainment() {
    let product_id = Uuid::now_v7();
    let rules = product_rated(tiered(TierMode::Graduated), &[(product_id, 20_000)]);
    let deal = with_products(150_000 * UNIT, &[(product_id, 150_000 * UNIT)]);
    let lines = calculate(&rules, None, &PeriodState::default(), &deal);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount, 3_000 * UNIT);
    assert_eq!(lines[0].rule, Rule::Product(product_id));
    assert_eq!(
        lines[0].explanation,
        format!(
            "150000.00 of bookings at product rate 2% for SKU-{} (Widget)",
            product_id.as_u128()
        )
    );
    let state = PeriodState::from_lines(&lines);
    assert_eq!(state.attained, 150_000 * UNIT);
    let next = calculate(&rules, None, &state, &credit(10_000 * UNIT));
    assert_eq!(summary(&next)[0].1, Some(1), "attainment reached tier 2");
}

#[test]
fn a_sixty_forty_split_shares_product_lines_too() {
    let product_id = Uuid::now_v7();
    let rules = product_rated(flat(50_000), &[(product_id, 100_000)]);
    let amounts = split(10_000 * UNIT + 1, &[60, 40]);
    let nets = split(5_000 * UNIT + 1, &[60, 40]);
    let earned: Vec<Vec<Minor>> = amounts
        .iter()
        .zip(&nets)
        .map(|(amount, net)| {
            calculate(
                &rules,
                None,
                &PeriodState::default(),
                &with_products(*amount, &[(product_id, *net)]),
            )
            .iter()
            .map(|l| l.amount)
            .collect()
        })
        .collect();
    // 60 %: 3 000.01 at 10 % and 3 000.00 at 5 %; 40 %: 2 000.00 and 2 000.00.
    assert_eq!(
        earned,
        [vec![300 * UNIT, 150 * UNIT], vec![200 * UNIT, 100 * UNIT]]
    );
    assert_eq!(nets.iter().sum::<Minor>(), 5_000 * UNIT + 1);
}

#[test]
fn a_clawback_reverses_product_lines_exactly() {
    let product_id = Uuid::now_v7();
    let rules = product_rated(tiered(TierMode::Retroactive), &[(product_id, 120_000)]);
    let first = credit(60_000 * UNIT);
    let second = with_products(50_000 * UNIT, &[(product_id, 20_000 * UNIT)]);
    let won = recalculate(
        &rules,
        None,
        &[Step::Won(first.clone()), Step::Won(second.clone())],
    );
    let of_second: Vec<&Line> = won.iter().filter(|l| l.deal_id == second.deal_id).collect();
    // 20 000 at 12 %; 30 000 at tier 2 (8 %); the first deal's 60 000 re-rated 5 % → 8 %.
    assert_eq!(
        of_second
            .iter()
            .map(|l| (l.rule, l.amount))
            .collect::<Vec<_>>(),
        [
            (Rule::Product(product_id), 2_400 * UNIT),
            (Rule::Schedule, 2_400 * UNIT),
            (Rule::Schedule, 1_800 * UNIT),
        ]
    );
    let reversed = recalculate(
        &rules,
        None,
        &[
            Step::Won(first.clone()),
            Step::Won(second.clone()),
            Step::Reversed(second.deal_id),
        ],
    );
    let clawed: Vec<&Line> = reversed.iter().filter(|l| l.reversal).collect();
    assert_eq!(clawed.len(), of_second.len());
    assert_eq!(clawed[0].rule, Rule::Product(product_id));
    assert_eq!(clawed[0].base, -20_000 * UNIT);
    assert_eq!(
        clawed.iter().map(|l| l.amount).sum::<Minor>(),
        -6_600 * UNIT
    );
    assert_eq!(
        PeriodState::from_lines(&reversed),
        after(&rules, None, &[60_000 * UNIT])
    );
}

#[test]
fn a_sixty_forty_split_credits_exactly_the_amount() {
    let shares = split(48_000 * UNIT + 1, &[60, 40]);
    assert_eq!(shares, [28_800 * UNIT + 1, 19_200 * UNIT]);
    assert_eq!(shares.iter().sum::<Minor>(), 48_000 * UNIT + 1);
    let rules = flat(50_000);
    let earned: Vec<Minor> = shares
        .iter()
        .map(|share| {
            calculate(&rules, None, &PeriodState::default(), &credit(*share))
                .iter()
                .map(|l| l.amount)
                .sum()
        })
        .collect();
    assert_eq!(earned, [1_440 * UNIT, 960 * UNIT]);
}

#[test]
fn explanations_name_rule_tier_and_band() {
    let rules = Rules {
        bands: vec![
            Band {
                from_basis_points: 0,
                multiplier: MILLION,
            },
            Band {
                from_basis_points: 10_000,
                multiplier: 1_500_000,
            },
        ],
        ..tiered(TierMode::Graduated)
    };
    let state = after(&rules, Some(100_000 * UNIT), &[100_000 * UNIT]);
    let lines = calculate(&rules, Some(100_000 * UNIT), &state, &credit(1_000 * UNIT));
    assert_eq!(
        lines[0].explanation,
        "1000.00 of bookings at graduated tier 2 (100000.00 to 250000.00) at 8%, \
         accelerator ×1.5 from 100.00% of quota"
    );
    assert_eq!(lines[0].amount, 120 * UNIT);
}

#[test]
fn a_clawback_reverses_exactly_and_restores_the_period() {
    let rules = Rules {
        deal_cap: Some(7_000 * UNIT),
        ..tiered(TierMode::Retroactive)
    };
    let first = credit(60_000 * UNIT);
    let second = credit(50_000 * UNIT);
    let lines = recalculate(
        &rules,
        None,
        &[Step::Won(first.clone()), Step::Won(second.clone())],
    );
    let reversed = recalculate(
        &rules,
        None,
        &[
            Step::Won(first.clone()),
            Step::Won(second.clone()),
            Step::Reversed(second.deal_id),
        ],
    );
    let clawed: Vec<&Line> = reversed.iter().filter(|l| l.reversal).collect();
    assert_eq!(clawed.len(), lines.len() - 1);
    let second_total: Minor = lines
        .iter()
        .filter(|l| l.deal_id == second.deal_id)
        .map(|l| l.amount)
        .sum();
    assert_eq!(second_total, 5_800 * UNIT);
    let clawed_total: Minor = clawed.iter().map(|l| l.amount).sum();
    assert_eq!(clawed_total, -second_total);
    let state = PeriodState::from_lines(&reversed);
    assert_eq!(state, after(&rules, None, &[60_000 * UNIT]));
}

#[test]
fn duplicate_wins_and_unknown_reversals_change_nothing() {
    let rules = flat(50_000);
    let deal = credit(1_000 * UNIT);
    let once = recalculate(&rules, None, &[Step::Won(deal.clone())]);
    let twice = recalculate(
        &rules,
        None,
        &[
            Step::Won(deal.clone()),
            Step::Won(deal.clone()),
            Step::Reversed(Uuid::now_v7()),
        ],
    );
    assert_eq!(once, twice);
}

fn any_rules() -> impl Strategy<Value = Rules> {
    let tiers = prop::collection::vec((1..50_000_000i64, 0..200_000i64), 0..4).prop_map(|raw| {
        let mut from = 0;
        let mut tiers = Vec::new();
        for (width, rate) in raw {
            tiers.push(Tier {
                from,
                to: Some(from + width),
                rate,
            });
            from += width;
        }
        tiers
    });
    let schedule = prop_oneof![
        (0..200_000i64).prop_map(|rate| Schedule::Flat { rate }),
        (tiers, 0..200_000i64, any::<bool>()).prop_map(|(mut tiers, last_rate, retro)| {
            let from = tiers.last().and_then(|t: &Tier| t.to).unwrap_or(0);
            tiers.push(Tier {
                from,
                to: None,
                rate: last_rate,
            });
            Schedule::Tiered {
                mode: if retro {
                    TierMode::Retroactive
                } else {
                    TierMode::Graduated
                },
                tiers,
            }
        }),
    ];
    let bands = prop::collection::vec((1..15_000i64, 0..3 * MILLION), 0..3).prop_map(|raw| {
        let mut from = 0;
        raw.into_iter()
            .enumerate()
            .map(|(i, (step, multiplier))| {
                if i > 0 {
                    from += step;
                }
                Band {
                    from_basis_points: from,
                    multiplier,
                }
            })
            .collect::<Vec<_>>()
    });
    let caps = (
        prop::option::of(0..5_000_000i64),
        prop::option::of(0..20_000_000i64),
    );
    let product_rates = prop::collection::vec(0..300_000i64, 0..3).prop_map(|rates| {
        rates
            .into_iter()
            .enumerate()
            .map(|(i, rate)| ProductRate {
                product_id: Uuid::from_u128(PRODUCTS + i as u128),
                rate,
            })
            .collect::<Vec<_>>()
    });
    (
        schedule,
        bands,
        caps,
        prop::option::of(0..200_000i64),
        product_rates,
    )
        .prop_map(
            |(schedule, bands, (deal_cap, period_cap), pipeline_rate, product_rates)| Rules {
                bands,
                deal_cap,
                period_cap,
                pipeline_rates: pipeline_rate
                    .map(|rate| {
                        vec![PipelineRate {
                            pipeline_id: Uuid::from_u128(1),
                            rate,
                        }]
                    })
                    .unwrap_or_default(),
                product_rates,
                ..rules(schedule)
            },
        )
}

/// Product ids of generated deals: `PRODUCTS + 0..4` (the plans rate at most the first three).
const PRODUCTS: u128 = 500;

/// A deal's products: (product index, net amount as a percentage of the deal amount, up to
/// 150 % so nets above the amount are exercised).
type RawProducts = Vec<(u128, i64)>;

/// Raw step: won?, amount, special pipeline (or re-win), which deal to reverse, products.
type RawStep = (bool, i64, bool, usize, RawProducts);

/// Raw steps: a won deal (amount, special pipeline?, products) or a reversal of the n-th deal
/// so far.
fn any_steps() -> impl Strategy<Value = Vec<RawStep>> {
    prop::collection::vec(
        (
            prop::bool::weighted(0.8),
            0..30_000_000i64,
            any::<bool>(),
            0..40usize,
            prop::collection::vec((0..4u128, 0..=150i64), 0..3),
        ),
        1..40,
    )
}

fn steps_of(raw: &[RawStep]) -> Vec<Step> {
    let mut deals: Vec<Credit> = Vec::new();
    let mut steps = Vec::new();
    for (won, amount, special, pick, products) in raw {
        if *won || deals.is_empty() {
            let deal = Credit {
                deal_id: Uuid::from_u128(1_000 + deals.len() as u128),
                credited: *amount,
                pipeline_id: special.then(|| Uuid::from_u128(1)),
                products: products
                    .iter()
                    .map(|(index, percent)| {
                        product(Uuid::from_u128(PRODUCTS + index), amount * percent / 100)
                    })
                    .collect(),
            };
            deals.push(deal.clone());
            steps.push(Step::Won(deal));
        } else {
            let deal = &deals[pick % deals.len()];
            // Sometimes the same deal is won again (duplicate or re-won after reopening).
            if *special {
                steps.push(Step::Won(deal.clone()));
            } else {
                steps.push(Step::Reversed(deal.deal_id));
            }
        }
    }
    steps
}

/// What the service does per event: rebuild the period from the stored lines, add the new ones.
fn incrementally(rules: &Rules, quota: Option<Minor>, steps: &[Step]) -> Vec<Line> {
    let mut stored: Vec<Line> = Vec::new();
    for step in steps {
        let state = PeriodState::from_lines(&stored);
        let in_force = |deal_id: Uuid| -> Vec<Line> {
            // The lines since the deal's last reversal (or all, if never reversed).
            let of_deal: Vec<&Line> = stored.iter().filter(|l| l.deal_id == deal_id).collect();
            let last_reversal = of_deal.iter().rposition(|l| l.reversal);
            of_deal[last_reversal.map_or(0, |i| i + 1)..]
                .iter()
                .map(|l| (*l).clone())
                .collect()
        };
        let produced = match step {
            Step::Won(credit) => {
                let already = stored.iter().any(|l| l.deal_id == credit.deal_id);
                if already && !in_force(credit.deal_id).is_empty() {
                    continue;
                }
                let lines = calculate(rules, quota, &state, credit);
                if lines.is_empty() {
                    continue;
                }
                lines
            }
            Step::Reversed(deal_id) => clawback(&in_force(*deal_id)),
        };
        stored.extend(produced);
    }
    stored
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_sum_of_stored_lines_equals_the_recalculation(
        rules in any_rules(),
        quota in prop::option::of(0..50_000_000i64),
        raw in any_steps(),
    ) {
        prop_assume!(rules.validate().is_ok());
        let steps = steps_of(&raw);
        let stored = incrementally(&rules, quota, &steps);
        let replayed = recalculate(&rules, quota, &steps);
        let sum = |lines: &[Line]| lines.iter().map(|l| l.amount).sum::<Minor>();
        prop_assert_eq!(sum(&stored), sum(&replayed));
        prop_assert_eq!(&stored, &replayed);
        prop_assert_eq!(PeriodState::from_lines(&stored), PeriodState::from_lines(&replayed));
        // Product lines and the remainder rate every credited cent once, all toward attainment.
        for step in &steps {
            if let Step::Won(credit) = step {
                let lines = calculate(&rules, quota, &PeriodState::default(), credit);
                prop_assert_eq!(
                    PeriodState::from_lines(&lines).attained,
                    credit.credited.max(0)
                );
            }
        }
    }

    #[test]
    fn caps_hold_and_clawbacks_net_to_zero(
        rules in any_rules(),
        quota in prop::option::of(0..50_000_000i64),
        raw in any_steps(),
    ) {
        prop_assume!(rules.validate().is_ok());
        let steps = steps_of(&raw);
        let lines = recalculate(&rules, quota, &steps);
        let mut deals: Vec<Uuid> = lines.iter().map(|l| l.deal_id).collect();
        deals.sort();
        deals.dedup();
        for deal in deals {
            let of_deal: Vec<&Line> = lines.iter().filter(|l| l.deal_id == deal).collect();
            // Each award (lines between reversals) respects the deal cap; each reversal undoes it.
            let mut award: Minor = 0;
            for (i, line) in of_deal.iter().enumerate() {
                award += line.amount;
                let award_ends = !line.reversal
                    && of_deal.get(i + 1).is_none_or(|next| next.reversal);
                if let (Some(cap), true) = (rules.deal_cap, award_ends) {
                    prop_assert!(award <= cap, "deal {} earned {} over cap {}", deal, award, cap);
                }
            }
            let reversed = of_deal.last().is_some_and(|l| l.reversal);
            if reversed {
                prop_assert_eq!(award, 0);
            }
        }
        let no_reversals = !steps.iter().any(|s| matches!(s, Step::Reversed(_)));
        if let (Some(cap), true) = (rules.period_cap, no_reversals) {
            prop_assert!(lines.iter().map(|l| l.amount).sum::<Minor>() <= cap);
        }
    }

    #[test]
    fn graduated_tiers_pay_the_exact_schedule_within_rounding(
        widths in prop::collection::vec((1..10_000_000i64, 0..200_000i64), 1..4),
        last in 0..200_000i64,
        credits in prop::collection::vec(0..5_000_000i64, 1..30),
    ) {
        let mut from = 0;
        let mut tiers = Vec::new();
        for (width, rate) in widths {
            tiers.push(Tier { from, to: Some(from + width), rate });
            from += width;
        }
        tiers.push(Tier { from, to: None, rate: last });
        let rules = rules(Schedule::Tiered { mode: TierMode::Graduated, tiers: tiers.clone() });
        let steps: Vec<Step> = credits.iter().map(|c| Step::Won(credit(*c))).collect();
        let lines = recalculate(&rules, None, &steps);
        let total: i128 = credits.iter().map(|c| i128::from(*c)).sum();
        // Exact graduated schedule of the total, in millionths of a cent.
        let exact: i128 = tiers
            .iter()
            .map(|t| {
                let upper = t.to.map_or(total, |to| i128::from(to).min(total));
                (upper - i128::from(t.from)).max(0) * i128::from(t.rate)
            })
            .sum();
        let paid: i128 = lines.iter().map(|l| i128::from(l.amount)).sum::<i128>() * i128::from(MILLION);
        // Each line rounds by at most half a cent.
        prop_assert!((paid - exact).abs() * 2 <= i128::from(MILLION) * lines.len() as i128);
    }
}
