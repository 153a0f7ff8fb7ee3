//! Calendar dates exchanged as `YYYY-MM-DD` (close dates).

use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DayError {
    #[error("must be a date in the form YYYY-MM-DD")]
    Format,
    #[error("is not a calendar date")]
    Calendar,
}

/// Strictly `YYYY-MM-DD` with zero padding: `2026-3-1` and `01/03/2026` are refused.
pub fn parse(raw: &str) -> Result<NaiveDate, DayError> {
    let bytes = raw.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return Err(DayError::Format);
    }
    let number = |range: std::ops::Range<usize>| raw[range].parse::<u32>().unwrap_or(0);
    let year = i32::try_from(number(0..4)).map_err(|_| DayError::Format)?;
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10)).ok_or(DayError::Calendar)
}

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
