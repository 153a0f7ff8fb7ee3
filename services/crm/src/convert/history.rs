//! Field history.

use proto::crm as pb;

use super::{optional_id_to_pb, timestamp_to_pb};
use crate::domain::history::FieldChange;

pub fn field_change_to_pb(c: FieldChange) -> pb::FieldChange {
    pb::FieldChange {
        id: c.id.to_string(),
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
