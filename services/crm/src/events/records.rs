//! Events of merges, shares and lead assignment rules.

use std::collections::HashMap;

use events::NewEvent;
use proto::crm as pb;
use uuid::Uuid;

use super::publish::Result;
use crate::convert::{assignment_rule_to_pb, record_kind_to_pb, share_access_to_pb};
use crate::domain::assignment::Rule;
use crate::domain::sharing::Share;
use crate::domain::visibility::{RecordKind, Viewer};

/// `crm.<entity>.merged`: which loser went into which survivor, what changed and moved.
pub fn record_merged(
    viewer: Viewer,
    kind: RecordKind,
    survivor: Uuid,
    loser: Uuid,
    changed: &[&str],
    reparented: HashMap<String, i64>,
) -> Result<NewEvent> {
    let payload = pb::RecordMerged {
        record_type: record_kind_to_pb(kind) as i32,
        survivor_id: survivor.to_string(),
        loser_id: loser.to_string(),
        changed_fields: changed.iter().map(|f| (*f).to_owned()).collect(),
        reparented,
        actor_id: viewer.user_id.to_string(),
    };
    NewEvent::new(
        &format!("crm.{}.merged", kind.name()),
        viewer.tenant_id,
        kind.name(),
        survivor,
        &payload,
    )
}

/// `crm.record.shared` or `crm.record.unshared`: the same fields in two message types, so a
/// consumer binds the one it cares about.
pub fn record_shared(viewer: Viewer, share: &Share, granted: bool) -> Result<NewEvent> {
    let record_type = record_kind_to_pb(share.kind) as i32;
    let record_id = share.record_id.to_string();
    let user_id = share.user_id.to_string();
    let access = share_access_to_pb(share.access) as i32;
    let actor_id = viewer.user_id.to_string();
    let aggregate = (viewer.tenant_id, share.kind.name(), share.record_id);
    Ok(if granted {
        let payload = pb::RecordShared {
            record_type,
            record_id,
            user_id,
            access,
            actor_id,
        };
        NewEvent::new(
            "crm.record.shared",
            aggregate.0,
            aggregate.1,
            aggregate.2,
            &payload,
        )?
    } else {
        let payload = pb::RecordUnshared {
            record_type,
            record_id,
            user_id,
            access,
            actor_id,
        };
        NewEvent::new(
            "crm.record.unshared",
            aggregate.0,
            aggregate.1,
            aggregate.2,
            &payload,
        )?
    })
}

/// `crm.lead_assignment_rule.<verb>` with the rule.
pub fn assignment_rule_changed(rule: &Rule, verb: &str, viewer: Viewer) -> Result<NewEvent> {
    NewEvent::new(
        &format!("crm.lead_assignment_rule.{verb}"),
        viewer.tenant_id,
        "lead_assignment_rule",
        rule.id,
        &assignment_rule_to_pb(rule.clone()),
    )
}
