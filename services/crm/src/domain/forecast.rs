//! Forecast categories and weighted amounts, derived from an opportunity's stage.

use std::collections::{BTreeMap, HashMap, HashSet};

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

impl ForecastCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ForecastCategory::Pipeline => "pipeline",
            ForecastCategory::BestCase => "best_case",
            ForecastCategory::Commit => "commit",
            ForecastCategory::Closed => "closed",
        }
    }
}

/// The category an owner sets on an open deal instead of the one its stage gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CategoryOverride {
    Pipeline,
    BestCase,
    Commit,
    /// Left out of the forecast.
    Omitted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("closed is set by winning the deal, not by hand")]
    Closed,
    #[error("must be one of pipeline, best_case, commit, omitted, or empty to follow the stage")]
    Unknown,
}

impl CategoryOverride {
    /// `None` for the empty string: the stage decides.
    pub fn parse(raw: &str) -> Result<Option<Self>, OverrideError> {
        match raw {
            "" => Ok(None),
            "pipeline" => Ok(Some(CategoryOverride::Pipeline)),
            "best_case" => Ok(Some(CategoryOverride::BestCase)),
            "commit" => Ok(Some(CategoryOverride::Commit)),
            "omitted" => Ok(Some(CategoryOverride::Omitted)),
            "closed" => Err(OverrideError::Closed),
            _ => Err(OverrideError::Unknown),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CategoryOverride::Pipeline => "pipeline",
            CategoryOverride::BestCase => "best_case",
            CategoryOverride::Commit => "commit",
            CategoryOverride::Omitted => "omitted",
        }
    }
}

/// The category a deal counts in: an open deal's override wins over its stage (omitted deals
/// are not forecast); a won deal is closed and a lost one not forecast, whatever was set.
pub fn effective(
    category: StageCategory,
    probability: i32,
    set: Option<CategoryOverride>,
) -> Option<ForecastCategory> {
    match (category, set) {
        (StageCategory::Open, Some(CategoryOverride::Omitted)) => None,
        (StageCategory::Open, Some(CategoryOverride::Pipeline)) => Some(ForecastCategory::Pipeline),
        (StageCategory::Open, Some(CategoryOverride::BestCase)) => Some(ForecastCategory::BestCase),
        (StageCategory::Open, Some(CategoryOverride::Commit)) => Some(ForecastCategory::Commit),
        _ => categorize(category, probability),
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

/// One user's (or team's) forecast in the tenant's currency: minor units per category, and the
/// quota when one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategoryTotals {
    pub count: i64,
    /// Indexed by [`ForecastCategory`] order: pipeline, best case, commit, closed.
    amounts: [i128; 4],
    quota: Option<i128>,
}

impl CategoryTotals {
    pub fn add(&mut self, category: ForecastCategory, count: i64, amount: i128) {
        self.count += count;
        self.amounts[category as usize] += amount;
    }

    pub fn amount(&self, category: ForecastCategory) -> i128 {
        self.amounts[category as usize]
    }

    pub fn add_quota(&mut self, amount: i128) {
        *self.quota.get_or_insert(0) += amount;
    }

    pub fn quota(&self) -> Option<i128> {
        self.quota
    }

    /// What is still to close to reach the quota (negative once it is exceeded).
    pub fn gap_to_quota(&self) -> Option<i128> {
        self.quota
            .map(|quota| quota - self.amount(ForecastCategory::Closed))
    }

    fn merge(&mut self, other: &Self) {
        self.count += other.count;
        for (mine, theirs) in self.amounts.iter_mut().zip(other.amounts) {
            *mine += theirs;
        }
        if let Some(quota) = other.quota {
            self.add_quota(quota);
        }
    }
}

/// The length of a quota's period (commissions sets quotas per month, quarter or year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKind {
    Month,
    Quarter,
    Year,
}

impl QuotaKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "month" => Some(QuotaKind::Month),
            "quarter" => Some(QuotaKind::Quarter),
            "year" => Some(QuotaKind::Year),
            _ => None,
        }
    }
}

/// Of one user's quotas lying inside a forecast period, those of the longest kind: a year quota
/// and the quarter quotas inside it are the same target, counted once.
pub fn covering<T>(quotas: Vec<(QuotaKind, T)>) -> Vec<T> {
    let Some(longest) = quotas.iter().map(|(kind, _)| *kind).max() else {
        return Vec::new();
    };
    quotas
        .into_iter()
        .filter(|(kind, _)| *kind == longest)
        .map(|(_, quota)| quota)
        .collect()
}

/// Each manager's team forecast: their own totals and those of everyone below them, at any
/// depth. `manager_of` maps a user to their manager; a cycle in it stops the walk.
pub fn roll_up(
    owners: &BTreeMap<Uuid, CategoryTotals>,
    manager_of: &HashMap<Uuid, Uuid>,
) -> BTreeMap<Uuid, CategoryTotals> {
    let mut teams: BTreeMap<Uuid, CategoryTotals> = BTreeMap::new();
    for (owner, totals) in owners {
        let mut seen = HashSet::from([*owner]);
        let mut current = *owner;
        while let Some(manager) = manager_of.get(&current).copied() {
            if !seen.insert(manager) {
                break;
            }
            teams.entry(manager).or_default().merge(totals);
            current = manager;
        }
    }
    // A manager's own deals count in their team too.
    for (manager, team) in teams.iter_mut() {
        if let Some(own) = owners.get(manager) {
            team.merge(own);
        }
    }
    teams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_roll_up_every_level_below_a_manager() {
        let [vp, manager, rep, other] = [1, 2, 3, 4].map(Uuid::from_u128);
        let manager_of = HashMap::from([(manager, vp), (rep, manager), (other, vp)]);
        let totals = |category, amount| {
            let mut t = CategoryTotals::default();
            t.add(category, 1, amount);
            t
        };
        let owners = BTreeMap::from([
            (rep, totals(ForecastCategory::Commit, 100)),
            (manager, totals(ForecastCategory::Closed, 50)),
            (other, totals(ForecastCategory::Pipeline, 7)),
        ]);
        let teams = roll_up(&owners, &manager_of);
        assert_eq!(teams.len(), 2, "only users with reports have a team");
        let m = teams[&manager];
        assert_eq!(
            (
                m.count,
                m.amount(ForecastCategory::Commit),
                m.amount(ForecastCategory::Closed)
            ),
            (2, 100, 50)
        );
        let v = teams[&vp];
        assert_eq!(v.count, 3);
        assert_eq!(v.amount(ForecastCategory::Pipeline), 7);
        // A cycle ends the walk instead of looping.
        let looped = HashMap::from([(rep, manager), (manager, rep)]);
        let teams = roll_up(&owners, &looped);
        assert_eq!(teams[&manager].amount(ForecastCategory::Commit), 100);
    }

    #[test]
    fn a_period_counts_the_longest_quotas_inside_it_once() {
        let quotas = vec![
            (QuotaKind::Quarter, 300),
            (QuotaKind::Month, 100),
            (QuotaKind::Quarter, 330),
        ];
        assert_eq!(covering(quotas), [300, 330]);
        assert!(covering::<i64>(vec![]).is_empty());
        let mut t = CategoryTotals::default();
        assert_eq!(t.gap_to_quota(), None);
        t.add(ForecastCategory::Closed, 1, 250);
        t.add_quota(1_000);
        assert_eq!((t.quota(), t.gap_to_quota()), (Some(1_000), Some(750)));
    }

    #[test]
    fn an_override_wins_only_while_the_deal_is_open() {
        use CategoryOverride as O;
        use ForecastCategory::*;
        let table = [
            (StageCategory::Open, 10, None, Some(Pipeline)),
            (StageCategory::Open, 10, Some(O::Commit), Some(Commit)),
            (StageCategory::Open, 90, Some(O::Pipeline), Some(Pipeline)),
            (StageCategory::Open, 50, Some(O::BestCase), Some(BestCase)),
            (StageCategory::Open, 90, Some(O::Omitted), None),
            (StageCategory::Won, 100, Some(O::Omitted), Some(Closed)),
            (StageCategory::Lost, 0, Some(O::Commit), None),
        ];
        for (category, probability, set, expected) in table {
            assert_eq!(effective(category, probability, set), expected);
        }
        assert_eq!(CategoryOverride::parse(""), Ok(None));
        assert_eq!(CategoryOverride::parse("best_case"), Ok(Some(O::BestCase)));
        assert_eq!(
            CategoryOverride::parse("closed"),
            Err(OverrideError::Closed)
        );
        assert_eq!(
            CategoryOverride::parse("maybe"),
            Err(OverrideError::Unknown)
        );
    }

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
