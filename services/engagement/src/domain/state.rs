//! Engaged, cooling, disengaged, with hysteresis: entering a state takes crossing its threshold,
//! leaving it takes crossing a second one further away, so a score hovering at a threshold
//! does not flap.

use super::{FieldViolation, Violations};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Engaged,
    Cooling,
    Disengaged,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Engaged => "engaged",
            State::Cooling => "cooling",
            State::Disengaged => "disengaged",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [State::Engaged, State::Cooling, State::Disengaged]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// `disengaged_enter < disengaged_exit <= engaged_exit < engaged_enter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub engaged_enter: f64,
    pub engaged_exit: f64,
    pub disengaged_enter: f64,
    pub disengaged_exit: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            engaged_enter: 20.0,
            engaged_exit: 15.0,
            disengaged_enter: 3.0,
            disengaged_exit: 5.0,
        }
    }
}

impl Thresholds {
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        let all = [
            ("disengaged_enter", self.disengaged_enter),
            ("disengaged_exit", self.disengaged_exit),
            ("engaged_exit", self.engaged_exit),
            ("engaged_enter", self.engaged_enter),
        ];
        for (field, value) in all {
            if !(value.is_finite() && value >= 0.0) {
                v.add(field, "must be a number of at least 0");
            }
        }
        if v.is_empty() {
            if self.disengaged_exit <= self.disengaged_enter {
                v.add("disengaged_exit", "must be greater than disengaged_enter");
            }
            if self.engaged_exit < self.disengaged_exit {
                v.add("engaged_exit", "must be at least disengaged_exit");
            }
            if self.engaged_enter <= self.engaged_exit {
                v.add("engaged_enter", "must be greater than engaged_exit");
            }
        }
        v.finish()
    }

    /// The state at `score` for a record that was in `previous` (`None`: never scored).
    pub fn next(&self, previous: Option<State>, score: f64) -> State {
        let fresh = || {
            if score >= self.engaged_enter {
                State::Engaged
            } else if score < self.disengaged_enter {
                State::Disengaged
            } else {
                State::Cooling
            }
        };
        match previous {
            Some(State::Engaged) if score >= self.engaged_exit => State::Engaged,
            Some(State::Disengaged) if score < self.disengaged_exit => State::Disengaged,
            // Leaving engaged or disengaged lands in cooling unless the other end was reached.
            Some(State::Engaged | State::Disengaged | State::Cooling) | None => fresh(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn entering_and_leaving_take_different_thresholds() {
        let t = Thresholds::default();
        assert_eq!(t.next(None, 25.0), State::Engaged);
        assert_eq!(t.next(Some(State::Engaged), 16.0), State::Engaged);
        assert_eq!(t.next(Some(State::Engaged), 14.9), State::Cooling);
        assert_eq!(t.next(Some(State::Cooling), 19.9), State::Cooling);
        assert_eq!(t.next(Some(State::Cooling), 2.9), State::Disengaged);
        assert_eq!(t.next(Some(State::Disengaged), 4.9), State::Disengaged);
        assert_eq!(t.next(Some(State::Disengaged), 5.0), State::Cooling);
        assert_eq!(t.next(Some(State::Disengaged), 30.0), State::Engaged);
        assert_eq!(t.next(Some(State::Engaged), 1.0), State::Disengaged);
        assert_eq!(t.next(None, 0.0), State::Disengaged);
    }

    #[test]
    fn thresholds_out_of_order_are_refused() {
        let t = Thresholds {
            engaged_enter: 10.0,
            engaged_exit: 12.0,
            ..Thresholds::default()
        };
        let fields: Vec<String> = t
            .validate()
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["engaged_enter"]);
        assert!(Thresholds::default().validate().is_ok());
    }

    proptest! {
        /// A score wobbling around any threshold by less than the hysteresis band changes the
        /// state at most once.
        #[test]
        fn a_score_hovering_at_a_threshold_does_not_flap(
            centre in prop_oneof![Just(3.0f64), Just(5.0), Just(15.0), Just(20.0)],
            wobble in proptest::collection::vec(-0.99f64..0.99, 2..50),
        ) {
            let t = Thresholds::default();
            let mut state = None;
            let mut changes = 0;
            for w in wobble {
                let next = t.next(state, centre + w);
                if state.is_some_and(|s| s != next) {
                    changes += 1;
                }
                state = Some(next);
            }
            prop_assert!(changes <= 1, "{changes} changes around {centre}");
        }
    }
}
