//! What kind of touch an engagement event is: the built-in kinds with their default points and
//! daily caps, and the kinds a tenant defines (`custom:<name>`).

use std::fmt;

/// A custom kind's name: 1-64 of `[a-z0-9_]`.
const MAX_CUSTOM_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    EmailSent,
    EmailOpened,
    EmailClicked,
    EmailReplied,
    Call,
    CallInbound,
    CallOutbound,
    CallMissed,
    Meeting,
    WebVisit,
    FormSubmitted,
    QuoteSent,
    QuoteViewed,
    QuoteAccepted,
    InvoicePaid,
    CaseOpened,
    CaseClosed,
    LeadConverted,
    Custom(String),
}

/// The built-in kinds with their default points and daily cap per record (0 = no cap). A reply
/// or a meeting is worth far more than an open; opens, clicks and visits are capped because a
/// mail client or a crawler repeats them.
const BUILT_IN: &[(Kind, &str, f64, u32)] = &[
    (Kind::EmailSent, "email_sent", 1.0, 10),
    (Kind::EmailOpened, "email_opened", 2.0, 3),
    (Kind::EmailClicked, "email_clicked", 4.0, 3),
    (Kind::EmailReplied, "email_replied", 15.0, 0),
    (Kind::Call, "call", 10.0, 0),
    (Kind::CallInbound, "call_inbound", 12.0, 0),
    (Kind::CallOutbound, "call_outbound", 8.0, 0),
    (Kind::CallMissed, "call_missed", 1.0, 5),
    (Kind::Meeting, "meeting", 20.0, 0),
    (Kind::WebVisit, "web_visit", 2.0, 5),
    (Kind::FormSubmitted, "form_submitted", 10.0, 3),
    (Kind::QuoteSent, "quote_sent", 8.0, 0),
    (Kind::QuoteViewed, "quote_viewed", 5.0, 3),
    (Kind::QuoteAccepted, "quote_accepted", 25.0, 0),
    (Kind::InvoicePaid, "invoice_paid", 20.0, 0),
    (Kind::CaseOpened, "case_opened", 3.0, 0),
    (Kind::CaseClosed, "case_closed", 2.0, 0),
    (Kind::LeadConverted, "lead_converted", 15.0, 0),
];

/// Default points and cap of a custom kind until the tenant sets them.
const CUSTOM_POINTS: f64 = 5.0;
const CUSTOM_CAP: u32 = 0;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KindError {
    #[error("must be 1-{MAX_CUSTOM_CHARS} of a-z, 0-9 and _")]
    CustomName,
    #[error("unknown kind")]
    Unknown,
}

impl Kind {
    /// Every built-in kind.
    pub fn built_in() -> impl Iterator<Item = Kind> {
        BUILT_IN.iter().map(|(kind, ..)| kind.clone())
    }

    /// A tenant's kind, checked.
    pub fn custom(name: &str) -> Result<Kind, KindError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_CUSTOM_CHARS
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Kind::Custom(name.to_owned()))
        } else {
            Err(KindError::CustomName)
        }
    }

    /// The stored name: `email_opened`, or `custom:<name>`.
    pub fn key(&self) -> String {
        match self {
            Kind::Custom(name) => format!("custom:{name}"),
            built_in => built_in_entry(built_in)
                .map(|(_, key, ..)| (*key).to_owned())
                .unwrap_or_default(),
        }
    }

    /// The kind of a stored name.
    pub fn from_key(key: &str) -> Result<Kind, KindError> {
        if let Some(name) = key.strip_prefix("custom:") {
            return Kind::custom(name);
        }
        BUILT_IN
            .iter()
            .find(|(_, k, ..)| *k == key)
            .map(|(kind, ..)| kind.clone())
            .ok_or(KindError::Unknown)
    }

    pub fn default_points(&self) -> f64 {
        built_in_entry(self).map_or(CUSTOM_POINTS, |(_, _, points, _)| *points)
    }

    pub fn default_daily_cap(&self) -> u32 {
        built_in_entry(self).map_or(CUSTOM_CAP, |(.., cap)| *cap)
    }
}

fn built_in_entry(kind: &Kind) -> Option<&'static (Kind, &'static str, f64, u32)> {
    BUILT_IN.iter().find(|(k, ..)| k == kind)
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for kind in Kind::built_in().chain([Kind::Custom("webinar_attended".into())]) {
            assert_eq!(Kind::from_key(&kind.key()), Ok(kind));
        }
        assert_eq!(Kind::from_key("fax_sent"), Err(KindError::Unknown));
    }

    #[test]
    fn custom_names_are_checked() {
        assert!(Kind::custom("webinar_2026").is_ok());
        for bad in ["", "Webinar", "web-inar", &"x".repeat(65)] {
            assert_eq!(Kind::custom(bad), Err(KindError::CustomName), "{bad}");
        }
    }

    #[test]
    fn a_reply_or_a_meeting_is_worth_far_more_than_an_open() {
        let open = Kind::EmailOpened.default_points();
        assert!(Kind::EmailReplied.default_points() >= 5.0 * open);
        assert!(Kind::Meeting.default_points() >= 5.0 * open);
        assert!(Kind::EmailOpened.default_daily_cap() > 0);
    }
}
