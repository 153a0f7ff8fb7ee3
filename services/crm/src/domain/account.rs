//! Accounts: the companies a tenant sells to.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::custom_fields::CustomValues;
use super::money::Money;

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_TEXT_LEN: usize = 200;

/// A postal address; every part may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 or empty.
    pub country_code: String,
}

/// What a user can set on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountData {
    pub name: String,
    pub domain: String,
    pub industry: String,
    pub employee_count: i32,
    pub annual_revenue: Option<Money>,
    pub billing_address: Address,
    pub shipping_address: Address,
    pub parent_account_id: Option<Uuid>,
    pub owner_id: Uuid,
    /// Validated against the tenant's account custom field definitions by the store.
    pub custom_fields: CustomValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub data: AccountData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i32>,
    pub annual_revenue: Option<Option<Money>>,
    pub billing_address: Option<Address>,
    pub shipping_address: Option<Address>,
    pub parent_account_id: Option<Option<Uuid>>,
    pub owner_id: Option<Uuid>,
    /// Replaces every custom value.
    pub custom_fields: Option<CustomValues>,
}

impl AccountData {
    pub fn apply(&self, patch: AccountPatch) -> Self {
        let current = self.clone();
        Self {
            name: patch.name.unwrap_or(current.name),
            domain: patch.domain.unwrap_or(current.domain),
            industry: patch.industry.unwrap_or(current.industry),
            employee_count: patch.employee_count.unwrap_or(current.employee_count),
            annual_revenue: patch.annual_revenue.unwrap_or(current.annual_revenue),
            billing_address: patch.billing_address.unwrap_or(current.billing_address),
            shipping_address: patch.shipping_address.unwrap_or(current.shipping_address),
            parent_account_id: patch.parent_account_id.unwrap_or(current.parent_account_id),
            owner_id: patch.owner_id.unwrap_or(current.owner_id),
            custom_fields: patch.custom_fields.unwrap_or(current.custom_fields),
        }
    }

    /// Proto field names whose values differ in `after`, for change events.
    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("name", self.name != after.name),
            ("domain", self.domain != after.domain),
            ("industry", self.industry != after.industry),
            (
                "employee_count",
                self.employee_count != after.employee_count,
            ),
            (
                "annual_revenue",
                self.annual_revenue != after.annual_revenue,
            ),
            (
                "billing_address",
                self.billing_address != after.billing_address,
            ),
            (
                "shipping_address",
                self.shipping_address != after.shipping_address,
            ),
            (
                "parent_account_id",
                self.parent_account_id != after.parent_account_id,
            ),
            ("owner_id", self.owner_id != after.owner_id),
            ("custom_fields", self.custom_fields != after.custom_fields),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

/// Non-negative employee counts; 0 means unknown.
pub fn parse_employee_count(raw: i32) -> Result<i32, &'static str> {
    if raw < 0 {
        Err("must not be negative")
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> AccountData {
        AccountData {
            name: "Acme".into(),
            domain: "acme.com".into(),
            industry: String::new(),
            employee_count: 10,
            annual_revenue: None,
            billing_address: Address::default(),
            shipping_address: Address::default(),
            parent_account_id: None,
            owner_id: Uuid::now_v7(),
            custom_fields: CustomValues::new(),
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_names_and_reports_real_changes() {
        let before = acme();
        let after = before.apply(AccountPatch {
            name: Some("Acme Inc".into()),
            domain: Some("acme.com".into()),
            ..AccountPatch::default()
        });
        assert_eq!(after.name, "Acme Inc");
        assert_eq!(after.employee_count, 10);
        assert_eq!(before.changed_fields(&after), ["name"]);
        assert!(
            before
                .changed_fields(&before.apply(AccountPatch::default()))
                .is_empty()
        );
    }
}

/// The fields a new account takes from a Create request and from an import row alike, checked
/// by one set of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBasics {
    pub name: String,
    pub domain: String,
    pub industry: String,
    pub employee_count: i32,
}

impl AccountBasics {
    /// Every bad field is added to `v` as `<prefix><field>`; `None` when one was bad.
    pub fn parse(
        name: &str,
        domain: &str,
        industry: &str,
        employee_count: i32,
        prefix: &str,
        v: &mut super::Violations,
    ) -> Option<Self> {
        let name = v.check(
            &format!("{prefix}name"),
            super::text::required(name, MAX_NAME_LEN),
        );
        let domain = v.check(
            &format!("{prefix}domain"),
            super::web_domain::parse_optional(domain),
        );
        let industry = v.check(
            &format!("{prefix}industry"),
            super::text::optional(industry, MAX_TEXT_LEN),
        );
        let employee_count = v.check(
            &format!("{prefix}employee_count"),
            parse_employee_count(employee_count),
        );
        Some(Self {
            name: name?,
            domain: domain?,
            industry: industry?,
            employee_count: employee_count?,
        })
    }

    /// A new account of `owner_id` with nothing else set.
    pub fn into_data(self, owner_id: Uuid) -> AccountData {
        AccountData {
            name: self.name,
            domain: self.domain,
            industry: self.industry,
            employee_count: self.employee_count,
            annual_revenue: None,
            billing_address: Address::default(),
            shipping_address: Address::default(),
            parent_account_id: None,
            owner_id,
            custom_fields: CustomValues::default(),
        }
    }
}
