//! Recalculation of one period by the engine alone (no database): `DEALS` won deals spread over
//! `REPS` reps on a retroactive tiered plan with an accelerator and caps, one replay per rep, as
//! `RecalculatePeriod` does after loading the recorded steps. Prints wall time; the database
//! part (loading steps and lines) is measured separately by the lead.
//!
//!     DEALS=1000 REPS=10 cargo bench --profile dev -p commissions --bench recalc   # smoke
//!     cargo bench -p commissions --bench recalc                      # 100 000 deals, 500 reps

use std::time::Instant;

use commissions::domain::engine::{Credit, Step, recalculate};
use commissions::domain::money::MILLION;
use commissions::domain::period::PeriodKind;
use commissions::domain::plan::{Band, Rules, Schedule, Tier, TierMode};
use uuid::Uuid;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let deals = env("DEALS", 100_000);
    let reps = env("REPS", 500).max(1);
    let rules = Rules {
        currency: "USD".into(),
        decimals: 2,
        period: PeriodKind::Quarter,
        fiscal_year_start_month: 1,
        schedule: Schedule::Tiered {
            mode: TierMode::Retroactive,
            tiers: vec![
                Tier {
                    from: 0,
                    to: Some(10_000_000),
                    rate: 50_000,
                },
                Tier {
                    from: 10_000_000,
                    to: None,
                    rate: 80_000,
                },
            ],
        },
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
        pipeline_rates: vec![],
        product_rates: vec![],
        deal_cap: Some(2_000_000),
        period_cap: Some(50_000_000),
    };
    // Deterministic amounts between 1 000.00 and 50 999.00.
    let steps: Vec<Vec<Step>> = (0..reps)
        .map(|rep| {
            (0..deals / reps)
                .map(|i| {
                    let amount = 100_000 + ((rep * 7_919 + i * 104_729) % 5_000_000) as i64;
                    Step::Won(Credit {
                        deal_id: Uuid::from_u128((rep * deals + i) as u128),
                        credited: amount,
                        pipeline_id: None,
                        products: vec![],
                    })
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut lines = 0;
    let mut total: i64 = 0;
    for rep_steps in &steps {
        let replayed = recalculate(&rules, Some(20_000_000), rep_steps);
        lines += replayed.len();
        total += replayed.iter().map(|l| l.amount).sum::<i64>();
    }
    let elapsed = started.elapsed();
    println!(
        "recalculated {} deals for {reps} reps: {lines} lines, total {total} minor units, in {:.3} s",
        (deals / reps) * reps,
        elapsed.as_secs_f64()
    );
}
