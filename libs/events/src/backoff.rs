use std::time::Duration;

use rand::Rng;

/// Exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min(initial * 2^(n-1), max)`. The jitter spreads replicas that failed together (a broker
/// restart) so they do not reconnect in lockstep; the guaranteed half keeps the delay growing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay ceiling of the first attempt.
    pub initial: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Backoff {
    /// Reconnecting to the broker (relay and consumers): the first attempts come within a
    /// fraction of a second, so a blip (a closed connection, a broker restart that takes a
    /// moment) costs little; the delay doubles only while attempts keep failing, and stops at a
    /// few seconds, which bounds the event lag once a long outage ends (docs/operations.md,
    /// "Broker outages and event lag"). Attempts: 50–100 ms, 100–200 ms, 200–400 ms, 0.4–0.8 s,
    /// 0.8–1.6 s, 1.6–3.2 s, then 2.5–5 s until the broker answers.
    pub const RECONNECT: Self = Self::new(Duration::from_millis(100), Duration::from_secs(5));

    /// A backoff from `initial` doubling up to `max`.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// Delay ceiling for a 1-based attempt number, without jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << exponent)
            .map_or(self.max, |delay| delay.min(self.max))
    }

    /// Jittered delay for a 1-based attempt number.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rand::thread_rng().gen_range(0..=spread))
    }
}

/// A session (relay or consumer) that ran this long before failing was connected to a working
/// broker: its failure is a new outage, so reconnecting starts fast again.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// The reconnect attempts of one relay or consumer: fast after a session that had been working,
/// growing only while sessions keep failing (the broker stays down).
#[derive(Debug)]
pub(crate) struct Reconnects {
    backoff: Backoff,
    attempt: u32,
}

impl Reconnects {
    pub(crate) fn new(backoff: Backoff) -> Self {
        Self {
            backoff,
            attempt: 0,
        }
    }

    /// The attempt number and the wait before reconnecting, after a session that `lasted` this
    /// long has failed.
    pub(crate) fn after_failure(&mut self, lasted: Duration) -> (u32, Duration) {
        if lasted >= STABLE_SESSION {
            self.attempt = 0;
        }
        self.attempt = self.attempt.saturating_add(1);
        (self.attempt, self.backoff.delay(self.attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    /// Samples per attempt when checking jitter bounds.
    const SAMPLES: usize = 200;

    #[test]
    fn ceiling_doubles_per_attempt_until_the_maximum() {
        assert_eq!(BACKOFF.ceiling(0), Duration::from_millis(100));
        assert_eq!(BACKOFF.ceiling(1), Duration::from_millis(100));
        assert_eq!(BACKOFF.ceiling(2), Duration::from_millis(200));
        assert_eq!(BACKOFF.ceiling(4), Duration::from_millis(800));
        assert_eq!(BACKOFF.ceiling(7), Duration::from_secs(5));
        assert_eq!(BACKOFF.ceiling(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn jittered_delay_stays_between_half_and_the_ceiling() {
        for attempt in 1..12 {
            let ceiling = BACKOFF.ceiling(attempt);
            for _ in 0..SAMPLES {
                let delay = BACKOFF.delay(attempt);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{delay:?} for {attempt}"
                );
            }
        }
    }

    #[test]
    fn jitter_spreads_replicas_that_fail_together() {
        let delays: std::collections::HashSet<Duration> =
            (0..SAMPLES).map(|_| Backoff::RECONNECT.delay(1)).collect();
        assert!(delays.len() > 1, "every replica would wait {delays:?}");
    }

    #[test]
    fn zero_backoff_never_waits() {
        let none = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(none.delay(3), Duration::ZERO);
    }

    #[test]
    fn the_first_reconnects_come_well_under_a_second() {
        // Three attempts in a row fit in well under a second, whatever the jitter drew.
        let first_three: Duration = (1..=3).map(|n| Backoff::RECONNECT.ceiling(n)).sum();
        assert!(first_three <= Duration::from_millis(700), "{first_three:?}");
        for _ in 0..SAMPLES {
            assert!(Backoff::RECONNECT.delay(1) <= Duration::from_millis(100));
        }
    }

    #[test]
    fn reconnect_delays_grow_with_each_failure_up_to_a_cap_of_seconds() {
        let ceilings: Vec<Duration> = (1..=12).map(|n| Backoff::RECONNECT.ceiling(n)).collect();
        for pair in ceilings.windows(2) {
            assert!(pair[1] >= pair[0], "{ceilings:?}");
        }
        // The cap is what bounds the event lag after an outage ends (docs/operations.md).
        assert_eq!(ceilings.last(), Some(&Duration::from_secs(5)));
        assert_eq!(Backoff::RECONNECT.ceiling(u32::MAX), Duration::from_secs(5));
        for _ in 0..SAMPLES {
            assert!(Backoff::RECONNECT.delay(u32::MAX) <= Duration::from_secs(5));
        }
        // Grown for real: the least a sixth attempt waits exceeds the most a first one does.
        assert!(Backoff::RECONNECT.ceiling(6) / 2 > Backoff::RECONNECT.ceiling(1));
    }

    #[test]
    fn reconnects_grow_only_while_sessions_keep_failing() {
        let mut reconnects = Reconnects::new(Backoff::RECONNECT);
        let quick = Duration::from_millis(10);
        let attempts: Vec<u32> = (0..4).map(|_| reconnects.after_failure(quick).0).collect();
        assert_eq!(
            attempts,
            [1, 2, 3, 4],
            "each failed attempt backs off further"
        );
        let (attempt, delay) = reconnects.after_failure(quick);
        assert_eq!(attempt, 5);
        assert!(delay >= Backoff::RECONNECT.ceiling(5) / 2);
    }

    #[test]
    fn a_failure_after_a_working_session_reconnects_fast_again() {
        let mut reconnects = Reconnects::new(Backoff::RECONNECT);
        for _ in 0..10 {
            reconnects.after_failure(Duration::ZERO);
        }
        let (attempt, delay) = reconnects.after_failure(STABLE_SESSION);
        assert_eq!(attempt, 1);
        assert!(delay <= Backoff::RECONNECT.initial, "{delay:?}");
    }
}
