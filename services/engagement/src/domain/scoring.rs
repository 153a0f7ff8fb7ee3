//! The scoring model: points per kind, a daily cap per kind and record, and exponential decay
//! with a half-life. A touch's weight at time t is `points * 2^(-(t - occurred) / half_life)`.
//! Because the decay is exponential, a sum of decayed touches can be stored as one number with
//! the time it is valid at ([`Decayed`]) and brought to any later time by one factor, so a read
//! decays without rewriting rows and touches can arrive in any order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::kind::Kind;
use super::state::Thresholds;
use super::{FieldViolation, Violations};

/// The default half-life: 14 days.
pub const DEFAULT_HALF_LIFE_SECS: f64 = 14.0 * 86_400.0;
/// Half-lives above ten years make no sense for engagement and risk precision loss.
const MAX_HALF_LIFE_SECS: f64 = 3_650.0 * 86_400.0;
/// Points of one touch are at most this.
const MAX_POINTS: f64 = 1_000_000.0;

/// The points and daily cap of one kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindRule {
    pub points: f64,
    /// Touches of the kind that score per record and UTC day; 0 = no cap.
    pub daily_cap: u32,
}

/// A tenant's scoring model.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringModel {
    pub half_life_secs: f64,
    /// Kinds with points or caps other than their defaults.
    pub rules: BTreeMap<Kind, KindRule>,
    pub thresholds: Thresholds,
}

impl Default for ScoringModel {
    fn default() -> Self {
        Self {
            half_life_secs: DEFAULT_HALF_LIFE_SECS,
            rules: BTreeMap::new(),
            thresholds: Thresholds::default(),
        }
    }
}

impl ScoringModel {
    pub fn rule(&self, kind: &Kind) -> KindRule {
        self.rules.get(kind).copied().unwrap_or(KindRule {
            points: kind.default_points(),
            daily_cap: kind.default_daily_cap(),
        })
    }

    /// Checks a model an admin sends; violations name the proto fields.
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if !(self.half_life_secs.is_finite()
            && self.half_life_secs > 0.0
            && self.half_life_secs <= MAX_HALF_LIFE_SECS)
        {
            v.add("half_life_days", "must be greater than 0 and at most 3650");
        }
        for (i, rule) in self.rules.values().enumerate() {
            if !(rule.points.is_finite() && (0.0..=MAX_POINTS).contains(&rule.points)) {
                v.add(
                    format!("rules[{i}].points"),
                    format!("must be between 0 and {MAX_POINTS}"),
                );
            }
        }
        if let Err(violations) = self.thresholds.validate() {
            v.extend(violations);
        }
        v.finish()
    }

    /// The weight of `points` scored at `occurred`, at time `at`.
    pub fn decayed(&self, points: f64, occurred: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
        points * decay_factor(seconds_between(occurred, at), self.half_life_secs)
    }
}

/// `2^(-elapsed / half_life)`; no growth for a negative elapsed time (a touch slightly in the
/// future weighs its full points).
pub fn decay_factor(elapsed_secs: f64, half_life_secs: f64) -> f64 {
    if elapsed_secs <= 0.0 {
        1.0
    } else {
        (-elapsed_secs / half_life_secs).exp2()
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().map_or_else(
        || (to - from).num_seconds() as f64,
        |micros| micros as f64 / 1e6,
    )
}

/// A score valid at `as_of`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decayed {
    pub score: f64,
    pub as_of: DateTime<Utc>,
}

impl Decayed {
    /// The score at `at` (not before `as_of`: earlier reads see the stored score).
    pub fn at(self, at: DateTime<Utc>, half_life_secs: f64) -> f64 {
        self.score * decay_factor(seconds_between(self.as_of, at), half_life_secs)
    }

    /// Both scores together, valid at the later of the two times. The store's upsert does the
    /// same in SQL (`store::touches`).
    pub fn merge(self, other: Decayed, half_life_secs: f64) -> Decayed {
        let as_of = self.as_of.max(other.as_of);
        Decayed {
            score: self.at(as_of, half_life_secs) + other.at(as_of, half_life_secs),
            as_of,
        }
    }
}

/// Of `new` touches of one kind on one record and day, how many still score when `before`
/// already did (the first ones count, the rest are past the cap).
pub fn counted_within_cap(before: u32, daily_cap: u32, new: u32) -> u32 {
    if daily_cap == 0 {
        new
    } else {
        daily_cap.saturating_sub(before).min(new)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, 15, 30, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn decay_exactly_halves_at_one_half_life() {
        let model = ScoringModel::default();
        let later = t0() + Duration::days(14);
        assert_eq!(model.decayed(10.0, t0(), later), 5.0);
        assert_eq!(model.decayed(10.0, t0(), later + Duration::days(14)), 2.5);
        assert_eq!(model.decayed(10.0, t0(), t0()), 10.0);
    }

    #[test]
    fn a_touch_in_the_future_weighs_its_full_points() {
        let model = ScoringModel::default();
        assert_eq!(model.decayed(8.0, t0(), t0() - Duration::minutes(3)), 8.0);
    }

    #[test]
    fn caps_let_the_first_touches_of_a_day_count() {
        assert_eq!(counted_within_cap(0, 3, 100), 3);
        assert_eq!(counted_within_cap(2, 3, 5), 1);
        assert_eq!(counted_within_cap(3, 3, 1), 0);
        assert_eq!(counted_within_cap(7, 3, 1), 0);
        assert_eq!(counted_within_cap(50, 0, 4), 4);
    }

    #[test]
    fn a_zero_or_negative_half_life_and_negative_points_are_refused() {
        let mut model = ScoringModel {
            half_life_secs: 0.0,
            ..ScoringModel::default()
        };
        model.rules.insert(
            Kind::EmailOpened,
            KindRule {
                points: -1.0,
                daily_cap: 0,
            },
        );
        let fields: Vec<String> = model
            .validate()
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["half_life_days", "rules[0].points"]);
        assert!(ScoringModel::default().validate().is_ok());
    }

    proptest! {
        #[test]
        fn merging_in_any_order_equals_summing_each_touch(
            touches in proptest::collection::vec((0.0f64..100.0, 0i64..5_000_000), 1..20),
            read_after in 0i64..5_000_000,
        ) {
            let model = ScoringModel::default();
            let hl = model.half_life_secs;
            let at = |secs: i64| t0() + Duration::seconds(secs);
            let read = at(touches.iter().map(|(_, s)| *s).max().unwrap_or(0) + read_after);
            let direct: f64 = touches.iter().map(|(p, s)| model.decayed(*p, at(*s), read)).sum();
            let forward = touches.iter().fold(None::<Decayed>, |acc, (p, s)| {
                let touch = Decayed { score: *p, as_of: at(*s) };
                Some(acc.map_or(touch, |acc| acc.merge(touch, hl)))
            });
            let backward = touches.iter().rev().fold(None::<Decayed>, |acc, (p, s)| {
                let touch = Decayed { score: *p, as_of: at(*s) };
                Some(acc.map_or(touch, |acc| acc.merge(touch, hl)))
            });
            for merged in [forward, backward].into_iter().flatten() {
                let value = merged.at(read, hl);
                prop_assert!((value - direct).abs() <= 1e-9 * direct.max(1.0), "{value} vs {direct}");
            }
        }

        #[test]
        fn decay_never_grows_and_halves_per_half_life(points in 0.0f64..1e6, days in 0u32..400) {
            let model = ScoringModel::default();
            let at = t0() + Duration::days(i64::from(days));
            let now = model.decayed(points, t0(), at);
            let one_later = model.decayed(points, t0(), at + Duration::days(14));
            prop_assert!(now <= points);
            prop_assert!((one_later - now / 2.0).abs() <= 1e-9 * points.max(1.0));
        }

        #[test]
        fn a_day_never_scores_more_touches_than_its_cap(
            cap in 1u32..20,
            batches in proptest::collection::vec(0u32..30, 0..10),
        ) {
            let mut before = 0;
            let mut counted = 0;
            for new in batches {
                counted += counted_within_cap(before, cap, new);
                before += new;
            }
            prop_assert!(counted <= cap);
            prop_assert_eq!(counted, before.min(cap));
        }
    }
}
