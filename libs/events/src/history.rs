//! Replay of retained outbox history into one consumer's queue, so a new service can build its
//! projection from past events. It runs on the producer's side (only the producer reads its
//! outbox): the producer exposes it as an admin RPC or command taking the target queue.

use chrono::{DateTime, Utc};
use lapin::{
    Confirmation,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::FieldTable,
};
use prost::Message;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    Envelope, Error, amqp,
    event_type::{matches, validate_binding},
    trace::TraceContext,
};

/// Rows read and published per round trip.
const PAGE: i64 = 1_000;
const CONNECTION_NAME: &str = "salescompass-events-history-replay";

/// What to replay and where.
#[derive(Debug, Clone)]
pub struct HistoryReplay {
    /// Target queue; it must exist and be bound already (see [`crate::Consumer::declare`]), so
    /// events committed during the replay arrive through the binding.
    pub queue: String,
    /// Topic patterns selecting events, normally the consumer's bindings.
    pub bindings: Vec<String>,
    /// Only events that occurred at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    seq: i64,
    event_id: Uuid,
    event_type: String,
    tenant_id: Uuid,
    envelope: Vec<u8>,
}

/// Publishes every retained, already sent outbox event matching `request` straight to
/// `request.queue`, oldest first, with publisher confirms. Events still pending are left to the
/// relay (they reach the queue through its binding). Overlap with live delivery is absorbed by
/// the consumer's idempotency. Returns the number of events replayed.
pub async fn replay_history(
    pool: &PgPool,
    amqp_url: &str,
    request: &HistoryReplay,
) -> Result<u64, Error> {
    let queue = amqp::short(&request.queue)?;
    for binding in &request.bindings {
        validate_binding(binding)?;
    }
    let broker = amqp::Session::open(amqp_url, CONNECTION_NAME).await?;
    let result = async {
        let channel = broker.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let mut after = 0_i64;
        let mut replayed = 0_u64;
        loop {
            // Through the outbox's SECURITY DEFINER function: history spans every tenant.
            let rows: Vec<HistoryRow> = sqlx::query_as(
                "SELECT seq, event_id, event_type, tenant_id, envelope \
                 FROM outbox_history($1, $2, $3)",
            )
            .bind(after)
            .bind(request.since)
            .bind(PAGE)
            .fetch_all(pool)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;

            let mut confirms = Vec::new();
            for row in rows.iter().filter(|row| {
                request
                    .bindings
                    .iter()
                    .any(|pattern| matches(pattern, &row.event_type))
            }) {
                let envelope = Envelope::decode(row.envelope.as_slice()).unwrap_or_default();
                let mut headers = FieldTable::default();
                headers.insert(amqp::HEADER_REPLAY.into(), amqp::long_string("history"));
                let properties = amqp::envelope_properties(
                    &row.event_id.to_string(),
                    &row.event_type,
                    &row.tenant_id.to_string(),
                    &envelope.producer,
                    envelope
                        .occurred_at
                        .as_ref()
                        .map_or(0, |at| u64::try_from(at.seconds).unwrap_or(0)),
                    &TraceContext {
                        traceparent: envelope.traceparent.clone(),
                        tracestate: envelope.tracestate.clone(),
                    },
                    headers,
                )?;
                confirms.push(
                    channel
                        .basic_publish(
                            amqp::DEFAULT_EXCHANGE.into(),
                            queue.clone(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..BasicPublishOptions::default()
                            },
                            &row.envelope,
                            properties,
                        )
                        .await?,
                );
            }
            for confirm in confirms {
                match confirm.await? {
                    Confirmation::Ack(None) | Confirmation::NotRequested => replayed += 1,
                    Confirmation::Ack(Some(_)) => {
                        return Err(Error::NoSuchQueue(request.queue.clone()));
                    }
                    Confirmation::Nack(_) => {
                        return Err(Error::PublishRejected(format!(
                            "history replay to {}",
                            request.queue
                        )));
                    }
                }
            }
        }
        Ok(replayed)
    }
    .await;
    broker.close("replayed").await;
    result
}
