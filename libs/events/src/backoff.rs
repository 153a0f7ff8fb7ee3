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

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));

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
            for _ in 0..100 {
                let delay = BACKOFF.delay(attempt);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{delay:?} for {attempt}"
                );
            }
        }
    }

    #[test]
    fn zero_backoff_never_waits() {
        let none = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(none.delay(3), Duration::ZERO);
    }
}
