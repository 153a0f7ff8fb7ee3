//! The tenant's fiscal calendar (its fiscal year starts in a month set in the tenants service)
//! and the forecast periods named in it.
//!
//! A fiscal year is named after the calendar year it ends in: with a year starting in April,
//! FY2027 runs from 2026-04-01 to 2027-03-31; starting in January, FY2027 is calendar 2027.
//! Names: `FY2027` (the year), `FY2027-Q1` … `FY2027-Q4` (quarters) and `FY2027-M01` …
//! `FY2027-M12` (months, counted from the first month of the fiscal year).

use chrono::{Datelike, Months, NaiveDate};

/// Fiscal years the forecast may name.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalCalendar {
    start_month: u32,
}

impl Default for FiscalCalendar {
    fn default() -> Self {
        Self { start_month: 1 }
    }
}

/// A named period: its name and first and last day (inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiscalPeriod {
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalPeriodError {
    #[error("must name a fiscal period: FY2027, FY2027-Q1 or FY2027-M01")]
    Syntax,
    #[error("fiscal years run from FY{} to FY{}", YEARS.start(), YEARS.end())]
    Year,
    #[error("is outside the fiscal calendar: a fiscal year has quarters Q1 to Q4")]
    Quarter,
    #[error("is outside the fiscal calendar: a fiscal year has months M01 to M12")]
    Month,
}

impl FiscalCalendar {
    /// A month outside 1-12 means January, as the tenants service defaults it.
    pub fn new(start_month: u32) -> Self {
        Self {
            start_month: if (1..=12).contains(&start_month) {
                start_month
            } else {
                1
            },
        }
    }

    pub fn start_month(self) -> u32 {
        self.start_month
    }

    /// First day of fiscal year `year`.
    fn year_start(self, year: i32) -> Option<NaiveDate> {
        let calendar_year = if self.start_month == 1 {
            year
        } else {
            year - 1
        };
        NaiveDate::from_ymd_opt(calendar_year, self.start_month, 1)
    }

    /// The fiscal year `day` falls in.
    pub fn year_of(self, day: NaiveDate) -> i32 {
        if self.start_month == 1 || day.month() < self.start_month {
            day.year()
        } else {
            day.year() + 1
        }
    }

    /// `FY2027`, `FY2027-Q2` or `FY2027-M05`.
    pub fn parse(self, raw: &str) -> Result<FiscalPeriod, FiscalPeriodError> {
        let rest = raw.strip_prefix("FY").ok_or(FiscalPeriodError::Syntax)?;
        let (year, part) = match rest.split_once('-') {
            Some((year, part)) => (year, Some(part)),
            None => (rest, None),
        };
        if year.len() != 4 || !year.chars().all(|c| c.is_ascii_digit()) {
            return Err(FiscalPeriodError::Syntax);
        }
        let year: i32 = year.parse().map_err(|_| FiscalPeriodError::Syntax)?;
        if !YEARS.contains(&year) {
            return Err(FiscalPeriodError::Year);
        }
        let (offset, months) = match part {
            None => (0, 12),
            Some(q) if q.starts_with('Q') => {
                let n = number(&q[1..], 1)?;
                if !(1..=4).contains(&n) {
                    return Err(FiscalPeriodError::Quarter);
                }
                (3 * (n - 1), 3)
            }
            Some(m) if m.starts_with('M') => {
                let n = number(&m[1..], 2)?;
                if !(1..=12).contains(&n) {
                    return Err(FiscalPeriodError::Month);
                }
                (n - 1, 1)
            }
            Some(_) => return Err(FiscalPeriodError::Syntax),
        };
        let start = self
            .year_start(year)
            .and_then(|d| d.checked_add_months(Months::new(offset)))
            .ok_or(FiscalPeriodError::Year)?;
        let end = start
            .checked_add_months(Months::new(months))
            .and_then(|d| d.pred_opt())
            .ok_or(FiscalPeriodError::Year)?;
        Ok(FiscalPeriod {
            name: raw.to_owned(),
            start,
            end,
        })
    }
}

/// A period number of exactly `digits` ASCII digits (anything else is a syntax error).
fn number(raw: &str, digits: usize) -> Result<u32, FiscalPeriodError> {
    if raw.len() != digits || !raw.chars().all(|c| c.is_ascii_digit()) {
        return Err(FiscalPeriodError::Syntax);
    }
    raw.parse().map_err(|_| FiscalPeriodError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn periods_follow_a_fiscal_year_starting_in_april() {
        let fy = FiscalCalendar::new(4);
        let range = |raw: &str| fy.parse(raw).map(|p| (p.start, p.end));
        assert_eq!(range("FY2027"), Ok((day(2026, 4, 1), day(2027, 3, 31))));
        assert_eq!(range("FY2027-Q1"), Ok((day(2026, 4, 1), day(2026, 6, 30))));
        assert_eq!(range("FY2027-Q4"), Ok((day(2027, 1, 1), day(2027, 3, 31))));
        assert_eq!(range("FY2027-M01"), Ok((day(2026, 4, 1), day(2026, 4, 30))));
        assert_eq!(range("FY2028-M11"), Ok((day(2028, 2, 1), day(2028, 2, 29))));
        assert_eq!(fy.year_of(day(2026, 3, 31)), 2026);
        assert_eq!(fy.year_of(day(2026, 4, 1)), 2027);
    }

    #[test]
    fn a_january_fiscal_year_is_the_calendar_year() {
        let fy = FiscalCalendar::new(1);
        let p = fy.parse("FY2026-Q2").expect("period");
        assert_eq!((p.start, p.end), (day(2026, 4, 1), day(2026, 6, 30)));
        assert_eq!(fy.year_of(day(2026, 12, 31)), 2026);
        assert_eq!(FiscalCalendar::new(0), FiscalCalendar::default());
    }

    #[test]
    fn periods_outside_the_calendar_are_refused() {
        let fy = FiscalCalendar::new(4);
        for (raw, error) in [
            ("FY2027-Q5", FiscalPeriodError::Quarter),
            ("FY2027-Q0", FiscalPeriodError::Quarter),
            ("FY2027-M13", FiscalPeriodError::Month),
            ("FY2027-M00", FiscalPeriodError::Month),
            ("FY1800", FiscalPeriodError::Year),
            ("FY27", FiscalPeriodError::Syntax),
            ("FY2027-M1", FiscalPeriodError::Syntax),
            ("FY2027-H1", FiscalPeriodError::Syntax),
            ("2027-Q1", FiscalPeriodError::Syntax),
            ("", FiscalPeriodError::Syntax),
        ] {
            assert_eq!(fy.parse(raw), Err(error), "{raw:?}");
        }
    }
}
