//! Currency conversion with a tenant's rate table.
//!
//! A tenant keeps one table of dated exchange rates against its own currency (the *base*): a
//! rate says how many units of the base one unit of a currency is worth from its effective date
//! until the next rate of that currency. Rates are integers in billionths (`1.0825` is
//! `1_082_500_000`), never floats. Converting between two currencies goes through the base with
//! the rates in force on the given date, computed exactly in `i128` and rounded once to the
//! target's minor unit, half to even, as the services' money arithmetic does.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use iso_currency::Currency;

/// Rates are scaled by this: one billionth is the finest step of a rate.
pub const RATE_SCALE: i64 = 1_000_000_000;
/// The largest rate accepted (one unit worth a billion units of the base).
pub const MAX_RATE: i64 = 1_000_000_000 * RATE_SCALE;

/// Why a rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("must be a positive decimal number such as 1.0825")]
    Syntax,
    #[error("has more than 9 decimal places")]
    Precision,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must be at most 1000000000")]
    TooLarge,
}

/// Why an amount could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
    #[error("no {currency} rate in force on {date}")]
    NoRate { currency: String, date: NaiveDate },
    #[error("the converted amount does not fit")]
    Overflow,
}

/// Reads a decimal rate (`"1.0825"`) into billionths.
pub fn parse_rate(raw: &str) -> Result<i64, RateError> {
    let raw = raw.trim();
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(RateError::Syntax);
    }
    if fraction.len() > 9 {
        return Err(RateError::Precision);
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| RateError::TooLarge)?
    };
    let mut scaled_fraction: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| RateError::Syntax)?
    };
    for _ in fraction.len()..9 {
        scaled_fraction *= 10;
    }
    let rate = whole
        .checked_mul(RATE_SCALE)
        .and_then(|w| w.checked_add(scaled_fraction))
        .ok_or(RateError::TooLarge)?;
    check_rate(rate)
}

/// A rate in billionths is positive and at most [`MAX_RATE`].
pub fn check_rate(billionths: i64) -> Result<i64, RateError> {
    if billionths <= 0 {
        Err(RateError::NotPositive)
    } else if billionths > MAX_RATE {
        Err(RateError::TooLarge)
    } else {
        Ok(billionths)
    }
}

/// Billionths as the shortest decimal: `1_082_500_000` → `"1.0825"`, `2 * RATE_SCALE` → `"2"`.
pub fn format_rate(billionths: i64) -> String {
    let whole = billionths / RATE_SCALE;
    let fraction = (billionths % RATE_SCALE).abs();
    if fraction == 0 {
        return whole.to_string();
    }
    let text = format!("{whole}.{fraction:09}");
    text.trim_end_matches('0').to_owned()
}

/// Decimal places of a currency's minor unit (2 for USD, 0 for JPY).
pub fn minor_exponent(currency_code: &str) -> Result<u32, ConvertError> {
    let currency = Currency::from_code(currency_code)
        .ok_or_else(|| ConvertError::Currency(currency_code.to_owned()))?;
    Ok(u32::from(currency.exponent().unwrap_or(0)))
}

/// `num / den` rounded half to even; `den` must be positive.
pub fn round_half_even(num: i128, den: i128) -> i128 {
    let quotient = num.div_euclid(den);
    let twice = 2 * num.rem_euclid(den);
    if twice > den || (twice == den && quotient % 2 != 0) {
        quotient + 1
    } else {
        quotient
    }
}

/// One dated rate of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub currency_code: String,
    pub effective_date: NaiveDate,
    /// Billionths of the base currency one unit of `currency_code` is worth.
    pub rate: i64,
}

/// A tenant's rates against its base currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateTable {
    base: String,
    /// Per currency, rate by effective date.
    rates: BTreeMap<String, BTreeMap<NaiveDate, i64>>,
}

impl RateTable {
    pub fn new(base: impl Into<String>, rates: impl IntoIterator<Item = Rate>) -> Self {
        let mut table = Self {
            base: base.into(),
            rates: BTreeMap::new(),
        };
        for rate in rates {
            table
                .rates
                .entry(rate.currency_code)
                .or_default()
                .insert(rate.effective_date, rate.rate);
        }
        table
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The rate of `currency` in force on `date`: the latest one effective on or before it. The
    /// base is always worth exactly one.
    pub fn rate_on(&self, currency: &str, date: NaiveDate) -> Option<i64> {
        if currency == self.base {
            return Some(RATE_SCALE);
        }
        self.rates
            .get(currency)?
            .range(..=date)
            .next_back()
            .map(|(_, rate)| *rate)
    }

    /// The days after `start`, up to `end`, on which some currency's rate changes: between two
    /// of them (and `start`) every rate in force stays the same. Sorted, without duplicates.
    pub fn changes_between(&self, start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
        let mut days: Vec<NaiveDate> = self
            .rates
            .values()
            .flat_map(|by_date| by_date.keys().copied())
            .filter(|day| *day > start && *day <= end)
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// `amount` minor units of `from` in minor units of `to`, at the rates in force on `date`.
    pub fn convert(
        &self,
        amount: i64,
        from: &str,
        to: &str,
        date: NaiveDate,
    ) -> Result<i64, ConvertError> {
        if from == to {
            minor_exponent(from)?;
            return Ok(amount);
        }
        let from_exponent = minor_exponent(from)?;
        let to_exponent = minor_exponent(to)?;
        let missing = |currency: &str| ConvertError::NoRate {
            currency: currency.to_owned(),
            date,
        };
        let from_rate = self.rate_on(from, date).ok_or_else(|| missing(from))?;
        let to_rate = self.rate_on(to, date).ok_or_else(|| missing(to))?;
        convert_at(amount, (from_rate, from_exponent), (to_rate, to_exponent))
    }
}

/// `amount` minor units of a currency worth `from.0` (exponent `from.1`) in minor units of one
/// worth `to.0` (exponent `to.1`): exact, then rounded once, half to even.
pub fn convert_at(amount: i64, from: (i64, u32), to: (i64, u32)) -> Result<i64, ConvertError> {
    let (from_rate, from_exponent) = from;
    let (to_rate, to_exponent) = to;
    if to_rate <= 0 {
        return Err(ConvertError::Overflow);
    }
    let num = i128::from(amount)
        .checked_mul(i128::from(from_rate))
        .and_then(|n| n.checked_mul(10_i128.pow(to_exponent)))
        .ok_or(ConvertError::Overflow)?;
    let den = i128::from(to_rate) * 10_i128.pow(from_exponent);
    i64::try_from(round_half_even(num, den)).map_err(|_| ConvertError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn table() -> RateTable {
        RateTable::new(
            "USD",
            [
                Rate {
                    currency_code: "EUR".into(),
                    effective_date: day(2026, 1, 1),
                    rate: 1_100_000_000,
                },
                Rate {
                    currency_code: "EUR".into(),
                    effective_date: day(2026, 7, 1),
                    rate: 1_200_000_000,
                },
                Rate {
                    currency_code: "JPY".into(),
                    effective_date: day(2026, 1, 1),
                    rate: 6_500_000,
                },
            ],
        )
    }

    #[test]
    fn rates_parse_and_format_as_decimals() {
        assert_eq!(parse_rate("1.0825"), Ok(1_082_500_000));
        assert_eq!(parse_rate("2"), Ok(2 * RATE_SCALE));
        assert_eq!(parse_rate(".5"), Ok(500_000_000));
        assert_eq!(parse_rate("0.000000001"), Ok(1));
        assert_eq!(parse_rate("1.0000000001"), Err(RateError::Precision));
        assert_eq!(parse_rate("0"), Err(RateError::NotPositive));
        assert_eq!(parse_rate("-1"), Err(RateError::Syntax));
        assert_eq!(parse_rate("1e3"), Err(RateError::Syntax));
        assert_eq!(parse_rate(""), Err(RateError::Syntax));
        assert_eq!(parse_rate("."), Err(RateError::Syntax));
        assert_eq!(parse_rate("1000000001"), Err(RateError::TooLarge));
        assert_eq!(parse_rate("99999999999999999999"), Err(RateError::TooLarge));
        assert_eq!(format_rate(1_082_500_000), "1.0825");
        assert_eq!(format_rate(2 * RATE_SCALE), "2");
        assert_eq!(format_rate(1), "0.000000001");
    }

    #[test]
    fn the_rate_in_force_is_the_latest_effective_on_or_before_the_date() {
        let t = table();
        assert_eq!(t.rate_on("EUR", day(2025, 12, 31)), None);
        assert_eq!(t.rate_on("EUR", day(2026, 1, 1)), Some(1_100_000_000));
        assert_eq!(t.rate_on("EUR", day(2026, 6, 30)), Some(1_100_000_000));
        assert_eq!(t.rate_on("EUR", day(2026, 7, 1)), Some(1_200_000_000));
        assert_eq!(t.rate_on("USD", day(1990, 1, 1)), Some(RATE_SCALE));
        assert_eq!(t.rate_on("GBP", day(2026, 7, 1)), None);
    }

    #[test]
    fn rate_changes_inside_a_period_are_listed_once() {
        let t = table();
        assert_eq!(
            t.changes_between(day(2025, 12, 1), day(2026, 12, 31)),
            [day(2026, 1, 1), day(2026, 7, 1)]
        );
        // The period's first day is not a change inside it.
        assert_eq!(t.changes_between(day(2026, 1, 1), day(2026, 6, 30)), []);
    }

    #[test]
    fn amounts_convert_through_the_base_with_one_rounding() {
        let t = table();
        // 100.00 EUR at 1.1 = 110.00 USD, and back.
        assert_eq!(t.convert(10_000, "EUR", "USD", day(2026, 3, 1)), Ok(11_000));
        assert_eq!(t.convert(11_000, "USD", "EUR", day(2026, 3, 1)), Ok(10_000));
        // Cross rate through the base: 1000 JPY = 6.50 USD = 5.909… EUR at 1.1 → 5.91 EUR.
        assert_eq!(t.convert(1_000, "JPY", "EUR", day(2026, 3, 1)), Ok(591));
        // 0 decimals: 1.00 USD = 153.846… JPY → 154.
        assert_eq!(t.convert(100, "USD", "JPY", day(2026, 3, 1)), Ok(154));
        // Same currency needs no rate.
        assert_eq!(t.convert(5, "GBP", "GBP", day(2020, 1, 1)), Ok(5));
        assert_eq!(
            t.convert(5, "GBP", "USD", day(2026, 3, 1)),
            Err(ConvertError::NoRate {
                currency: "GBP".into(),
                date: day(2026, 3, 1)
            })
        );
        assert_eq!(
            t.convert(5, "XXX1", "USD", day(2026, 3, 1)),
            Err(ConvertError::Currency("XXX1".into()))
        );
    }

    #[test]
    fn halves_round_to_even() {
        // 0.05 at 0.5 = 0.025 → 0.02; 0.07 at 0.5 = 0.035 → 0.04; negatives mirror.
        assert_eq!(convert_at(5, (500_000_000, 2), (RATE_SCALE, 2)), Ok(2));
        assert_eq!(convert_at(7, (500_000_000, 2), (RATE_SCALE, 2)), Ok(4));
        assert_eq!(convert_at(-5, (500_000_000, 2), (RATE_SCALE, 2)), Ok(-2));
        assert_eq!(
            convert_at(i64::MAX, (MAX_RATE, 2), (1, 2)),
            Err(ConvertError::Overflow)
        );
    }
}
