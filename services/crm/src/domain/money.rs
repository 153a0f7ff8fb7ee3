//! Money in the google.type.Money shape: an ISO 4217 currency, whole units and nanos. Never a
//! float; precision beyond the currency's minor unit is refused rather than rounded.

use std::fmt;

use iso_currency::Currency;

pub const NANOS_PER_UNIT: i32 = 1_000_000_000;
/// Larger amounts are typing mistakes, and this keeps sums of many deals far from i64 overflow.
pub const MAX_UNITS: i64 = 1_000_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    currency: Currency,
    units: i64,
    nanos: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("is required")]
    MissingCurrency,
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
    #[error("must be between -999999999 and 999999999")]
    NanosRange,
    #[error("must have the same sign as units")]
    Sign,
    #[error("{currency} has {digits} decimal places; more precision is not allowed")]
    Precision { currency: &'static str, digits: u16 },
    #[error("must be at most {MAX_UNITS} in absolute value")]
    TooLarge,
    #[error("must not be negative")]
    Negative,
}

impl MoneyError {
    /// The google.type.Money field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            MoneyError::MissingCurrency | MoneyError::Currency(_) => "currency_code",
            MoneyError::NanosRange | MoneyError::Sign | MoneyError::Precision { .. } => "nanos",
            MoneyError::TooLarge | MoneyError::Negative => "units",
        }
    }
}

impl Money {
    pub fn parse(currency_code: &str, units: i64, nanos: i32) -> Result<Self, MoneyError> {
        if currency_code.is_empty() {
            return Err(MoneyError::MissingCurrency);
        }
        let currency = Currency::from_code(currency_code)
            .ok_or_else(|| MoneyError::Currency(currency_code.to_owned()))?;
        if nanos.unsigned_abs() >= NANOS_PER_UNIT as u32 {
            return Err(MoneyError::NanosRange);
        }
        if (units > 0 && nanos < 0) || (units < 0 && nanos > 0) {
            return Err(MoneyError::Sign);
        }
        if units.unsigned_abs() > MAX_UNITS as u64 {
            return Err(MoneyError::TooLarge);
        }
        if let Some(digits) = currency.exponent() {
            let step = 10_i32.pow(9_u32.saturating_sub(u32::from(digits)));
            if nanos % step != 0 {
                return Err(MoneyError::Precision {
                    currency: currency.code(),
                    digits,
                });
            }
        }
        Ok(Self {
            currency,
            units,
            nanos,
        })
    }

    /// Amounts of deals and revenues: zero or more.
    pub fn parse_non_negative(
        currency_code: &str,
        units: i64,
        nanos: i32,
    ) -> Result<Self, MoneyError> {
        let money = Self::parse(currency_code, units, nanos)?;
        if money.units < 0 || money.nanos < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(money)
    }

    pub fn currency_code(&self) -> &'static str {
        self.currency.code()
    }

    pub fn units(&self) -> i64 {
        self.units
    }

    pub fn nanos(&self) -> i32 {
        self.nanos
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.units < 0 || self.nanos < 0 {
            "-"
        } else {
            ""
        };
        write!(
            f,
            "{} {sign}{}.{:09}",
            self.currency.code(),
            self.units.unsigned_abs(),
            self.nanos.unsigned_abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_amounts_within_the_currency_precision() {
        let usd = Money::parse("USD", 12_000, 500_000_000).expect("valid");
        assert_eq!(
            (usd.currency_code(), usd.units(), usd.nanos()),
            ("USD", 12_000, 500_000_000)
        );
        assert!(Money::parse("JPY", 1_000, 0).is_ok());
        assert!(Money::parse("BHD", 1, 5_000_000).is_ok(), "three decimals");
        assert!(Money::parse("EUR", -3, -10_000_000).is_ok());
        assert_eq!(usd.to_string(), "USD 12000.500000000");
    }

    #[test]
    fn rejects_bad_currency_sign_range_and_precision() {
        assert_eq!(Money::parse("", 1, 0), Err(MoneyError::MissingCurrency));
        assert_eq!(
            Money::parse("XYZ", 1, 0),
            Err(MoneyError::Currency("XYZ".into()))
        );
        assert_eq!(
            Money::parse("usd", 1, 0),
            Err(MoneyError::Currency("usd".into()))
        );
        assert_eq!(
            Money::parse("USD", 1, 1_000_000_000),
            Err(MoneyError::NanosRange)
        );
        assert_eq!(Money::parse("USD", 1, -10_000_000), Err(MoneyError::Sign));
        assert_eq!(
            Money::parse("USD", 1, 1),
            Err(MoneyError::Precision {
                currency: "USD",
                digits: 2
            })
        );
        assert_eq!(
            Money::parse("JPY", 1, 500_000_000).map_err(|e| e.field()),
            Err("nanos")
        );
        assert_eq!(
            Money::parse("USD", MAX_UNITS + 1, 0),
            Err(MoneyError::TooLarge)
        );
        assert_eq!(
            Money::parse_non_negative("USD", -1, 0),
            Err(MoneyError::Negative)
        );
        assert_eq!(
            Money::parse_non_negative("USD", 0, -10_000_000),
            Err(MoneyError::Negative)
        );
    }
}
