//! Forecast categories and weighted amounts, derived from an opportunity's stage.

use chrono::NaiveDate;
use uuid::Uuid;

use super::pipeline::StageCategory;
use super::pricing::div_round_half_up;

/// Open stages at or above this probability are commit.
pub const COMMIT_MIN_PROBABILITY: i32 = 70;
/// Open stages at or above this probability (and below commit) are best case.
pub const BEST_CASE_MIN_PROBABILITY: i32 = 40;
/// The longest forecast period, in days (five years).
pub const MAX_PERIOD_DAYS: i64 = 5 * 366;

/// Whose opportunities a forecast counts (always within what the viewer may see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter {
    Everyone,
    Owner(Uuid),
    /// The manager and everyone reporting to them, directly or not.
    TeamOf(Uuid),
}

/// A validated forecast request: close dates from `start` to `end`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForecastQuery {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub owners: OwnerFilter,
    pub pipeline_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("must not be before start_date")]
    EndBeforeStart,
    #[error("the period must be at most {MAX_PERIOD_DAYS} days")]
    TooLong,
}

/// Checks a forecast period; errors are about `end_date`.
pub fn check_period(start: NaiveDate, end: NaiveDate) -> Result<(), PeriodError> {
    if end < start {
        return Err(PeriodError::EndBeforeStart);
    }
    if (end - start).num_days() >= MAX_PERIOD_DAYS {
        return Err(PeriodError::TooLong);
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a month (2026-05) or a quarter (2026-Q2)")]
pub struct BadPeriod;

/// A named period: a calendar month `YYYY-MM` or quarter `YYYY-Qn`, as (first day, last day).
pub fn parse_period(raw: &str) -> Result<(NaiveDate, NaiveDate), BadPeriod> {
    let (year, rest) = raw.split_once('-').ok_or(BadPeriod)?;
    if year.len() != 4 {
        return Err(BadPeriod);
    }
    let year: i32 = year.parse().map_err(|_| BadPeriod)?;
    let (first_month, months) = match rest.strip_prefix('Q') {
        Some(q) if q.len() == 1 => {
            let quarter: u32 = q.parse().map_err(|_| BadPeriod)?;
            if !(1..=4).contains(&quarter) {
                return Err(BadPeriod);
            }
            (3 * (quarter - 1) + 1, 3)
        }
        None if rest.len() == 2 => (rest.parse().map_err(|_| BadPeriod)?, 1),
        _ => return Err(BadPeriod),
    };
    let start = NaiveDate::from_ymd_opt(year, first_month, 1).ok_or(BadPeriod)?;
    let end = start
        .checked_add_months(chrono::Months::new(months))
        .and_then(|next| next.pred_opt())
        .ok_or(BadPeriod)?;
    Ok((start, end))
}

/// Each forecast opportunity is in exactly one category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ForecastCategory {
    Pipeline,
    BestCase,
    Commit,
    Closed,
}

/// Won → closed; open by probability; lost deals are not forecast.
pub fn categorize(category: StageCategory, probability: i32) -> Option<ForecastCategory> {
    match category {
        StageCategory::Won => Some(ForecastCategory::Closed),
        StageCategory::Lost => None,
        StageCategory::Open if probability >= COMMIT_MIN_PROBABILITY => {
            Some(ForecastCategory::Commit)
        }
        StageCategory::Open if probability >= BEST_CASE_MIN_PROBABILITY => {
            Some(ForecastCategory::BestCase)
        }
        StageCategory::Open => Some(ForecastCategory::Pipeline),
    }
}

/// Sums of one currency: plain, and Σ amount × probability (divided by 100 only at the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums {
    pub count: i64,
    pub amount: i128,
    weighted_percent: i128,
}

impl Sums {
    /// Adds `count` deals of `amount` in total, all at `probability` percent.
    pub fn add(&mut self, count: i64, amount: i128, probability: i32) {
        self.count += count;
        self.amount += amount;
        self.weighted_percent += amount * i128::from(probability);
    }

    /// The weighted amount, rounded half up to the unit `amount` is counted in.
    pub fn weighted(&self) -> i128 {
        div_round_half_up(self.weighted_percent, 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_the_probability_thresholds() {
        use ForecastCategory::*;
        let table = [
            (StageCategory::Open, 0, Some(Pipeline)),
            (StageCategory::Open, 39, Some(Pipeline)),
            (StageCategory::Open, 40, Some(BestCase)),
            (StageCategory::Open, 69, Some(BestCase)),
            (StageCategory::Open, 70, Some(Commit)),
            (StageCategory::Open, 99, Some(Commit)),
            (StageCategory::Won, 100, Some(Closed)),
            (StageCategory::Lost, 0, None),
        ];
        for (category, probability, expected) in table {
            assert_eq!(categorize(category, probability), expected);
        }
    }

    #[test]
    fn named_periods_are_calendar_months_and_quarters() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let table = [
            ("2026-05", Some((day(2026, 5, 1), day(2026, 5, 31)))),
            ("2028-02", Some((day(2028, 2, 1), day(2028, 2, 29)))),
            ("2026-12", Some((day(2026, 12, 1), day(2026, 12, 31)))),
            ("2026-Q1", Some((day(2026, 1, 1), day(2026, 3, 31)))),
            ("2026-Q4", Some((day(2026, 10, 1), day(2026, 12, 31)))),
            ("2026-Q5", None),
            ("2026-13", None),
            ("2026-5", None),
            ("26-05", None),
            ("2026", None),
            ("", None),
        ];
        for (raw, expected) in table {
            assert_eq!(parse_period(raw).ok(), expected, "{raw:?}");
        }
    }

    #[test]
    fn weighted_sums_divide_once_and_round_half_up() {
        let mut sums = Sums::default();
        // 0.01 at 50 % is half a cent, twice: exact 1 cent (rounding each would give 2).
        sums.add(1, 1, 50);
        sums.add(1, 1, 50);
        assert_eq!((sums.count, sums.amount, sums.weighted()), (2, 2, 1));
        let mut half = Sums::default();
        half.add(1, 1, 50);
        assert_eq!(half.weighted(), 1, "half a cent rounds up");
        let mut low = Sums::default();
        low.add(3, 333, 10);
        assert_eq!(low.weighted(), 33, "33.3 rounds down");
    }
}
