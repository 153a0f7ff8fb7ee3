//! Leads: unqualified prospects, converted once into an account, a contact and maybe a deal.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::custom_fields::CustomValues;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_TEXT_LEN: usize = 200;
pub const MAX_SCORE: i32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadStatus {
    New,
    Working,
    Qualified,
    Disqualified,
    Converted,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 5] = [
        LeadStatus::New,
        LeadStatus::Working,
        LeadStatus::Qualified,
        LeadStatus::Disqualified,
        LeadStatus::Converted,
    ];

    /// The proto enum value name, also stored in the database and used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "LEAD_STATUS_NEW",
            LeadStatus::Working => "LEAD_STATUS_WORKING",
            LeadStatus::Qualified => "LEAD_STATUS_QUALIFIED",
            LeadStatus::Disqualified => "LEAD_STATUS_DISQUALIFIED",
            LeadStatus::Converted => "LEAD_STATUS_CONVERTED",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Statuses a user may set; CONVERTED is reached only by converting.
    pub fn settable(self) -> Result<Self, &'static str> {
        if self == LeadStatus::Converted {
            Err("LEAD_STATUS_CONVERTED is set by ConvertLead only")
        } else {
            Ok(self)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadRating {
    Unspecified,
    Cold,
    Warm,
    Hot,
}

impl LeadRating {
    pub const ALL: [LeadRating; 4] = [
        LeadRating::Unspecified,
        LeadRating::Cold,
        LeadRating::Warm,
        LeadRating::Hot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadRating::Unspecified => "LEAD_RATING_UNSPECIFIED",
            LeadRating::Cold => "LEAD_RATING_COLD",
            LeadRating::Warm => "LEAD_RATING_WARM",
            LeadRating::Hot => "LEAD_RATING_HOT",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadData {
    pub first_name: String,
    pub last_name: String,
    /// Normalised email or empty.
    pub email: String,
    /// E.164 or empty.
    pub phone: String,
    pub company: String,
    pub title: String,
    pub source: String,
    pub country_code: String,
    pub employee_count: i32,
    pub status: LeadStatus,
    pub rating: LeadRating,
    pub score: i32,
    pub owner_id: Uuid,
    /// Validated against the tenant's lead custom field definitions by the store.
    pub custom_fields: CustomValues,
}

/// What a converted lead became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedTo {
    pub account_id: Uuid,
    pub contact_id: Uuid,
    pub opportunity_id: Option<Uuid>,
    pub converted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    pub id: Uuid,
    pub data: LeadData,
    pub converted: Option<ConvertedTo>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Changes to a lead; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub title: Option<String>,
    pub source: Option<String>,
    pub country_code: Option<String>,
    pub employee_count: Option<i32>,
    pub status: Option<LeadStatus>,
    pub rating: Option<LeadRating>,
    pub score: Option<i32>,
    pub owner_id: Option<Uuid>,
    /// Replaces every custom value.
    pub custom_fields: Option<CustomValues>,
}

impl LeadData {
    pub fn apply(&self, patch: LeadPatch) -> Self {
        let c = self.clone();
        Self {
            first_name: patch.first_name.unwrap_or(c.first_name),
            last_name: patch.last_name.unwrap_or(c.last_name),
            email: patch.email.unwrap_or(c.email),
            phone: patch.phone.unwrap_or(c.phone),
            company: patch.company.unwrap_or(c.company),
            title: patch.title.unwrap_or(c.title),
            source: patch.source.unwrap_or(c.source),
            country_code: patch.country_code.unwrap_or(c.country_code),
            employee_count: patch.employee_count.unwrap_or(c.employee_count),
            status: patch.status.unwrap_or(c.status),
            rating: patch.rating.unwrap_or(c.rating),
            score: patch.score.unwrap_or(c.score),
            owner_id: patch.owner_id.unwrap_or(c.owner_id),
            custom_fields: patch.custom_fields.unwrap_or(c.custom_fields),
        }
    }

    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("first_name", self.first_name != after.first_name),
            ("last_name", self.last_name != after.last_name),
            ("email", self.email != after.email),
            ("phone", self.phone != after.phone),
            ("company", self.company != after.company),
            ("title", self.title != after.title),
            ("source", self.source != after.source),
            ("country_code", self.country_code != after.country_code),
            (
                "employee_count",
                self.employee_count != after.employee_count,
            ),
            ("status", self.status != after.status),
            ("rating", self.rating != after.rating),
            ("score", self.score != after.score),
            ("owner_id", self.owner_id != after.owner_id),
            ("custom_fields", self.custom_fields != after.custom_fields),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

pub fn parse_score(raw: i32) -> Result<i32, String> {
    if (0..=MAX_SCORE).contains(&raw) {
        Ok(raw)
    } else {
        Err(format!("must be between 0 and {MAX_SCORE}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_round_trip_and_converted_is_not_settable() {
        for status in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(status.as_str()), Some(status));
        }
        for rating in LeadRating::ALL {
            assert_eq!(LeadRating::parse(rating.as_str()), Some(rating));
        }
        assert!(LeadStatus::Converted.settable().is_err());
        assert_eq!(LeadStatus::Working.settable(), Ok(LeadStatus::Working));
        assert_eq!(
            parse_score(101),
            Err("must be between 0 and 100".to_owned())
        );
        assert_eq!(parse_score(0), Ok(0));
    }
}

/// An email or nothing.
pub fn optional_email(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    super::Email::parse(raw)
        .map(super::Email::into_inner)
        .map_err(|e| e.to_string())
}

/// A phone number or nothing.
pub fn optional_phone(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    super::PhoneE164::parse(raw)
        .map(super::PhoneE164::into_inner)
        .map_err(|e| e.to_string())
}

/// A new lead's fields as a Create request or an import row gives them, before validation.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeadFields<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub company: &'a str,
    pub title: &'a str,
    pub source: &'a str,
    pub country_code: &'a str,
    pub employee_count: i32,
}

/// The fields a new lead takes from a Create request and from an import row alike, checked by
/// one set of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadBasics {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub company: String,
    pub title: String,
    pub source: String,
    pub country_code: String,
    pub employee_count: i32,
}

impl LeadFields<'_> {
    /// Every bad field is added to `v` by its name; `None` when one was bad.
    pub fn parse(&self, v: &mut super::Violations) -> Option<LeadBasics> {
        use super::{country, text};
        let first_name = v.check("first_name", text::optional(self.first_name, MAX_NAME_LEN));
        let last_name = v.check("last_name", text::required(self.last_name, MAX_NAME_LEN));
        let email = v.check("email", optional_email(self.email));
        let phone = v.check("phone", optional_phone(self.phone));
        let company = v.check("company", text::optional(self.company, MAX_TEXT_LEN));
        let title = v.check("title", text::optional(self.title, MAX_TEXT_LEN));
        let source = v.check("source", text::optional(self.source, MAX_TEXT_LEN));
        let country_code = v.check("country_code", country::parse_optional(self.country_code));
        let employee_count = v.check(
            "employee_count",
            super::account::parse_employee_count(self.employee_count),
        );
        Some(LeadBasics {
            first_name: first_name?,
            last_name: last_name?,
            email: email?,
            phone: phone?,
            company: company?,
            title: title?,
            source: source?,
            country_code: country_code?,
            employee_count: employee_count?,
        })
    }
}

impl LeadBasics {
    /// A new lead of `owner_id`: new, rated as given, unscored.
    pub fn into_data(
        self,
        rating: LeadRating,
        owner_id: Uuid,
        custom_fields: CustomValues,
    ) -> LeadData {
        LeadData {
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            company: self.company,
            title: self.title,
            source: self.source,
            country_code: self.country_code,
            employee_count: self.employee_count,
            status: LeadStatus::New,
            rating,
            score: 0,
            owner_id,
            custom_fields,
        }
    }
}
