//! Listing and replaying a consumer's dead-letter queue (`<queue>.dlq`), for an admin RPC or a
//! `<service> dead-letters` command.

use chrono::{DateTime, Utc};
use lapin::{
    BasicProperties, Channel, Confirmation,
    message::BasicGetMessage,
    options::{
        BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
        QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable},
};
use prost::Message;

use crate::{Envelope, Error, amqp, consumer::dead_letter_queue};

/// Connection name of the dead-letter tools in the management UI.
const CONNECTION_NAME: &str = "salescompass-events-dead-letters";

/// One parked event and why it was parked.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Event id from the AMQP `message-id` (empty for foreign messages without one).
    pub event_id: String,
    /// Routing key the event was published with.
    pub event_type: String,
    /// Last handler error, or the broker's reason (`delivery_limit`) when RabbitMQ dead-lettered.
    pub error: String,
    /// Attempts made before it was parked.
    pub attempts: u64,
    /// When it was parked.
    pub dead_lettered_at: Option<DateTime<Utc>>,
    /// The envelope, when the body decodes as one.
    pub envelope: Option<Envelope>,
}

/// Access to the dead-letter queue of one consumer queue.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    amqp_url: String,
    queue: String,
}

impl DeadLetters {
    /// Dead letters of the consumer queue `queue` (not of `<queue>.dlq`: the suffix is added).
    pub fn new(amqp_url: impl Into<String>, queue: impl Into<String>) -> Self {
        Self {
            amqp_url: amqp_url.into(),
            queue: queue.into(),
        }
    }

    /// Number of parked events.
    pub async fn count(&self) -> Result<u32, Error> {
        let broker = self.connect().await?;
        let result = async {
            let channel = broker.channel().await?;
            self.dead_letter_count(&channel).await
        }
        .await;
        broker.close("done").await;
        result
    }

    /// Up to `limit` parked events, oldest first. Reading does not remove them: they are fetched
    /// unacknowledged and return to the queue, in order, when the channel closes.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, Error> {
        let broker = self.connect().await?;
        let result = async {
            let channel = broker.channel().await?;
            let available = self.dead_letter_count(&channel).await?;
            let mut letters = Vec::new();
            for _ in 0..limit.min(available as usize) {
                let Some(message) = self.get(&channel).await? else {
                    break;
                };
                letters.push(describe(&message));
            }
            channel.close(200, "listed".into()).await?;
            Ok(letters)
        }
        .await;
        broker.close("done").await;
        result
    }

    /// Moves parked events back to the consumer's queue: all of them with `None`, else those
    /// whose event id is listed. Each is re-published with a confirm before it leaves the
    /// dead-letter queue, so a crash mid-replay duplicates (harmless) rather than loses. Returns
    /// how many were replayed.
    pub async fn replay(&self, event_ids: Option<&[String]>) -> Result<usize, Error> {
        let broker = self.connect().await?;
        let result = async {
            let channel = broker.channel().await?;
            let publisher = broker.channel().await?;
            publisher
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            // Bounded by the count at the start: events parked meanwhile wait for the next replay.
            let available = self.dead_letter_count(&channel).await?;
            let mut replayed = 0;
            for _ in 0..available {
                let Some(message) = self.get(&channel).await? else {
                    break;
                };
                let event_id = message
                    .delivery
                    .properties
                    .message_id()
                    .as_ref()
                    .map(|id| id.as_str().to_owned())
                    .unwrap_or_default();
                if event_ids.is_some_and(|ids| !ids.contains(&event_id)) {
                    // Not selected: stays unacked and returns to the queue when we close.
                    continue;
                }
                self.republish(&publisher, &message).await?;
                message.delivery.ack(BasicAckOptions::default()).await?;
                replayed += 1;
            }
            channel.close(200, "replayed".into()).await?;
            Ok(replayed)
        }
        .await;
        broker.close("done").await;
        result
    }

    async fn connect(&self) -> Result<amqp::Session, Error> {
        amqp::short(&dead_letter_queue(&self.queue))?;
        amqp::Session::open(&self.amqp_url, CONNECTION_NAME).await
    }

    async fn dead_letter_count(&self, channel: &Channel) -> Result<u32, Error> {
        let queue = dead_letter_queue(&self.queue);
        let declared = channel
            .queue_declare(
                amqp::short(&queue)?,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|error| {
                if amqp::is_not_found(&error) {
                    Error::NoSuchQueue(queue.clone())
                } else {
                    Error::Amqp(error)
                }
            })?;
        Ok(declared.message_count())
    }

    async fn get(&self, channel: &Channel) -> Result<Option<BasicGetMessage>, Error> {
        Ok(channel
            .basic_get(
                amqp::short(&dead_letter_queue(&self.queue))?,
                BasicGetOptions { no_ack: false },
            )
            .await?)
    }

    async fn republish(&self, publisher: &Channel, message: &BasicGetMessage) -> Result<(), Error> {
        let properties = replay_properties(&message.delivery.properties);
        let confirmation = publisher
            .basic_publish(
                amqp::DEFAULT_EXCHANGE.into(),
                amqp::short(&self.queue)?,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &message.delivery.data,
                properties,
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(_)) => Err(Error::NoSuchQueue(self.queue.clone())),
            Confirmation::Nack(_) => {
                Err(Error::PublishRejected(format!("replay to {}", self.queue)))
            }
        }
    }
}

/// The original properties without the dead-letter bookkeeping, marked as a replay.
fn replay_properties(properties: &BasicProperties) -> BasicProperties {
    let mut headers = FieldTable::default();
    if let Some(original) = properties.headers() {
        for (key, value) in original.inner() {
            let bookkeeping = [
                amqp::HEADER_ERROR,
                amqp::HEADER_ATTEMPTS,
                amqp::HEADER_DEAD_LETTERED_AT,
                amqp::HEADER_ORIGINAL_ROUTING_KEY,
                amqp::HEADER_DEATH,
                "x-first-death-exchange",
                "x-first-death-queue",
                "x-first-death-reason",
                "x-delivery-count",
            ];
            if !bookkeeping.contains(&key.as_str()) {
                headers.insert(key.clone(), value.clone());
            }
        }
    }
    headers.insert(amqp::HEADER_REPLAY.into(), amqp::long_string("dead-letter"));
    properties.clone().with_headers(headers)
}

fn describe(message: &BasicGetMessage) -> DeadLetter {
    let properties = &message.delivery.properties;
    let envelope = Envelope::decode(message.delivery.data.as_slice()).ok();
    let event_id = properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .or_else(|| envelope.as_ref().map(|e| e.id.clone()))
        .unwrap_or_default();
    let event_type = amqp::header_str(properties, amqp::HEADER_ORIGINAL_ROUTING_KEY)
        .or_else(|| envelope.as_ref().map(|e| e.event_type.clone()))
        .unwrap_or_default();
    // Our own dead-lettering records the handler error; RabbitMQ's (delivery limit) only a reason.
    let error = amqp::header_str(properties, amqp::HEADER_ERROR)
        .or_else(|| {
            broker_death_reason(properties)
                .map(|reason| format!("dead-lettered by the broker: {reason}"))
        })
        .unwrap_or_default();
    let attempts = amqp::header_u64(properties, amqp::HEADER_ATTEMPTS)
        .or_else(|| amqp::header_u64(properties, "x-delivery-count"))
        .unwrap_or_default();
    let dead_lettered_at = amqp::header_str(properties, amqp::HEADER_DEAD_LETTERED_AT)
        .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
        .map(|at| at.with_timezone(&Utc));
    DeadLetter {
        event_id,
        event_type,
        error,
        attempts,
        dead_lettered_at,
        envelope,
    }
}

fn broker_death_reason(properties: &BasicProperties) -> Option<String> {
    if let Some(reason) = amqp::header_str(properties, "x-first-death-reason") {
        return Some(reason);
    }
    let AMQPValue::FieldArray(deaths) = amqp::header(properties, amqp::HEADER_DEATH)? else {
        return None;
    };
    deaths.as_slice().iter().find_map(|death| match death {
        AMQPValue::FieldTable(table) => table.inner().get("reason").and_then(amqp::value_str),
        _ => None,
    })
}
