//! Builders of the case and activity events (`crm.case.*`, `crm.activity.*`).

use chrono::{DateTime, Utc};
use events::NewEvent;
use proto::crm as pb;
use uuid::Uuid;

use crate::convert::activity_to_pb;
use crate::convert::case_to_pb;
use crate::convert::timestamp_to_pb;
use crate::domain::activity::Activity;
use crate::domain::case::{Breach, Case};
use crate::domain::visibility::Viewer;

pub type Result<T> = std::result::Result<T, events::Error>;

/// `crm.case.created|updated|deleted|opened|closed` with the case as it is now.
pub fn case_changed(
    viewer: Viewer,
    event_type: &str,
    case: Case,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let id = case.id;
    NewEvent::new(
        event_type,
        viewer.tenant_id,
        "case",
        id,
        &pb::CaseChanged {
            case: Some(case_to_pb(case)),
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
            actor_id: viewer.user_id.to_string(),
        },
    )
}

/// `crm.case.sla_breached`: the case missed `breach`, due at `due`.
pub fn case_sla_breached(
    tenant_id: Uuid,
    case: Case,
    breach: Breach,
    due: DateTime<Utc>,
) -> Result<NewEvent> {
    let id = case.id;
    NewEvent::new(
        "crm.case.sla_breached",
        tenant_id,
        "case",
        id,
        &pb::CaseSlaBreached {
            case: Some(case_to_pb(case)),
            target: breach.as_str().to_owned(),
            due_time: Some(timestamp_to_pb(due)),
        },
    )
}

/// `crm.activity.created|updated|deleted|logged`.
pub fn activity_changed(
    viewer: Viewer,
    event_type: &str,
    activity: Activity,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let id = activity.id;
    NewEvent::new(
        event_type,
        viewer.tenant_id,
        "activity",
        id,
        &pb::ActivityChanged {
            activity: Some(activity_to_pb(activity)),
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
            actor_id: viewer.user_id.to_string(),
        },
    )
}

/// `crm.activity.reminder_due`: the activity's reminder, due at `remind_at`, fired at `fired_at`.
pub fn activity_reminder_due(
    tenant_id: Uuid,
    activity: Activity,
    remind_at: DateTime<Utc>,
    fired_at: DateTime<Utc>,
) -> Result<NewEvent> {
    let id = activity.id;
    NewEvent::new(
        "crm.activity.reminder_due",
        tenant_id,
        "activity",
        id,
        &pb::ActivityReminderDue {
            activity: Some(activity_to_pb(activity)),
            remind_time: Some(timestamp_to_pb(remind_at)),
            fire_time: Some(timestamp_to_pb(fired_at)),
        },
    )
}
