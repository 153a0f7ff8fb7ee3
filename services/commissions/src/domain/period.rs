//! Commission periods: months, quarters and years aligned to the fiscal year's first month.

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PeriodKind {
    Month,
    Quarter,
    Year,
}

impl PeriodKind {
    pub fn months(self) -> u32 {
        match self {
            PeriodKind::Month => 1,
            PeriodKind::Quarter => 3,
            PeriodKind::Year => 12,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
            PeriodKind::Year => "year",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    pub kind: PeriodKind,
    pub start: NaiveDate,
}

impl Period {
    /// The period of `kind` containing `day`, with years starting in `fiscal_start_month`.
    pub fn containing(kind: PeriodKind, fiscal_start_month: u32, day: NaiveDate) -> Self {
        let month_index = i64::from(day.year()) * 12 + i64::from(day.month0());
        let offset = i64::from(fiscal_start_month.clamp(1, 12) - 1);
        let length = i64::from(kind.months());
        let start_index = (month_index - offset).div_euclid(length) * length + offset;
        let year = i32::try_from(start_index.div_euclid(12)).unwrap_or(day.year());
        let month = u32::try_from(start_index.rem_euclid(12) + 1).unwrap_or(1);
        let start = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(day);
        Self { kind, start }
    }

    /// A period starting exactly on `start` (the first day of an aligned month), else `None`.
    pub fn starting(kind: PeriodKind, fiscal_start_month: u32, start: NaiveDate) -> Option<Self> {
        let period = Self::containing(kind, fiscal_start_month, start);
        (period.start == start).then_some(period)
    }

    pub fn end(&self) -> NaiveDate {
        self.start
            .checked_add_months(Months::new(self.kind.months()))
            .unwrap_or(NaiveDate::MAX)
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        day >= self.start && day < self.end()
    }

    /// Days elapsed up to and including `today`, and days in the period (for pace).
    pub fn elapsed_days(&self, today: NaiveDate) -> (i64, i64) {
        let total = (self.end() - self.start).num_days();
        let elapsed = ((today - self.start).num_days() + 1).clamp(0, total);
        (elapsed, total)
    }
}

/// What attainment is measured over: the credit periods of `kind` starting in `[start, end)` —
/// one period, or the fiscal year containing a period (year to date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kind: PeriodKind,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub year_to_date: bool,
}

impl Window {
    pub fn period(period: Period) -> Self {
        Self {
            kind: period.kind,
            start: period.start,
            end: period.end(),
            year_to_date: false,
        }
    }

    /// The fiscal year (starting in `fiscal_start_month`) containing `period`'s first day.
    pub fn fiscal_year(period: Period, fiscal_start_month: u32) -> Self {
        let year = Period::containing(PeriodKind::Year, fiscal_start_month, period.start);
        Self {
            kind: period.kind,
            start: year.start,
            end: year.end(),
            year_to_date: true,
        }
    }

    /// Days elapsed up to and including `today`, and days in the window (for pace).
    pub fn elapsed_days(&self, today: NaiveDate) -> (i64, i64) {
        let total = (self.end - self.start).num_days();
        let elapsed = ((today - self.start).num_days() + 1).clamp(0, total);
        (elapsed, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    #[test]
    fn periods_align_to_the_fiscal_year() {
        for (kind, fiscal, day, start, end) in [
            (
                PeriodKind::Month,
                1,
                d(2026, 5, 17),
                d(2026, 5, 1),
                d(2026, 6, 1),
            ),
            (
                PeriodKind::Quarter,
                1,
                d(2026, 5, 17),
                d(2026, 4, 1),
                d(2026, 7, 1),
            ),
            (
                PeriodKind::Quarter,
                2,
                d(2026, 1, 31),
                d(2025, 11, 1),
                d(2026, 2, 1),
            ),
            (
                PeriodKind::Year,
                1,
                d(2026, 12, 31),
                d(2026, 1, 1),
                d(2027, 1, 1),
            ),
            (
                PeriodKind::Year,
                7,
                d(2026, 6, 30),
                d(2025, 7, 1),
                d(2026, 7, 1),
            ),
            (
                PeriodKind::Year,
                7,
                d(2026, 7, 1),
                d(2026, 7, 1),
                d(2027, 7, 1),
            ),
        ] {
            let period = Period::containing(kind, fiscal, day);
            assert_eq!((period.start, period.end()), (start, end), "{kind:?} {day}");
            assert!(period.contains(day));
        }
    }

    #[test]
    fn only_aligned_starts_name_a_period() {
        assert!(Period::starting(PeriodKind::Quarter, 1, d(2026, 4, 1)).is_some());
        assert!(Period::starting(PeriodKind::Quarter, 1, d(2026, 5, 1)).is_none());
        assert!(Period::starting(PeriodKind::Month, 1, d(2026, 5, 2)).is_none());
    }

    #[test]
    fn year_to_date_spans_the_fiscal_year_of_the_period() {
        let q3 = Period::containing(PeriodKind::Quarter, 1, d(2026, 7, 1));
        let fy = Window::fiscal_year(q3, 4);
        assert_eq!(
            (fy.start, fy.end, fy.kind),
            (d(2026, 4, 1), d(2027, 4, 1), q3.kind)
        );
        assert_eq!(fy.elapsed_days(d(2026, 9, 30)), (183, 365));
        let q1 = Period::containing(PeriodKind::Quarter, 1, d(2026, 1, 1));
        assert_eq!(Window::fiscal_year(q1, 4).start, d(2025, 4, 1));
        assert_eq!(Window::period(q1).elapsed_days(d(2026, 1, 1)), (1, 90));
    }

    #[test]
    fn pace_counts_elapsed_days() {
        let q = Period::containing(PeriodKind::Quarter, 1, d(2026, 1, 1));
        assert_eq!(q.elapsed_days(d(2026, 1, 1)), (1, 90));
        assert_eq!(q.elapsed_days(d(2025, 12, 1)), (0, 90));
        assert_eq!(q.elapsed_days(d(2027, 1, 1)), (90, 90));
    }
}
