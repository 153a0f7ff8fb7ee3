//! Quotas and what was attained against them: one participant's figures, and a manager's team
//! whose quota is the manager's override or else the roll-up of the reports' quotas.

use uuid::Uuid;

use super::money::Minor;
use super::period::Period;

/// A quota to set, for a user (their own) or a manager (their team's override).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub user_id: Uuid,
    pub period: Period,
    pub currency: String,
    pub amount: Minor,
}

/// One participant's attainment figures over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub participant_id: Uuid,
    /// Credited bookings, net of clawbacks.
    pub attained: Minor,
    /// Currency and amount.
    pub quota: Option<(String, Minor)>,
}

/// A manager's team: the team as a whole (its participant is the manager) and each report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamFigures {
    pub team: Measured,
    /// The team quota is the manager's override, not the reports' roll-up.
    pub overridden: bool,
    pub members: Vec<Measured>,
}

impl TeamFigures {
    /// The team of `manager` from the reports' figures and the manager's override, if any.
    pub fn of(manager: Uuid, members: Vec<Measured>, over: Option<(String, Minor)>) -> Self {
        let overridden = over.is_some();
        let quota = over.or_else(|| roll_up(&members));
        Self {
            team: Measured {
                participant_id: manager,
                attained: members.iter().map(|m| m.attained).sum(),
                quota,
            },
            overridden,
            members,
        }
    }
}

/// The sum of the members' quotas; none when no member has one, they are in mixed currencies
/// or the sum overflows.
pub fn roll_up(members: &[Measured]) -> Option<(String, Minor)> {
    let mut quotas = members.iter().filter_map(|m| m.quota.as_ref());
    let (currency, first) = quotas.next()?;
    let mut total = *first;
    for (other, amount) in quotas {
        if other != currency {
            return None;
        }
        total = total.checked_add(*amount)?;
    }
    Some((currency.clone(), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(attained: Minor, quota: Option<(&str, Minor)>) -> Measured {
        Measured {
            participant_id: Uuid::now_v7(),
            attained,
            quota: quota.map(|(c, a)| (c.to_owned(), a)),
        }
    }

    #[test]
    fn a_team_quota_rolls_up_its_members_in_one_currency() {
        let members = [
            member(1, Some(("EUR", 100))),
            member(2, None),
            member(3, Some(("EUR", 50))),
        ];
        assert_eq!(roll_up(&members), Some(("EUR".to_owned(), 150)));
        assert_eq!(roll_up(&[member(1, None)]), None);
        let mixed = [member(1, Some(("EUR", 1))), member(1, Some(("USD", 1)))];
        assert_eq!(roll_up(&mixed), None);
        let overflowing = [
            member(1, Some(("EUR", Minor::MAX))),
            member(1, Some(("EUR", 1))),
        ];
        assert_eq!(roll_up(&overflowing), None);
    }

    #[test]
    fn a_managers_override_replaces_the_roll_up() {
        let manager = Uuid::now_v7();
        let members = vec![member(10, Some(("EUR", 100))), member(5, None)];
        let rolled = TeamFigures::of(manager, members.clone(), None);
        assert_eq!(rolled.team.quota, Some(("EUR".to_owned(), 100)));
        assert_eq!(rolled.team.attained, 15);
        assert!(!rolled.overridden);
        let over = TeamFigures::of(manager, members, Some(("EUR".to_owned(), 70)));
        assert_eq!(over.team.quota, Some(("EUR".to_owned(), 70)));
        assert_eq!(over.team.participant_id, manager);
        assert!(over.overridden);
    }
}
