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
        change_time: Some(timestamp_to_pb(c.changed_at)),
    }
}
