//! Field history.

use proto::crm as pb;

use super::{optional_id_to_pb, record_type_from_pb, timestamp_to_pb};
use crate::domain::history::{ChangeKind, FieldChange, HistoryKind};

pub fn field_change_to_pb(c: FieldChange) -> pb::FieldChange {
    pb::FieldChange {
        id: c.id.to_string(),
        kind: change_kind_to_pb(c.kind) as i32,
        field: c.field,
        old_value: c.old_value,
        new_value: c.new_value,
        actor_id: optional_id_to_pb(c.actor_id),
        // `service:<name>` for a service's change, else the user's id.
        actor: c
            .actor_id
            .map(|a| auth::Actor::from_id(a).to_string())
            .unwrap_or_default(),
        change_time: Some(timestamp_to_pb(c.changed_at)),
    }
}

pub fn change_kind_to_pb(kind: ChangeKind) -> pb::ChangeKind {
    match kind {
        ChangeKind::Create => pb::ChangeKind::Create,
        ChangeKind::Update => pb::ChangeKind::Update,
        ChangeKind::Delete => pb::ChangeKind::Delete,
        ChangeKind::Restore => pb::ChangeKind::Restore,
    }
}

/// The kind of record whose history a request names: any record type, history-only ones too.
pub fn history_kind_from_pb(raw: i32) -> Result<HistoryKind, &'static str> {
    Ok(match pb::RecordType::try_from(raw) {
        Ok(pb::RecordType::Quote) => HistoryKind::Quote,
        Ok(pb::RecordType::Product) => HistoryKind::Product,
        Ok(pb::RecordType::PriceBook) => HistoryKind::PriceBook,
        Ok(pb::RecordType::PriceBookEntry) => HistoryKind::PriceBookEntry,
        Ok(pb::RecordType::Activity) => HistoryKind::Activity,
        Ok(pb::RecordType::Pipeline) => HistoryKind::Pipeline,
        Ok(pb::RecordType::Stage) => HistoryKind::Stage,
        Ok(pb::RecordType::LostReason) => HistoryKind::LostReason,
        Ok(pb::RecordType::CustomFieldDefinition) => HistoryKind::CustomFieldDefinition,
        Ok(pb::RecordType::AssignmentRule) => HistoryKind::AssignmentRule,
        Ok(pb::RecordType::Settings) => HistoryKind::Settings,
        Ok(
            pb::RecordType::Unspecified
            | pb::RecordType::Account
            | pb::RecordType::Contact
            | pb::RecordType::Lead
            | pb::RecordType::Opportunity
            | pb::RecordType::Case,
        )
        | Err(_) => HistoryKind::Record(record_type_from_pb(raw)?),
    })
}
