//! A record's engagement now, from its stored per-kind scores decayed on read.

use chrono::{DateTime, Utc};

use super::kind::Kind;
use super::scoring::{Decayed, ScoringModel};
use super::state::State;

/// What a score read answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Engagement {
    pub score: f64,
    pub state: State,
    pub last_touch: Option<DateTime<Utc>>,
    /// Points per kind now, highest first.
    pub breakdown: Vec<(Kind, f64)>,
}

/// The record's engagement at `now`: each kind's stored score decayed, summed, and the state
/// re-decided from the state stored at the last touch (hysteresis).
pub fn engagement_at(
    model: &ScoringModel,
    scores: Vec<(Kind, Decayed)>,
    stored_state: Option<State>,
    last_touch: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Engagement {
    let mut breakdown: Vec<(Kind, f64)> = scores
        .into_iter()
        .map(|(kind, decayed)| (kind, decayed.at(now, model.half_life_secs)))
        .collect();
    breakdown.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let score = breakdown.iter().map(|(_, points)| points).sum();
    Engagement {
        score,
        state: model.thresholds.next(stored_state, score),
        last_touch,
        breakdown,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_read_decays_every_kind_and_ranks_them() {
        let model = ScoringModel::default();
        let then = Utc::now();
        let scores = vec![
            (
                Kind::EmailOpened,
                Decayed {
                    score: 4.0,
                    as_of: then,
                },
            ),
            (
                Kind::Meeting,
                Decayed {
                    score: 20.0,
                    as_of: then,
                },
            ),
        ];
        let now = then + Duration::days(14);
        let read = engagement_at(&model, scores, Some(State::Engaged), Some(then), now);
        assert_eq!(read.score, 12.0);
        assert_eq!(
            read.breakdown,
            [(Kind::Meeting, 10.0), (Kind::EmailOpened, 2.0)]
        );
        // 12 is below engaged_exit (15): no longer engaged.
        assert_eq!(read.state, State::Cooling);
    }
}
