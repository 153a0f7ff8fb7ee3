//! Calendar dates in filters: strictly `YYYY-MM-DD`, as the APIs exchange them.

use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("must be a date in the form YYYY-MM-DD")]
    Format,
    #[error("is not a calendar date")]
    Calendar,
}

/// Strictly `YYYY-MM-DD` with zero padding: `2026-3-1` and `01/03/2026` are refused.
pub fn parse_date(raw: &str) -> Result<NaiveDate, DateError> {
    let bytes = raw.as_bytes();
    let shape = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                *b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape {
        return Err(DateError::Format);
    }
    let number =
        |range: std::ops::Range<usize>| raw[range].parse::<u32>().map_err(|_| DateError::Format);
    let year = i32::try_from(number(0..4)?).map_err(|_| DateError::Format)?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?).ok_or(DateError::Calendar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_padded_iso_dates_parse() {
        assert_eq!(
            parse_date("2026-03-01"),
            Ok(NaiveDate::from_ymd_opt(2026, 3, 1).expect("date"))
        );
        assert_eq!(parse_date("2026-3-1"), Err(DateError::Format));
        assert_eq!(parse_date("01/03/2026"), Err(DateError::Format));
        assert_eq!(parse_date("2026-03-01T00:00:00Z"), Err(DateError::Format));
        assert_eq!(parse_date(""), Err(DateError::Format));
        assert_eq!(parse_date("2026-02-30"), Err(DateError::Calendar));
        assert_eq!(parse_date("2026-13-01"), Err(DateError::Calendar));
    }
}
