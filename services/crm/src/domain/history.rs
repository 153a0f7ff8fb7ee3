//! What happened to a record: field changes (written by one database trigger function on every
//! create, update, delete and restore of every record kind, under the API's field names) and the
//! timeline that merges them with the record's activities and stage moves.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::activity::{Activity, RecordType};
use super::opportunity::StageChange;

/// What a change did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Every set field, old value null.
    Create,
    Update,
    /// Every set field, new value null.
    Delete,
    /// A deleted record came back: every set field, old value null.
    Restore,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 4] = [
        ChangeKind::Create,
        ChangeKind::Update,
        ChangeKind::Delete,
        ChangeKind::Restore,
    ];

    /// Stored name (`field_history.change`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Restore => "restore",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Every kind of record whose field history is kept: the records activities link to, plus the
/// catalog, quotes, activities and the tenant's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    Record(RecordType),
    Quote,
    Product,
    PriceBook,
    PriceBookEntry,
    Activity,
    Pipeline,
    Stage,
    LostReason,
    CustomFieldDefinition,
    AssignmentRule,
    /// The tenant's CRM settings; the record id is the tenant id.
    Settings,
}

/// Who may read the history of a kind, beyond reading CRM records at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryAudience {
    /// Whoever can read (or could read, before its deletion) the record itself.
    RecordReaders,
    /// Everyone reading CRM records (the catalog is the whole tenant's).
    Everyone,
    /// Who may manage pipelines, stages and lost reasons.
    PipelineAdmins,
    /// Who may define custom fields.
    FieldAdmins,
    /// Who may change CRM settings and assignment rules.
    SettingsAdmins,
}

impl HistoryKind {
    /// Stored name, the `record_type` of field history rows (the triggers' first argument).
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Record(t) => t.as_str(),
            HistoryKind::Quote => "quote",
            HistoryKind::Product => "product",
            HistoryKind::PriceBook => "price_book",
            HistoryKind::PriceBookEntry => "price_book_entry",
            HistoryKind::Activity => "activity",
            HistoryKind::Pipeline => "pipeline",
            HistoryKind::Stage => "stage",
            HistoryKind::LostReason => "lost_reason",
            HistoryKind::CustomFieldDefinition => "custom_field_definition",
            HistoryKind::AssignmentRule => "assignment_rule",
            HistoryKind::Settings => "settings",
        }
    }

    pub fn audience(self) -> HistoryAudience {
        match self {
            HistoryKind::Record(_) | HistoryKind::Quote | HistoryKind::Activity => {
                HistoryAudience::RecordReaders
            }
            HistoryKind::Product | HistoryKind::PriceBook | HistoryKind::PriceBookEntry => {
                HistoryAudience::Everyone
            }
            HistoryKind::Pipeline | HistoryKind::Stage | HistoryKind::LostReason => {
                HistoryAudience::PipelineAdmins
            }
            HistoryKind::CustomFieldDefinition => HistoryAudience::FieldAdmins,
            HistoryKind::AssignmentRule | HistoryKind::Settings => HistoryAudience::SettingsAdmins,
        }
    }
}

/// The record a field history belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySubject {
    pub kind: HistoryKind,
    pub id: Uuid,
}

/// One changed field of one create, update, delete or restore; values are JSON text (`null` when
/// unset), fields named as the API names them (`amount`, `billing_address`, `custom_fields.<key>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub id: Uuid,
    pub kind: ChangeKind,
    pub field: String,
    pub old_value: String,
    pub new_value: String,
    /// `None` for changes the system made (e.g. the SLA sweeper).
    pub actor_id: Option<Uuid>,
    pub changed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineItem {
    Activity(Activity),
    FieldChange(FieldChange),
    StageChange(StageChange),
}

/// One timeline entry; `id` and `at` are its keyset position (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub item: TimelineItem,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::visibility::RecordKind;

    #[test]
    fn change_kinds_round_trip_and_kinds_name_their_trigger() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("upsert"), None);
        assert_eq!(
            HistoryKind::Record(RecordType::Record(RecordKind::Opportunity)).as_str(),
            "opportunity"
        );
        assert_eq!(HistoryKind::AssignmentRule.as_str(), "assignment_rule");
        assert_eq!(
            HistoryKind::Settings.audience(),
            HistoryAudience::SettingsAdmins
        );
        assert_eq!(
            HistoryKind::Quote.audience(),
            HistoryAudience::RecordReaders
        );
    }
}
