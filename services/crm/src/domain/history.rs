//! What happened to a record: field changes (written by database triggers on every update) and
//! the timeline that merges them with the record's activities and stage moves.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::activity::Activity;
use super::opportunity::StageChange;

/// One changed field of one update; values are JSON text (`null` when unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub id: Uuid,
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
