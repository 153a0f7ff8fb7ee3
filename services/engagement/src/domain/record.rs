//! The records touches are about.

use uuid::Uuid;

/// A touched record's type. Opportunities are not touched themselves; their touches (quotes)
/// land on their account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    Lead,
    Contact,
    Account,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Lead => "lead",
            RecordType::Contact => "contact",
            RecordType::Account => "account",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [RecordType::Lead, RecordType::Contact, RecordType::Account]
            .into_iter()
            .find(|t| t.as_str() == raw)
    }
}

/// One record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordRef {
    pub record_type: RecordType,
    pub id: Uuid,
}

/// What the projection of the CRM knows about a record: who owns it and, for a contact, its
/// account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRecord {
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
}
