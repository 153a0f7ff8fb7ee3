//! Statements: a participant's lines of one period, their totals and the approval status.

use super::engine::Line;
use super::money::Minor;

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

#[cfg(test)]
mod attainment_tests {
    use super::*;

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
