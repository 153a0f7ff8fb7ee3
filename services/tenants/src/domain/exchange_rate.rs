//! The tenant's dated exchange rates against its own currency. The arithmetic (the rate in
//! force on a date, conversion, rounding) is `libs/fx`'s, shared with the services that convert.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// A stored rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRate {
    pub tenant_id: Uuid,
    pub currency_code: String,
    pub effective_date: NaiveDate,
    /// Billionths of the base currency one unit of `currency_code` is worth.
    pub rate: i64,
    /// The tenant's currency when the rate was set.
    pub base_currency_code: String,
    pub updated_at: DateTime<Utc>,
}

/// A validated rate to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExchangeRate {
    pub currency_code: String,
    pub effective_date: NaiveDate,
    pub rate: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("must be a date as YYYY-MM-DD")]
    Format,
}

/// `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<NaiveDate, DateError> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| DateError::Format)
}

/// The event and log key of a rate: `EUR/2026-01-01`.
pub fn key(currency_code: &str, effective_date: NaiveDate) -> String {
    format!("{currency_code}/{effective_date}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_days() {
        assert_eq!(
            parse_date("2026-07-01"),
            Ok(NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default())
        );
        assert_eq!(parse_date("2026-02-30"), Err(DateError::Format));
        assert_eq!(parse_date("01.07.2026"), Err(DateError::Format));
        assert_eq!(parse_date(""), Err(DateError::Format));
    }
}
