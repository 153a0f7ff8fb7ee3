//! Lead assignment rules: which rule a new lead meets, and whose turn it is.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::lead::LeadData;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_USERS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleData {
    pub name: String,
    pub position: i32,
    /// Empty: any source; compared case-insensitively.
    pub source: String,
    /// Empty: any country.
    pub country_code: String,
    pub min_employees: i32,
    /// 0: no upper bound.
    pub max_employees: i32,
    pub user_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: Uuid,
    pub data: RuleData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Changes to a rule; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulePatch {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub source: Option<String>,
    pub country_code: Option<String>,
    pub min_employees: Option<i32>,
    pub max_employees: Option<i32>,
    pub user_ids: Option<Vec<Uuid>>,
}

impl RuleData {
    pub fn matches(&self, lead: &LeadData) -> bool {
        (self.source.is_empty() || self.source.eq_ignore_ascii_case(lead.source.trim()))
            && (self.country_code.is_empty() || self.country_code == lead.country_code)
            && lead.employee_count >= self.min_employees
            && (self.max_employees == 0 || lead.employee_count <= self.max_employees)
    }

    pub fn apply(&self, patch: RulePatch) -> Self {
        let c = self.clone();
        Self {
            name: patch.name.unwrap_or(c.name),
            position: patch.position.unwrap_or(c.position),
            source: patch.source.unwrap_or(c.source),
            country_code: patch.country_code.unwrap_or(c.country_code),
            min_employees: patch.min_employees.unwrap_or(c.min_employees),
            max_employees: patch.max_employees.unwrap_or(c.max_employees),
            user_ids: patch.user_ids.unwrap_or(c.user_ids),
        }
    }

    /// A bounded range: the upper bound, when set, is not below the lower.
    pub fn check_range(&self) -> Result<(), &'static str> {
        if self.max_employees != 0 && self.max_employees < self.min_employees {
            return Err("must be 0 (no bound) or at least min_employee_count");
        }
        Ok(())
    }
}

/// The user whose turn `turn` is among `active` (in the rule's order); none when nobody in
/// the rule is active.
pub fn pick(active: &[Uuid], turn: i64) -> Option<Uuid> {
    let len = i64::try_from(active.len()).ok().filter(|l| *l > 0)?;
    let index = usize::try_from(turn.rem_euclid(len)).ok()?;
    active.get(index).copied()
}

/// Distinct users, at most [`MAX_USERS`], at least one.
pub fn check_users(user_ids: &[Uuid]) -> Result<(), String> {
    if user_ids.is_empty() {
        return Err("must name at least one user".to_owned());
    }
    if user_ids.len() > MAX_USERS {
        return Err(format!("must name at most {MAX_USERS} users"));
    }
    let mut seen = user_ids.to_vec();
    seen.sort();
    seen.dedup();
    if seen.len() != user_ids.len() {
        return Err("must not name a user twice".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(source: &str, country: &str, employees: i32) -> LeadData {
        LeadData {
            first_name: String::new(),
            last_name: "Lee".into(),
            email: String::new(),
            phone: String::new(),
            company: String::new(),
            title: String::new(),
            source: source.into(),
            country_code: country.into(),
            employee_count: employees,
            status: super::super::lead::LeadStatus::New,
            rating: super::super::lead::LeadRating::Unspecified,
            score: 0,
            owner_id: Uuid::now_v7(),
            custom_fields: Default::default(),
        }
    }

    #[test]
    fn criteria_match_when_every_set_one_holds() {
        let rule = RuleData {
            source: "Web".into(),
            country_code: "DE".into(),
            min_employees: 10,
            max_employees: 50,
            ..Default::default()
        };
        assert!(rule.matches(&lead("web", "DE", 10)));
        assert!(rule.matches(&lead("WEB", "DE", 50)));
        assert!(!rule.matches(&lead("event", "DE", 20)));
        assert!(!rule.matches(&lead("web", "FR", 20)));
        assert!(!rule.matches(&lead("web", "DE", 51)));
        assert!(RuleData::default().matches(&lead("", "", 0)), "catch-all");
    }

    #[test]
    fn turns_rotate_over_active_users() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let picks: Vec<_> = (0..4).filter_map(|t| pick(&[a, b], t)).collect();
        assert_eq!(picks, [a, b, a, b]);
        assert_eq!(pick(&[], 3), None);
    }

    #[test]
    fn users_are_distinct_and_present() {
        let a = Uuid::now_v7();
        assert!(check_users(&[]).is_err());
        assert!(check_users(&[a, a]).is_err());
        assert!(check_users(&[a]).is_ok());
    }
}
