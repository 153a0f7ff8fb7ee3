//! The audit trail: who changed what, kept in the transaction of the change.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One audit trail entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: Uuid,
    /// None for changes made by events (e.g. a deal won).
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject_id: Option<Uuid>,
    pub detail: String,
    pub occurred_at: DateTime<Utc>,
}
