//! Activities and what they hang on.

use proto::crm as pb;

use super::timestamp_to_pb;
use crate::domain::activity::{Activity, ActivityKind, RecordType};
use crate::domain::day;
use crate::domain::visibility::RecordKind;

pub fn activity_kind_from_pb(raw: i32) -> Result<ActivityKind, &'static str> {
    match pb::ActivityKind::try_from(raw) {
        Ok(pb::ActivityKind::Task) => Ok(ActivityKind::Task),
        Ok(pb::ActivityKind::Call) => Ok(ActivityKind::Call),
        Ok(pb::ActivityKind::Meeting) => Ok(ActivityKind::Meeting),
        Ok(pb::ActivityKind::Email) => Ok(ActivityKind::Email),
        Ok(pb::ActivityKind::Note) => Ok(ActivityKind::Note),
        Ok(pb::ActivityKind::Unspecified) => Err("is required"),
        Err(_) => Err("unknown activity kind"),
    }
}

pub fn activity_kind_to_pb(k: ActivityKind) -> pb::ActivityKind {
    match k {
        ActivityKind::Task => pb::ActivityKind::Task,
        ActivityKind::Call => pb::ActivityKind::Call,
        ActivityKind::Meeting => pb::ActivityKind::Meeting,
        ActivityKind::Email => pb::ActivityKind::Email,
        ActivityKind::Note => pb::ActivityKind::Note,
    }
}

/// A record type named in a request.
pub fn record_type_from_pb(raw: i32) -> Result<RecordType, &'static str> {
    match pb::RecordType::try_from(raw) {
        Ok(pb::RecordType::Account) => Ok(RecordType::Record(RecordKind::Account)),
        Ok(pb::RecordType::Contact) => Ok(RecordType::Record(RecordKind::Contact)),
        Ok(pb::RecordType::Lead) => Ok(RecordType::Record(RecordKind::Lead)),
        Ok(pb::RecordType::Opportunity) => Ok(RecordType::Record(RecordKind::Opportunity)),
        Ok(pb::RecordType::Case) => Ok(RecordType::Case),
        Ok(pb::RecordType::Unspecified) => Err("is required"),
        // The history-only kinds.
        Ok(_) | Err(_) => Err("unknown record type"),
    }
}

pub fn record_type_to_pb(t: RecordType) -> pb::RecordType {
    match t {
        RecordType::Record(RecordKind::Account) => pb::RecordType::Account,
        RecordType::Record(RecordKind::Contact) => pb::RecordType::Contact,
        RecordType::Record(RecordKind::Lead) => pb::RecordType::Lead,
        RecordType::Record(RecordKind::Opportunity) => pb::RecordType::Opportunity,
        RecordType::Case => pb::RecordType::Case,
    }
}

pub fn activity_to_pb(a: Activity) -> pb::Activity {
    let d = a.data;
    pb::Activity {
        id: a.id.to_string(),
        kind: activity_kind_to_pb(d.kind) as i32,
        subject: d.subject,
        body: d.body,
        related_to: Some(pb::RecordRef {
            r#type: record_type_to_pb(d.related_to.record_type) as i32,
            id: d.related_to.id.to_string(),
        }),
        due_date: d.due_date.map(day::format).unwrap_or_default(),
        remind_time: d.remind_at.map(timestamp_to_pb),
        owner_id: d.owner_id.to_string(),
        completed: a.completed_at.is_some(),
        complete_time: a.completed_at.map(timestamp_to_pb),
        create_time: Some(timestamp_to_pb(a.created_at)),
        update_time: Some(timestamp_to_pb(a.updated_at)),
    }
}
