//! Activities (tasks, calls, meetings, logged emails and notes) linked to any CRM record.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::visibility::RecordKind;

pub const MAX_SUBJECT_LEN: usize = 300;
pub const MAX_BODY_LEN: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    Task,
    Call,
    Meeting,
    Email,
    Note,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 5] = [
        ActivityKind::Task,
        ActivityKind::Call,
        ActivityKind::Meeting,
        ActivityKind::Email,
        ActivityKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Task => "task",
            ActivityKind::Call => "call",
            ActivityKind::Meeting => "meeting",
            ActivityKind::Email => "email",
            ActivityKind::Note => "note",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// The kind of record an activity, a history row or a timeline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Record(RecordKind),
    Case,
}

impl RecordType {
    pub const ALL: [RecordType; 5] = [
        RecordType::Record(RecordKind::Account),
        RecordType::Record(RecordKind::Contact),
        RecordType::Record(RecordKind::Lead),
        RecordType::Record(RecordKind::Opportunity),
        RecordType::Case,
    ];

    /// Stored name, also the `record_type` of field history rows.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Record(kind) => kind.name(),
            RecordType::Case => "case",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

/// A link to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef {
    pub record_type: RecordType,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityData {
    pub kind: ActivityKind,
    pub subject: String,
    pub body: String,
    pub related_to: RecordRef,
    pub due_date: Option<NaiveDate>,
    pub remind_at: Option<DateTime<Utc>>,
    pub owner_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub id: Uuid,
    pub data: ActivityData,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityPatch {
    pub kind: Option<ActivityKind>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub related_to: Option<RecordRef>,
    pub due_date: Option<Option<NaiveDate>>,
    pub remind_at: Option<Option<DateTime<Utc>>>,
    pub owner_id: Option<Uuid>,
}

impl ActivityData {
    pub fn apply(&self, patch: &ActivityPatch) -> ActivityData {
        ActivityData {
            kind: patch.kind.unwrap_or(self.kind),
            subject: patch
                .subject
                .clone()
                .unwrap_or_else(|| self.subject.clone()),
            body: patch.body.clone().unwrap_or_else(|| self.body.clone()),
            related_to: patch.related_to.unwrap_or(self.related_to),
            due_date: patch.due_date.unwrap_or(self.due_date),
            remind_at: patch.remind_at.unwrap_or(self.remind_at),
            owner_id: patch.owner_id.unwrap_or(self.owner_id),
        }
    }

    /// Proto names of the fields that differ.
    pub fn changed_fields(&self, other: &ActivityData) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.kind != other.kind {
            changed.push("kind");
        }
        if self.subject != other.subject {
            changed.push("subject");
        }
        if self.body != other.body {
            changed.push("body");
        }
        if self.related_to != other.related_to {
            changed.push("related_to");
        }
        if self.due_date != other.due_date {
            changed.push("due_date");
        }
        if self.remind_at != other.remind_at {
            changed.push("remind_time");
        }
        if self.owner_id != other.owner_id {
            changed.push("owner_id");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_record_types_round_trip() {
        for kind in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(kind));
        }
        for t in RecordType::ALL {
            assert_eq!(RecordType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ActivityKind::parse("fax"), None);
        assert_eq!(RecordType::parse("invoice"), None);
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let data = ActivityData {
            kind: ActivityKind::Call,
            subject: "Intro".into(),
            body: String::new(),
            related_to: RecordRef {
                record_type: RecordType::Case,
                id: Uuid::now_v7(),
            },
            due_date: None,
            remind_at: None,
            owner_id: Uuid::now_v7(),
        };
        let after = data.apply(&ActivityPatch {
            subject: Some("Follow-up".into()),
            due_date: Some(NaiveDate::from_ymd_opt(2026, 12, 1)),
            ..Default::default()
        });
        assert_eq!(data.changed_fields(&after), ["subject", "due_date"]);
        assert_eq!(after.kind, ActivityKind::Call);
    }
}
