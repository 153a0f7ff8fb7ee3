//! Heatmap queries: touch counts by ISO weekday and hour in the tenant's time zone.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::kind::Kind;
use super::{FieldViolation, Violations};

/// A heatmap covers at most a year (and a leap day).
pub const MAX_RANGE: Duration = Duration::days(366);

#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapQuery {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub kind: Option<Kind>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
}

impl HeatmapQuery {
    pub fn validate(&self) -> Result<(), Vec<FieldViolation>> {
        let mut v = Violations::new();
        if self.end <= self.start {
            v.add("end_time", "must be after start_time");
        } else if self.end - self.start > MAX_RANGE {
            v.add("end_time", "must be at most 366 days after start_time");
        }
        v.finish()
    }
}

/// One cell: ISO weekday (1 = Monday ... 7 = Sunday), hour 0-23, touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub weekday: u32,
    pub hour: u32,
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_over_a_year_or_backwards_is_refused() {
        let start = Utc::now();
        let query = |end| HeatmapQuery {
            start,
            end,
            kind: None,
            owner_id: None,
            account_id: None,
        };
        assert!(query(start + Duration::days(90)).validate().is_ok());
        assert!(query(start + Duration::days(367)).validate().is_err());
        assert!(query(start - Duration::days(1)).validate().is_err());
    }
}
