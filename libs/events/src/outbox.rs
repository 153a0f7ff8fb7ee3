//! Writing events inside the business transaction.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Envelope, Error, event_type::validate_event_type, trace::TraceContext};

/// Domain of `Any` type URLs, as protoc and Google's libraries write them.
const TYPE_URL_DOMAIN: &str = "type.googleapis.com";
/// First payload schema of an event type.
const INITIAL_SCHEMA_VERSION: u32 = 1;

/// An event about to be written to the outbox. Build it with [`NewEvent::new`] inside the
/// operation that changes the aggregate, so it captures that operation's trace context.
#[derive(Debug, Clone)]
pub struct NewEvent {
    id: Uuid,
    event_type: String,
    tenant_id: Uuid,
    aggregate_type: String,
    aggregate_id: String,
    occurred_at: DateTime<Utc>,
    producer: String,
    schema_version: u32,
    trace: TraceContext,
    payload: prost_types::Any,
}

impl NewEvent {
    /// An event of type `event_type` (`<service>.<entity>.<event>`, e.g. `tenants.user.created`)
    /// about aggregate `aggregate_type`/`aggregate_id` of `tenant_id`, carrying `payload`.
    ///
    /// The producer defaults to the service segment of the event type and the schema version to 1.
    /// The payload is packed as `google.protobuf.Any`, which needs its type name: enable
    /// `prost_build::Config::enable_type_names` for the contracts, or use [`NewEvent::from_any`].
    pub fn new<M: prost::Name>(
        event_type: &str,
        tenant_id: Uuid,
        aggregate_type: &str,
        aggregate_id: impl Display,
        payload: &M,
    ) -> Result<Self, Error> {
        let mut any = prost_types::Any::from_msg(payload)?;
        // prost's default type URL is `/<full name>`; tools and JSON transcoding expect the
        // conventional domain.
        if any.type_url.starts_with('/') {
            any.type_url.insert_str(0, TYPE_URL_DOMAIN);
        }
        Self::from_any(event_type, tenant_id, aggregate_type, aggregate_id, any)
    }

    /// Like [`NewEvent::new`] with an already packed payload.
    pub fn from_any(
        event_type: &str,
        tenant_id: Uuid,
        aggregate_type: &str,
        aggregate_id: impl Display,
        payload: prost_types::Any,
    ) -> Result<Self, Error> {
        validate_event_type(event_type)?;
        let producer = event_type.split('.').next().unwrap_or_default().to_owned();
        Ok(Self {
            id: Uuid::now_v7(),
            event_type: event_type.to_owned(),
            tenant_id,
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_string(),
            occurred_at: Utc::now(),
            producer,
            schema_version: INITIAL_SCHEMA_VERSION,
            trace: TraceContext::of_span(&tracing::Span::current()),
            payload,
        })
    }

    /// Sets the payload schema version (bump it when the payload changes incompatibly).
    #[must_use]
    pub fn with_schema_version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }

    /// Overrides the producer name (defaults to the first segment of the event type).
    #[must_use]
    pub fn with_producer(mut self, producer: impl Into<String>) -> Self {
        self.producer = producer.into();
        self
    }

    /// Sets the W3C trace context explicitly, e.g. when the operation's span is not current.
    #[must_use]
    pub fn with_trace_context(
        mut self,
        traceparent: impl Into<String>,
        tracestate: impl Into<String>,
    ) -> Self {
        self.trace = TraceContext {
            traceparent: traceparent.into(),
            tracestate: tracestate.into(),
        };
        self
    }

    /// The event id (UUIDv7) consumers deduplicate on.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The event type (routing key).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The envelope exactly as it will be published.
    pub fn to_envelope(&self) -> Envelope {
        Envelope {
            id: self.id.to_string(),
            event_type: self.event_type.clone(),
            tenant_id: self.tenant_id.to_string(),
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            occurred_at: Some(timestamp(self.occurred_at)),
            producer: self.producer.clone(),
            schema_version: self.schema_version,
            traceparent: self.trace.traceparent.clone(),
            tracestate: self.trace.tracestate.clone(),
            payload: Some(self.payload.clone()),
        }
    }
}

/// Writes `event` to the outbox on `conn`, which must be the business transaction
/// (`&mut *tx`): the event then exists if and only if the transaction commits, and the commit
/// wakes the relay. Returns the event id.
#[tracing::instrument(name = "events.outbox.enqueue", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "enqueue_outbox", event_type = %event.event_type))]
pub async fn enqueue(conn: &mut PgConnection, event: &NewEvent) -> Result<Uuid, Error> {
    let envelope = event.to_envelope().encode_to_vec();
    sqlx::query(
        r#"
        INSERT INTO outbox
            (event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at, envelope)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        "#,
    )
    .bind(event.id)
    .bind(&event.event_type)
    .bind(event.tenant_id)
    .bind(&event.aggregate_type)
    .bind(&event.aggregate_id)
    .bind(event.occurred_at)
    .bind(envelope)
    .execute(conn)
    .await?;
    Ok(event.id)
}

/// Writes several events in one statement (one round trip), in slice order.
#[tracing::instrument(name = "events.outbox.enqueue_all", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "enqueue_outbox_batch", events = events.len()))]
pub async fn enqueue_all(conn: &mut PgConnection, events: &[NewEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut types = Vec::with_capacity(events.len());
    let mut tenants = Vec::with_capacity(events.len());
    let mut aggregate_types = Vec::with_capacity(events.len());
    let mut aggregate_ids = Vec::with_capacity(events.len());
    let mut occurred = Vec::with_capacity(events.len());
    let mut envelopes = Vec::with_capacity(events.len());
    for event in events {
        ids.push(event.id);
        types.push(event.event_type.clone());
        tenants.push(event.tenant_id);
        aggregate_types.push(event.aggregate_type.clone());
        aggregate_ids.push(event.aggregate_id.clone());
        occurred.push(event.occurred_at);
        envelopes.push(event.to_envelope().encode_to_vec());
    }
    // WITH ORDINALITY keeps slice order in seq, hence per-aggregate order.
    sqlx::query(
        r#"
        INSERT INTO outbox
            (event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at, envelope)
        SELECT event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at, envelope
        FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                    $6::timestamptz[], $7::bytea[])
             WITH ORDINALITY
             AS e(event_id, event_type, tenant_id, aggregate_type, aggregate_id, occurred_at,
                  envelope, position)
        ORDER BY position
        "#,
    )
    .bind(ids)
    .bind(types)
    .bind(tenants)
    .bind(aggregate_types)
    .bind(aggregate_ids)
    .bind(occurred)
    .bind(envelopes)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Always below 2e9, so it fits.
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub(crate) fn from_timestamp(at: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::Event;

    #[derive(Clone, PartialEq, prost::Message)]
    struct UserCreated {
        #[prost(string, tag = "1")]
        email: String,
    }

    impl prost::Name for UserCreated {
        const NAME: &'static str = "UserCreated";
        const PACKAGE: &'static str = "salescompass.tenants.v1";
    }

    fn user_created() -> NewEvent {
        NewEvent::new(
            "tenants.user.created",
            Uuid::now_v7(),
            "user",
            "0190f0e4-0000-7000-8000-000000000001",
            &UserCreated {
                email: "ada@example.com".into(),
            },
        )
        .expect("valid event")
    }

    #[test]
    fn an_envelope_survives_encoding_and_decodes_its_payload() {
        let event = user_created().with_schema_version(2).with_trace_context(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "",
        );
        let bytes = event.to_envelope().encode_to_vec();
        let envelope = Envelope::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(envelope, event.to_envelope());
        assert_eq!(envelope.producer, "tenants");
        assert_eq!(envelope.schema_version, 2);
        assert_eq!(
            envelope.payload.as_ref().map(|any| any.type_url.as_str()),
            Some("type.googleapis.com/salescompass.tenants.v1.UserCreated")
        );

        let received = Event::from_envelope(envelope, false).expect("valid envelope");
        assert_eq!(received.id, event.id());
        assert_eq!(received.event_type(), "tenants.user.created");
        assert_eq!(received.occurred_at, event.occurred_at);
        let payload: UserCreated = received.payload().expect("payload decodes");
        assert_eq!(payload.email, "ada@example.com");
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct TenantSuspended {
        #[prost(string, tag = "1")]
        reason: String,
    }

    impl prost::Name for TenantSuspended {
        const NAME: &'static str = "TenantSuspended";
        const PACKAGE: &'static str = "salescompass.tenants.v1";
    }

    #[test]
    fn a_payload_is_not_decoded_as_another_message_type() {
        let received = Event::from_envelope(user_created().to_envelope(), false).expect("valid");
        let wrong = received.payload::<TenantSuspended>();
        assert!(
            matches!(&wrong, Err(Error::PayloadType { expected, .. })
                if expected == "salescompass.tenants.v1.TenantSuspended"),
            "{wrong:?}"
        );
    }

    #[test]
    fn event_ids_are_time_ordered_uuid_v7() {
        let first = user_created();
        let second = user_created();
        assert_eq!(first.id().get_version_num(), 7);
        assert!(first.id() < second.id());
    }

    #[test]
    fn a_malformed_event_type_is_refused_before_it_reaches_the_outbox() {
        let result = NewEvent::new(
            "tenants.UserCreated",
            Uuid::now_v7(),
            "user",
            "1",
            &UserCreated::default(),
        );
        assert!(matches!(result, Err(Error::InvalidEventType(_))));
    }

    #[test]
    fn timestamps_convert_both_ways_to_the_nanosecond() {
        let now = Utc::now();
        assert_eq!(from_timestamp(&timestamp(now)), Some(now));
    }
}
