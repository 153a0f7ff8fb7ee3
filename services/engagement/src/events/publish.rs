//! Builders of the events engagement publishes, written to the outbox in the transaction of the
//! change. Routing keys follow `engagement.<entity>.<event>`.

use chrono::{DateTime, Utc};
use events::NewEvent;
use proto::engagement as pb;
use uuid::Uuid;

use crate::convert::{state_to_pb, timestamp_to_pb};
use crate::domain::{RecordRef, State};

/// `engagement.<account|lead>.<disengaged|reengaged>`.
pub fn state_changed(
    tenant_id: Uuid,
    record: RecordRef,
    verb: &str,
    previous: Option<State>,
    state: State,
    score: f64,
    at: DateTime<Utc>,
) -> Result<NewEvent, events::Error> {
    let entity = record.record_type.as_str();
    NewEvent::new(
        &format!("engagement.{entity}.{verb}"),
        tenant_id,
        entity,
        record.id,
        &pb::EngagementStateChanged {
            record_type: entity.to_owned(),
            record_id: record.id.to_string(),
            previous_state: previous.map_or(pb::EngagementState::Unspecified, state_to_pb) as i32,
            state: state_to_pb(state) as i32,
            score,
            change_time: Some(timestamp_to_pb(at)),
        },
    )
}
