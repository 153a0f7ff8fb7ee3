//! One of the four records, whichever kind: what a merge returns and a change event carries.

use uuid::Uuid;

use super::account::Account;
use super::contact::Contact;
use super::lead::Lead;
use super::opportunity::Opportunity;
use super::visibility::RecordKind;

/// An account, contact, lead or opportunity.
#[derive(Debug, Clone)]
pub enum Record {
    Account(Account),
    Contact(Contact),
    Lead(Lead),
    Opportunity(Opportunity),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Account(_) => RecordKind::Account,
            Record::Contact(_) => RecordKind::Contact,
            Record::Lead(_) => RecordKind::Lead,
            Record::Opportunity(_) => RecordKind::Opportunity,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Record::Account(r) => r.id,
            Record::Contact(r) => r.id,
            Record::Lead(r) => r.id,
            Record::Opportunity(r) => r.id,
        }
    }
}
