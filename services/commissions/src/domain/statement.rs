//! Statements: a participant's lines of one period, their totals and the approval status.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::adjustment::Adjustment;
use super::engine::Line;
use super::money::Minor;
use super::period::Period;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Draft,
    Approved,
    Paid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Approved => "approved",
            Status::Paid => "paid",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Status::Draft, Status::Approved, Status::Paid]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Statements only move forward, one step at a time: draft → approved → paid. A paid
    /// statement is locked.
    pub fn transition(self, to: Status) -> Result<Status, String> {
        match (self, to) {
            (Status::Draft, Status::Approved) | (Status::Approved, Status::Paid) => Ok(to),
            (Status::Paid, _) => Err("the statement is paid and locked".to_owned()),
            (from, to) => Err(format!(
                "a {} statement cannot become {}",
                from.as_str(),
                to.as_str()
            )),
        }
    }
}

/// Totals of a statement's lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub earned: Minor,
    pub clawbacks: Minor,
    pub total: Minor,
}

impl Totals {
    pub fn of<'a>(lines: impl IntoIterator<Item = &'a Line>) -> Self {
        let mut totals = Self::default();
        for line in lines {
            if line.reversal {
                totals.clawbacks += line.amount;
            } else {
                totals.earned += line.amount;
            }
            totals.total += line.amount;
        }
        totals
    }
}

/// A line as stored, with where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub plan_version_id: Uuid,
    pub period: Period,
    pub statement_period_start: NaiveDate,
    pub currency: String,
    pub line: Line,
    pub created_at: DateTime<Utc>,
}

/// A participant's statement of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub participant_id: Uuid,
    pub period: Period,
    pub currency: String,
    pub status: Status,
    /// Totals of the lines (adjustments not included).
    pub totals: Totals,
    pub lines: Vec<StoredLine>,
    /// Sum of the approved adjustments.
    pub adjusted: i64,
    /// Negative balance carried from earlier statements ([`opening_balance`]).
    pub opening: i64,
    pub adjustments: Vec<Adjustment>,
}

impl Statement {
    /// Lines and approved adjustments.
    pub fn total(&self) -> i64 {
        self.totals.total + self.adjusted
    }

    /// What is owed after this statement: the opening balance plus its total.
    pub fn closing(&self) -> i64 {
        self.opening + self.total()
    }
}

/// A period's stored lines compared with what the engine computes from the same deals now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recalculation {
    pub stored_total: i64,
    pub recalculated_total: i64,
    pub matches: bool,
    pub lines: Vec<Line>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_move_forward_and_lock_when_paid() {
        assert_eq!(
            Status::Draft.transition(Status::Approved),
            Ok(Status::Approved)
        );
        assert_eq!(Status::Approved.transition(Status::Paid), Ok(Status::Paid));
        assert!(Status::Draft.transition(Status::Paid).is_err());
        assert!(Status::Approved.transition(Status::Draft).is_err());
        assert_eq!(
            Status::Paid.transition(Status::Approved),
            Err("the statement is paid and locked".to_owned())
        );
    }
}

/// The opening balance of a statement from the totals (lines and approved adjustments) of the
/// participant's earlier statements, oldest first. Rule: only a negative balance carries
/// forward — clawbacks beyond what a period earned are a debt recovered from later pay — and it
/// keeps carrying until earnings cover it. A positive balance is paid from its own statement
/// (paid or not) and never carries, so nothing is paid twice.
pub fn opening_balance(earlier_totals: impl IntoIterator<Item = Minor>) -> Minor {
    earlier_totals.into_iter().fold(0, |balance: Minor, total| {
        balance.saturating_add(total).min(0)
    })
}

/// Quota attainment and pace, in basis points (10 000 = 100 %), rounded half to even.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attainment {
    pub attained: Minor,
    pub quota: Minor,
    /// attained / quota; 0 without a quota.
    pub attainment: i64,
    /// Share of the period elapsed.
    pub elapsed: i64,
    /// attainment / elapsed: above 10 000 is ahead of pace; 0 before the period starts.
    pub pace: i64,
}

impl Attainment {
    pub fn measure(
        attained: Minor,
        quota: Option<Minor>,
        elapsed_days: i64,
        total_days: i64,
    ) -> Self {
        use super::money::{round_half_even, to_minor};
        let ratio = |num: i128, den: i128| {
            if den <= 0 {
                0
            } else {
                to_minor(round_half_even(num * 10_000, den))
            }
        };
        let quota = quota.unwrap_or(0);
        let attainment = ratio(i128::from(attained), i128::from(quota));
        let elapsed = ratio(i128::from(elapsed_days), i128::from(total_days));
        Self {
            attained,
            quota,
            attainment,
            elapsed,
            pace: ratio(i128::from(attainment), i128::from(elapsed)),
        }
    }
}

/// Competition ranking ("1224") by attainment, then attained amount, best first; ties in both
/// share a rank. Items keep a stable order by `key` among equals, so the board is deterministic.
pub fn rank<K: Ord + Copy>(mut members: Vec<(K, Attainment)>) -> Vec<(u32, K, Attainment)> {
    let score = |a: &Attainment| (a.attainment, a.attained);
    members.sort_by(|(ka, a), (kb, b)| score(b).cmp(&score(a)).then(ka.cmp(kb)));
    let mut ranked = Vec::with_capacity(members.len());
    let mut previous: Option<((i64, i64), u32)> = None;
    for (index, (key, attainment)) in members.into_iter().enumerate() {
        let position = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let rank = match previous {
            Some((last, rank)) if last == score(&attainment) => rank,
            _ => position,
        };
        previous = Some((score(&attainment), rank));
        ranked.push((rank, key, attainment));
    }
    ranked
}

#[cfg(test)]
mod attainment_tests {
    use super::*;

    #[test]
    fn only_a_negative_balance_carries_until_earnings_cover_it() {
        assert_eq!(opening_balance([]), 0);
        assert_eq!(opening_balance([500, 700]), 0);
        assert_eq!(opening_balance([-300]), -300);
        assert_eq!(opening_balance([-300, 100]), -200);
        assert_eq!(opening_balance([-300, 100, 250]), 0);
        // A paid positive period does not absorb a later clawback.
        assert_eq!(opening_balance([400, -300]), -300);
        assert_eq!(opening_balance([400, -900, 200]), -700);
    }

    #[test]
    fn equal_attainments_share_a_rank_and_the_next_rank_is_skipped() {
        let m = |attained, quota| Attainment::measure(attained, Some(quota), 1, 1);
        let ranked = rank(vec![
            (1, m(50, 100)),
            (2, m(80, 100)),
            (3, m(40, 50)),
            (4, m(90, 100)),
            (5, m(0, 0)),
        ]);
        let order: Vec<(u32, i32)> = ranked.iter().map(|(r, k, _)| (*r, *k)).collect();
        // 80 % of 100 beats 80 % of 50 on the amount attained.
        assert_eq!(order, vec![(1, 4), (2, 2), (3, 3), (4, 1), (5, 5)]);
        let tied = rank(vec![(2, m(80, 100)), (1, m(80, 100)), (3, m(10, 100))]);
        let order: Vec<(u32, i32)> = tied.iter().map(|(r, k, _)| (*r, *k)).collect();
        assert_eq!(order, vec![(1, 1), (1, 2), (3, 3)]);
    }

    #[test]
    fn attainment_and_pace_in_basis_points() {
        // 60 000 of 100 000 with half the quarter gone: 60 %, ahead of pace at 120 %.
        let a = Attainment::measure(6_000_000, Some(10_000_000), 45, 90);
        assert_eq!((a.attainment, a.elapsed, a.pace), (6_000, 5_000, 12_000));
        let none = Attainment::measure(100, None, 0, 90);
        assert_eq!((none.attainment, none.elapsed, none.pace), (0, 0, 0));
        // 2/3 rounds half to even at the basis point.
        assert_eq!(Attainment::measure(2, Some(3), 90, 90).attainment, 6_667);
    }
}
