//! Backoff after failed logins: free attempts first, then locks that double in length.

use std::time::Duration;

/// Consecutive failures allowed before the account is locked.
pub const FREE_ATTEMPTS: u32 = 5;
const BASE_LOCK: Duration = Duration::from_secs(30);
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// How long to lock an account after its `failures`-th consecutive failure (`None`: no lock).
pub fn lock_for(failures: u32) -> Option<Duration> {
    if failures < FREE_ATTEMPTS {
        return None;
    }
    let doublings = (failures - FREE_ATTEMPTS).min(16);
    Some(BASE_LOCK.saturating_mul(1 << doublings).min(MAX_LOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failures_are_free() {
        assert_eq!(lock_for(0), None);
        assert_eq!(lock_for(FREE_ATTEMPTS - 1), None);
    }

    #[test]
    fn locks_double_and_are_capped() {
        assert_eq!(lock_for(FREE_ATTEMPTS), Some(Duration::from_secs(30)));
        assert_eq!(lock_for(FREE_ATTEMPTS + 1), Some(Duration::from_secs(60)));
        assert_eq!(lock_for(FREE_ATTEMPTS + 2), Some(Duration::from_secs(120)));
        assert_eq!(lock_for(FREE_ATTEMPTS + 10), Some(MAX_LOCK));
        assert_eq!(lock_for(u32::MAX), Some(MAX_LOCK));
    }
}
