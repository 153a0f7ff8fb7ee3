//! Calendar dates exchanged as `YYYY-MM-DD` (close dates).

use chrono::{Datelike, NaiveDate};

/// Strictly `YYYY-MM-DD` with zero padding, the one rule the filters' dates follow too.
pub use ::filter::{DateError as DayError, parse_date as parse};

pub fn format(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_padded_iso_dates() {
        let date = parse("2026-03-01").expect("valid");
        assert_eq!(format(date), "2026-03-01");
        assert_eq!(parse("2026-3-1"), Err(DayError::Format));
        assert_eq!(parse("01/03/2026"), Err(DayError::Format));
        assert_eq!(parse("2026-03-01T00:00:00Z"), Err(DayError::Format));
        assert_eq!(parse(""), Err(DayError::Format));
        assert_eq!(parse("2026-02-30"), Err(DayError::Calendar));
        assert_eq!(parse("2026-13-01"), Err(DayError::Calendar));
    }
}
