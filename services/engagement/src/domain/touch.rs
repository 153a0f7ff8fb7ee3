//! A touch as parsed at the edge (API or event mapping), and the checks every touch passes.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::kind::Kind;
use super::record::RecordRef;

/// Batches hold at most this many touches.
pub const MAX_BATCH: usize = 500;
/// A touch may be this far in the future (clock skew of the sender).
pub const MAX_FUTURE: Duration = Duration::minutes(5);
/// Request ids are at most this long.
pub const MAX_REQUEST_ID_CHARS: usize = 100;
/// Attribution fields are at most this long.
pub const MAX_TEXT_CHARS: usize = 500;

/// Where a touch came from (source, campaign and UTM fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    pub channel: String,
    pub source: String,
    pub campaign: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
}

/// A touch to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTouch {
    /// The idempotency key, unique per tenant.
    pub request_id: String,
    pub kind: Kind,
    pub record: RecordRef,
    pub occurred_at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub attribution: Attribution,
}

/// A recorded touch.
#[derive(Debug, Clone, PartialEq)]
pub struct Touch {
    pub id: Uuid,
    pub touch: NewTouch,
    /// Points scored when recorded (0 past the daily cap).
    pub points: f64,
    pub created_at: DateTime<Utc>,
}

/// Whether `occurred` is acceptable at `now`: at most [`MAX_FUTURE`] ahead.
pub fn check_time(occurred: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), &'static str> {
    if occurred > now + MAX_FUTURE {
        Err("must not be more than 5 minutes in the future")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touch_more_than_five_minutes_ahead_is_refused() {
        let now = Utc::now();
        assert!(check_time(now + Duration::minutes(4), now).is_ok());
        assert!(check_time(now - Duration::days(400), now).is_ok());
        assert!(check_time(now + Duration::minutes(6), now).is_err());
    }
}
