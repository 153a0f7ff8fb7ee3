//! The disengaged accounts report: accounts whose score fell into the disengaged state (with
//! hysteresis) or that had no touch for a number of days, ranked by the open pipeline at risk.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// "No touch in N days" when the caller does not say.
pub const DEFAULT_INACTIVE_DAYS: u32 = 30;
/// At most ten years.
pub const MAX_INACTIVE_DAYS: u32 = 3_650;

const NANOS_PER_UNIT: i128 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportQuery {
    /// Only accounts this user owns.
    pub owner_id: Option<Uuid>,
    pub inactive_days: u32,
}

/// A sum of money in the google.type.Money shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub currency_code: String,
    pub units: i64,
    pub nanos: i32,
}

impl Money {
    /// `total_nanos` (units × 10⁹ + nanos, not negative) as units and nanos; `None` when it does
    /// not fit.
    pub fn from_nanos(currency_code: &str, total_nanos: i128) -> Option<Money> {
        let units = i64::try_from(total_nanos.div_euclid(NANOS_PER_UNIT)).ok()?;
        let nanos = i32::try_from(total_nanos.rem_euclid(NANOS_PER_UNIT)).ok()?;
        Some(Money {
            currency_code: currency_code.to_owned(),
            units,
            nanos,
        })
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct DisengagedAccount {
    pub account_id: Uuid,
    pub owner_id: Option<Uuid>,
    /// The score now.
    pub score: f64,
    pub last_touch: Option<DateTime<Utc>>,
    /// Open opportunities of the account in the tenant's currency.
    pub open_pipeline: Money,
}

/// The keyset position after a row: open pipeline (nanos, as text to keep i128 out of JSON
/// numbers) and account id, both descending.
pub type ReportKey = (String, Uuid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanos_split_into_units_and_nanos() {
        assert_eq!(
            Money::from_nanos("EUR", 12_500_000_000),
            Some(Money {
                currency_code: "EUR".into(),
                units: 12,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            Money::from_nanos("EUR", 0).map(|m| (m.units, m.nanos)),
            Some((0, 0))
        );
        assert_eq!(Money::from_nanos("EUR", i128::MAX), None);
    }
}
