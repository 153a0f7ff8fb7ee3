//! Contacts: people, usually at an account, with their consent to be contacted.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::custom_fields::CustomValues;
use super::email::Email;
use super::phone::PhoneE164;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_TITLE_LEN: usize = 200;
pub const MAX_SOURCE_LEN: usize = 100;
/// Emails and phones per contact.
pub const MAX_CHANNELS: usize = 10;

/// Consent as the user states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsentInput {
    pub granted: bool,
    pub source: String,
}

/// Consent as stored: with the time it was last stated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    pub granted: bool,
    pub source: String,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// The consent after `input` was stated at `now`; the time moves only when the statement
    /// differs, so re-sending an unchanged contact keeps the original timestamp.
    pub fn stated(&self, input: ConsentInput, now: DateTime<Utc>) -> Self {
        if input.granted == self.granted && input.source == self.source {
            return self.clone();
        }
        Self {
            granted: input.granted,
            source: input.source,
            updated_at: Some(now),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactData {
    pub first_name: String,
    pub last_name: String,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub title: String,
    pub account_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub email_consent: Consent,
    pub phone_consent: Consent,
    /// Validated against the tenant's contact custom field definitions by the store.
    pub custom_fields: CustomValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: Uuid,
    pub data: ContactData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated contact to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub first_name: String,
    pub last_name: String,
    pub emails: Vec<Email>,
    pub phones: Vec<PhoneE164>,
    pub title: String,
    pub account_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub email_consent: ConsentInput,
    pub phone_consent: ConsentInput,
    pub custom_fields: CustomValues,
}

impl NewContact {
    pub fn into_data(self, now: DateTime<Utc>) -> ContactData {
        let blank = Consent::default();
        ContactData {
            first_name: self.first_name,
            last_name: self.last_name,
            emails: self.emails.into_iter().map(Email::into_inner).collect(),
            phones: self.phones.into_iter().map(PhoneE164::into_inner).collect(),
            title: self.title,
            account_id: self.account_id,
            owner_id: self.owner_id,
            email_consent: blank.stated(self.email_consent, now),
            phone_consent: blank.stated(self.phone_consent, now),
            custom_fields: self.custom_fields,
        }
    }
}

/// Changes to a contact; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub emails: Option<Vec<Email>>,
    pub phones: Option<Vec<PhoneE164>>,
    pub title: Option<String>,
    pub account_id: Option<Option<Uuid>>,
    pub owner_id: Option<Uuid>,
    pub email_consent: Option<ConsentInput>,
    pub phone_consent: Option<ConsentInput>,
    /// Replaces every custom value.
    pub custom_fields: Option<CustomValues>,
}

impl ContactData {
    pub fn apply(&self, patch: ContactPatch, now: DateTime<Utc>) -> Self {
        let current = self.clone();
        Self {
            first_name: patch.first_name.unwrap_or(current.first_name),
            last_name: patch.last_name.unwrap_or(current.last_name),
            emails: patch
                .emails
                .map(|e| e.into_iter().map(Email::into_inner).collect())
                .unwrap_or(current.emails),
            phones: patch
                .phones
                .map(|p| p.into_iter().map(PhoneE164::into_inner).collect())
                .unwrap_or(current.phones),
            title: patch.title.unwrap_or(current.title),
            account_id: patch.account_id.unwrap_or(current.account_id),
            owner_id: patch.owner_id.unwrap_or(current.owner_id),
            email_consent: match patch.email_consent {
                Some(input) => current.email_consent.stated(input, now),
                None => current.email_consent,
            },
            phone_consent: match patch.phone_consent {
                Some(input) => current.phone_consent.stated(input, now),
                None => current.phone_consent,
            },
            custom_fields: patch.custom_fields.unwrap_or(current.custom_fields),
        }
    }

    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("first_name", self.first_name != after.first_name),
            ("last_name", self.last_name != after.last_name),
            ("emails", self.emails != after.emails),
            ("phones", self.phones != after.phones),
            ("title", self.title != after.title),
            ("account_id", self.account_id != after.account_id),
            ("owner_id", self.owner_id != after.owner_id),
            ("email_consent", self.email_consent != after.email_consent),
            ("phone_consent", self.phone_consent != after.phone_consent),
            ("custom_fields", self.custom_fields != after.custom_fields),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

/// Parses a list of channels (emails or phones) with `parse`, dropping duplicates; the error
/// names the entry, e.g. `entry 2 is not a valid email address`.
pub fn parse_channels<T: PartialEq, E: std::fmt::Display>(
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, String> {
    if raw.len() > MAX_CHANNELS {
        return Err(format!("must have at most {MAX_CHANNELS} entries"));
    }
    let mut parsed = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let value = parse(value).map_err(|e| format!("entry {i} {e}"))?;
        if !parsed.contains(&value) {
            parsed.push(value);
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_time_moves_only_when_the_statement_changes() {
        let t0 = Utc::now();
        let t1 = t0 + chrono::Duration::seconds(5);
        let granted = Consent::default().stated(
            ConsentInput {
                granted: true,
                source: "web-form".into(),
            },
            t0,
        );
        assert_eq!(granted.updated_at, Some(t0));
        let same = granted.stated(
            ConsentInput {
                granted: true,
                source: "web-form".into(),
            },
            t1,
        );
        assert_eq!(same.updated_at, Some(t0));
        let withdrawn = same.stated(
            ConsentInput {
                granted: false,
                source: "call".into(),
            },
            t1,
        );
        assert_eq!(withdrawn.updated_at, Some(t1));
        assert_eq!(
            Consent::default().stated(ConsentInput::default(), t0),
            Consent::default()
        );
    }

    #[test]
    fn channels_are_parsed_deduplicated_and_errors_name_the_entry() {
        let emails = parse_channels(
            &["a@x.io".into(), "A@X.io".into(), "b@x.io".into()],
            Email::parse,
        )
        .expect("valid");
        assert_eq!(emails.len(), 2);
        assert_eq!(
            parse_channels(&["a@x.io".into(), "nope".into()], Email::parse),
            Err("entry 1 is not a valid email address".to_owned())
        );
        assert!(parse_channels(&vec!["+4930123456".to_owned(); 11], PhoneE164::parse).is_err());
    }
}

/// The fields a new contact takes from a Create request and from an import row alike, checked
/// by one set of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactBasics {
    pub first_name: String,
    pub last_name: String,
    pub emails: Vec<Email>,
    pub phones: Vec<PhoneE164>,
    pub title: String,
}

impl ContactBasics {
    /// Every bad field is added to `v` as `<prefix><field>`; `None` when one was bad.
    pub fn parse(
        first_name: &str,
        last_name: &str,
        emails: &[String],
        phones: &[String],
        title: &str,
        prefix: &str,
        v: &mut super::Violations,
    ) -> Option<Self> {
        use super::text;
        let first_name = v.check(
            &format!("{prefix}first_name"),
            text::optional(first_name, MAX_NAME_LEN),
        );
        let last_name = v.check(
            &format!("{prefix}last_name"),
            text::required(last_name, MAX_NAME_LEN),
        );
        let emails = v.check(
            &format!("{prefix}emails"),
            parse_channels(emails, Email::parse),
        );
        let phones = v.check(
            &format!("{prefix}phones"),
            parse_channels(phones, PhoneE164::parse),
        );
        let title = v.check(
            &format!("{prefix}title"),
            text::optional(title, MAX_TITLE_LEN),
        );
        Some(Self {
            first_name: first_name?,
            last_name: last_name?,
            emails: emails?,
            phones: phones?,
            title: title?,
        })
    }

    /// A new contact of `owner_id` at `account_id`, with no consent stated.
    pub fn into_new(self, account_id: Option<Uuid>, owner_id: Uuid) -> NewContact {
        NewContact {
            first_name: self.first_name,
            last_name: self.last_name,
            emails: self.emails,
            phones: self.phones,
            title: self.title,
            account_id,
            owner_id,
            email_consent: ConsentInput::default(),
            phone_consent: ConsentInput::default(),
            custom_fields: CustomValues::default(),
        }
    }
}
