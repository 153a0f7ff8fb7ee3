//! Tenants: identity, plan, lifecycle and settings.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::settings::TenantSettings;
use super::slug::Slug;

pub const MAX_DISPLAY_NAME_LEN: usize = 200;
pub const DEFAULT_PLAN: &str = "starter";
const MAX_PLAN_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "active" => Some(TenantStatus::Active),
            "suspended" => Some(TenantStatus::Suspended),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub display_name: String,
    pub plan: String,
    pub status: TenantStatus,
    pub settings: TenantSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated tenant to create.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: Uuid,
    pub slug: Slug,
    pub display_name: String,
    pub plan: String,
    pub settings: TenantSettings,
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPatch {
    pub display_name: Option<String>,
    pub plan: Option<String>,
    pub timezone: Option<String>,
    pub currency_code: Option<String>,
    pub fiscal_year_start_month: Option<u32>,
    pub locale: Option<String>,
}

impl TenantPatch {
    /// Proto field paths this patch sets, for change events.
    pub fn changed_fields(&self) -> Vec<String> {
        [
            ("display_name", self.display_name.is_some()),
            ("plan", self.plan.is_some()),
            ("settings.timezone", self.timezone.is_some()),
            ("settings.currency_code", self.currency_code.is_some()),
            (
                "settings.fiscal_year_start_month",
                self.fiscal_year_start_month.is_some(),
            ),
            ("settings.locale", self.locale.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is required")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
    #[error("may contain only lowercase letters, digits, '-' and '_' (at most {MAX_PLAN_LEN})")]
    Plan,
}

/// Trimmed, non-empty, bounded, printable.
pub fn parse_display_name(raw: &str, max: usize) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > max {
        return Err(NameError::TooLong(max));
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    Ok(name.to_owned())
}

/// Plan names are identifiers chosen by the operator; empty means the default plan.
pub fn parse_plan(raw: &str) -> Result<String, NameError> {
    if raw.is_empty() {
        return Ok(DEFAULT_PLAN.to_owned());
    }
    let valid = raw.len() <= MAX_PLAN_LEN
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(NameError::Plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(
            parse_display_name("  Acme Inc ", 200).as_deref(),
            Ok("Acme Inc")
        );
        assert_eq!(parse_display_name("   ", 200), Err(NameError::Empty));
        assert_eq!(
            parse_display_name(&"x".repeat(201), 200),
            Err(NameError::TooLong(200))
        );
        assert_eq!(parse_display_name("a\u{0}b", 200), Err(NameError::Control));
    }

    #[test]
    fn plan_defaults_and_validates() {
        assert_eq!(parse_plan("").as_deref(), Ok(DEFAULT_PLAN));
        assert_eq!(parse_plan("enterprise").as_deref(), Ok("enterprise"));
        assert_eq!(parse_plan("Gold Plan"), Err(NameError::Plan));
    }
}
