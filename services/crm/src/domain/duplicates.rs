//! Likely duplicates of a record about to be created. The matching itself runs in the store
//! (indexed probes; the name normalization is the SQL function `crm_name_key`, one definition
//! for stored keys and probes); this module says what is probed and how candidates are ranked
//! and split by visibility.

use uuid::Uuid;

use super::account::AccountData;
use super::contact::NewContact;
use super::lead::LeadData;
use super::visibility::RecordKind;

/// The most candidates a response names; more only make the list unreadable.
pub const MAX_CANDIDATES: usize = 20;

/// Why a candidate matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Email,
    Phone,
    Name,
    Domain,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Email => "email",
            Rule::Phone => "phone",
            Rule::Name => "name",
            Rule::Domain => "domain",
        }
    }
}

/// What a new record is compared by. Emails are lowercase and phones E.164 (parsed at the
/// edge), so equality is the match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Account {
        name: String,
        domain: String,
    },
    /// A contact or lead: both are compared with existing contacts and leads.
    Person {
        first_name: String,
        last_name: String,
        emails: Vec<String>,
        phones: Vec<String>,
    },
}

impl Probe {
    pub fn person(first_name: &str, last_name: &str, emails: &[&str], phones: &[&str]) -> Self {
        let present = |values: &[&str]| -> Vec<String> {
            values
                .iter()
                .filter(|v| !v.is_empty())
                .map(|v| (*v).to_owned())
                .collect()
        };
        Probe::Person {
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            emails: present(emails),
            phones: present(phones),
        }
    }

    /// A new account is compared by name and web domain.
    pub fn account(a: &AccountData) -> Self {
        Probe::Account {
            name: a.name.clone(),
            domain: a.domain.clone(),
        }
    }

    /// A new contact is compared by name, emails and phones.
    pub fn contact(c: &NewContact) -> Self {
        let emails: Vec<&str> = c.emails.iter().map(|e| e.as_str()).collect();
        let phones: Vec<&str> = c.phones.iter().map(|p| p.as_str()).collect();
        Probe::person(&c.first_name, &c.last_name, &emails, &phones)
    }

    /// A new lead is compared by name, email and phone, like a contact.
    pub fn lead(l: &LeadData) -> Self {
        Probe::person(&l.first_name, &l.last_name, &[&l.email], &[&l.phone])
    }

    /// The record kinds this probe is compared with.
    pub fn kinds(&self) -> &'static [RecordKind] {
        match self {
            Probe::Account { .. } => &[RecordKind::Account],
            Probe::Person { .. } => &[RecordKind::Contact, RecordKind::Lead],
        }
    }
}

/// An existing record that matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub kind: RecordKind,
    pub id: Uuid,
    pub display_name: String,
    pub owner_id: Uuid,
    pub rules: Vec<Rule>,
}

/// The matches a viewer is told about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Duplicates {
    /// Readable by the viewer, best first, at most [`MAX_CANDIDATES`].
    pub candidates: Vec<Candidate>,
    /// Matches the viewer may not read: counted, never named.
    pub hidden: u32,
}

impl Duplicates {
    /// Splits matches by `visible`, ranking the visible ones: most rules matched first, then
    /// newest (ids are UUIDv7).
    pub fn sort(matches: Vec<Candidate>, visible: impl Fn(&Candidate) -> bool) -> Self {
        let (mut candidates, hidden): (Vec<_>, Vec<_>) = matches.into_iter().partition(visible);
        candidates.sort_by(|a, b| b.rules.len().cmp(&a.rules.len()).then(b.id.cmp(&a.id)));
        candidates.truncate(MAX_CANDIDATES);
        Duplicates {
            candidates,
            hidden: u32::try_from(hidden.len()).unwrap_or(u32::MAX),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty() && self.hidden == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(rules: &[Rule], owner: Uuid) -> Candidate {
        Candidate {
            kind: RecordKind::Lead,
            id: Uuid::now_v7(),
            display_name: "Ann Lee".into(),
            owner_id: owner,
            rules: rules.to_vec(),
        }
    }

    #[test]
    fn person_probes_ignore_blank_values() {
        assert_eq!(
            Probe::person("Ann", "Lee", &["", "ann@x.io"], &[""]),
            Probe::Person {
                first_name: "Ann".into(),
                last_name: "Lee".into(),
                emails: vec!["ann@x.io".into()],
                phones: vec![],
            }
        );
    }

    #[test]
    fn hidden_matches_are_counted_and_visible_ones_ranked() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        let older = candidate(&[Rule::Name], me);
        let newer = candidate(&[Rule::Name], me);
        let strong = candidate(&[Rule::Email, Rule::Name], me);
        let hidden = candidate(&[Rule::Email], other);
        let found = Duplicates::sort(
            vec![older.clone(), hidden, newer.clone(), strong.clone()],
            |c| c.owner_id == me,
        );
        assert_eq!(found.candidates, vec![strong, newer, older]);
        assert_eq!(found.hidden, 1);
        assert!(!found.is_empty());
        assert!(Duplicates::sort(vec![], |_| true).is_empty());
    }
}
