//! Support cases and business hours.

use proto::crm as pb;

use super::{custom_values_to_pb, optional_id_to_pb, timestamp_to_pb};
use crate::domain::business_hours::{BusinessHours, format_time};
use crate::domain::case::{Case, Priority, Status};

/// A priority; unset means normal on create.
pub fn case_priority_from_pb(
    raw: i32,
    default: Option<Priority>,
) -> Result<Priority, &'static str> {
    match pb::CasePriority::try_from(raw) {
        Ok(pb::CasePriority::Low) => Ok(Priority::Low),
        Ok(pb::CasePriority::Normal) => Ok(Priority::Normal),
        Ok(pb::CasePriority::High) => Ok(Priority::High),
        Ok(pb::CasePriority::Urgent) => Ok(Priority::Urgent),
        Ok(pb::CasePriority::Unspecified) => default.ok_or("is required"),
        Err(_) => Err("unknown priority; use CASE_PRIORITY_LOW, _NORMAL, _HIGH or _URGENT"),
    }
}

/// A status set through UpdateCase: only the working states; the others have actions.
pub fn working_case_status_from_pb(raw: i32) -> Result<Status, &'static str> {
    match pb::CaseStatus::try_from(raw) {
        Ok(pb::CaseStatus::New) => Ok(Status::New),
        Ok(pb::CaseStatus::Open) => Ok(Status::Open),
        Ok(pb::CaseStatus::Pending) => Ok(Status::Pending),
        Ok(pb::CaseStatus::Resolved | pb::CaseStatus::Closed) => {
            Err("use the :resolve and :close methods to finish a case")
        }
        Ok(pb::CaseStatus::Unspecified) => Err("is required"),
        Err(_) => Err("unknown status"),
    }
}

pub fn case_priority_to_pb(p: Priority) -> pb::CasePriority {
    match p {
        Priority::Low => pb::CasePriority::Low,
        Priority::Normal => pb::CasePriority::Normal,
        Priority::High => pb::CasePriority::High,
        Priority::Urgent => pb::CasePriority::Urgent,
    }
}

pub fn case_status_to_pb(s: Status) -> pb::CaseStatus {
    match s {
        Status::New => pb::CaseStatus::New,
        Status::Open => pb::CaseStatus::Open,
        Status::Pending => pb::CaseStatus::Pending,
        Status::Resolved => pb::CaseStatus::Resolved,
        Status::Closed => pb::CaseStatus::Closed,
    }
}

pub fn case_to_pb(c: Case) -> pb::Case {
    let d = c.data;
    pb::Case {
        id: c.id.to_string(),
        subject: d.subject,
        description: d.description,
        priority: case_priority_to_pb(d.priority) as i32,
        status: case_status_to_pb(c.status) as i32,
        account_id: optional_id_to_pb(d.account_id),
        contact_id: optional_id_to_pb(d.contact_id),
        owner_id: d.owner_id.to_string(),
        first_response_due_time: Some(timestamp_to_pb(c.first_response_due)),
        resolution_due_time: Some(timestamp_to_pb(c.resolution_due)),
        first_response_time: c.first_response_at.map(timestamp_to_pb),
        resolve_time: c.resolved_at.map(timestamp_to_pb),
        close_time: c.closed_at.map(timestamp_to_pb),
        sla_breached: c.sla_breached_at.is_some(),
        sla_breach_time: c.sla_breached_at.map(timestamp_to_pb),
        create_time: Some(timestamp_to_pb(c.created_at)),
        update_time: Some(timestamp_to_pb(c.updated_at)),
        custom_fields: custom_values_to_pb(d.custom_fields),
    }
}

pub fn business_hours_to_pb(h: &BusinessHours) -> pb::BusinessHours {
    pb::BusinessHours {
        time_zone: h.time_zone().name().to_owned(),
        weekdays: h.weekdays(),
        opens_at: format_time(h.opens_at()),
        closes_at: format_time(h.closes_at()),
    }
}
