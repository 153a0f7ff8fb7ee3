//! RabbitMQ plumbing shared by the relay, consumers and dead-letter tools.

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind,
    options::ExchangeDeclareOptions,
    protocol::{AMQPErrorKind, AMQPSoftError},
    types::{AMQPValue, FieldTable, LongString, ShortString},
    uri::AMQPUri,
};

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{Error, trace::TraceContext};

/// AMQP `content-type` of an encoded envelope.
pub(crate) const CONTENT_TYPE: &str = "application/x-protobuf";
/// AMQP delivery mode 2: the broker writes the message to disk.
pub(crate) const PERSISTENT: u8 = 2;
/// The default exchange routes by queue name; used to target one queue (retries, replays).
pub(crate) const DEFAULT_EXCHANGE: &str = "";

pub(crate) const HEADER_TRACEPARENT: &str = "traceparent";
pub(crate) const HEADER_TRACESTATE: &str = "tracestate";
pub(crate) const HEADER_TENANT: &str = "x-tenant-id";
pub(crate) const HEADER_ERROR: &str = "x-error";
pub(crate) const HEADER_ATTEMPTS: &str = "x-attempts";
pub(crate) const HEADER_DEAD_LETTERED_AT: &str = "x-dead-lettered-at";
pub(crate) const HEADER_ORIGINAL_ROUTING_KEY: &str = "x-original-routing-key";
pub(crate) const HEADER_REPLAY: &str = "x-replay";
pub(crate) const HEADER_DEATH: &str = "x-death";

/// Longest wait for a broker round trip (connect, publish, close). A socket cut mid-handshake
/// or mid-close can leave lapin waiting forever; past this the connection is presumed dead.
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// A close after a failure usually finds the connection gone already; never wait long for it.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest AMQP frame we offer the broker unless the URL asks for another (`?frame_max=`).
/// lapin keeps a send and a receive buffer of 32 frames per connection, touched in full: at the
/// broker's default of 128 KiB that is 8 MiB resident per connection, 40 MiB for the dev
/// platform's five. Envelopes are a few KiB; a larger one is split into body frames.
const FRAME_MAX: u32 = 16 * 1024;

async fn connect(url: &str, connection_name: &str) -> Result<Connection, Error> {
    let properties =
        ConnectionProperties::default().with_connection_name(LongString::from(connection_name));
    let uri = broker_uri(url)?;
    tokio::time::timeout(OPERATION_TIMEOUT, Connection::connect_uri(uri, properties))
        .await
        .map_err(|_| Error::AmqpTimeout("connect"))?
        .map_err(Error::from)
}

fn broker_uri(url: &str) -> Result<AMQPUri, Error> {
    let mut uri: AMQPUri = url
        .parse()
        .map_err(|reason| Error::Config(format!("amqp url: {reason}")))?;
    uri.query.frame_max.get_or_insert(FRAME_MAX);
    Ok(uri)
}

/// A broker connection and the channels opened on it, closed in protocol order.
///
/// lapin closes a channel in the background when its last handle is dropped while it is open.
/// When the connection's close overtakes that (the handles of a session end just before its
/// connection is closed), the channel's close finds it `Closing` and lapin reports a connection
/// ERROR ("invalid channel state: Closing (channel.close)") for what is a normal stop. Closing
/// every channel first, then the connection, leaves lapin nothing to close behind our back.
pub(crate) struct Session {
    connection: Connection,
    channels: Mutex<Vec<Channel>>,
}

impl Session {
    pub(crate) async fn open(url: &str, connection_name: &str) -> Result<Self, Error> {
        Ok(Self {
            connection: connect(url, connection_name).await?,
            channels: Mutex::default(),
        })
    }

    /// A new channel, closed with the session.
    pub(crate) async fn channel(&self) -> Result<Channel, Error> {
        let channel = self.connection.create_channel().await?;
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(channel.clone());
        Ok(channel)
    }

    /// Best-effort close, channels first: errors are ignored and a dead connection is not
    /// waited for (after a failure it is usually gone already).
    pub(crate) async fn close(self, reason: &str) {
        let channels =
            std::mem::take(&mut *self.channels.lock().unwrap_or_else(PoisonError::into_inner));
        for channel in channels {
            if channel.status().connected() {
                let _ =
                    tokio::time::timeout(CLOSE_TIMEOUT, channel.close(200, reason.into())).await;
            }
        }
        if self.connection.status().connected() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.connection.close(200, reason.into()))
                .await;
        }
    }
}

/// Declares the durable topic exchange; declaring an existing one with the same settings is a
/// no-op, so every relay and consumer does it on connect.
pub(crate) async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), Error> {
    channel
        .exchange_declare(
            short(exchange)?,
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Lapin panics on over-long short strings; names from configuration go through this instead.
pub(crate) fn short(value: &str) -> Result<ShortString, Error> {
    ShortString::try_new(value)
        .map_err(|_| Error::Config(format!("name longer than 255 bytes: {value:?}")))
}

pub(crate) fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

pub(crate) fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().get(name)
}

pub(crate) fn header_str(properties: &BasicProperties, name: &str) -> Option<String> {
    value_str(header(properties, name)?)
}

pub(crate) fn value_str(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        _ => None,
    }
}

pub(crate) fn header_u64(properties: &BasicProperties, name: &str) -> Option<u64> {
    value_u64(header(properties, name)?)
}

pub(crate) fn value_u64(value: &AMQPValue) -> Option<u64> {
    match value {
        AMQPValue::ShortShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(u64::from(*v)),
        AMQPValue::LongUInt(v) => Some(u64::from(*v)),
        AMQPValue::ShortShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::ShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongLongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::Timestamp(v) => Some(*v),
        other => value_str(other).and_then(|s| s.parse().ok()),
    }
}

pub(crate) fn trace_context(properties: &BasicProperties) -> TraceContext {
    TraceContext {
        traceparent: header_str(properties, HEADER_TRACEPARENT).unwrap_or_default(),
        tracestate: header_str(properties, HEADER_TRACESTATE).unwrap_or_default(),
    }
}

/// Properties of a published envelope: persistent, typed, with trace context in headers.
pub(crate) fn envelope_properties(
    event_id: &str,
    event_type: &str,
    tenant_id: &str,
    producer: &str,
    occurred_at_secs: u64,
    trace: &TraceContext,
    mut headers: FieldTable,
) -> Result<BasicProperties, Error> {
    if !trace.is_empty() {
        headers.insert(HEADER_TRACEPARENT.into(), long_string(&trace.traceparent));
        if !trace.tracestate.is_empty() {
            headers.insert(HEADER_TRACESTATE.into(), long_string(&trace.tracestate));
        }
    }
    headers.insert(HEADER_TENANT.into(), long_string(tenant_id));
    Ok(BasicProperties::default()
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(PERSISTENT)
        .with_message_id(short(event_id)?)
        .with_type(short(event_type)?)
        .with_app_id(short(producer)?)
        .with_timestamp(occurred_at_secs)
        .with_headers(headers))
}

/// Whether the broker refused a declaration because the entity exists with other arguments.
pub(crate) fn is_precondition_failed(error: &lapin::Error) -> bool {
    soft_error(error) == Some(AMQPSoftError::PRECONDITIONFAILED)
}

/// Whether a passive declaration found no such queue or exchange.
pub(crate) fn is_not_found(error: &lapin::Error) -> bool {
    soft_error(error) == Some(AMQPSoftError::NOTFOUND)
}

fn soft_error(error: &lapin::Error) -> Option<AMQPSoftError> {
    match error.kind() {
        lapin::ErrorKind::ProtocolError(amqp_error) => match amqp_error.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_size_is_capped_unless_the_url_sets_one() {
        let default = broker_uri("amqp://guest:guest@127.0.0.1:5672/%2f").expect("valid url");
        assert_eq!(default.query.frame_max, Some(FRAME_MAX));
        let explicit =
            broker_uri("amqp://guest:guest@127.0.0.1:5672/%2f?frame_max=131072").expect("valid");
        assert_eq!(explicit.query.frame_max, Some(131_072));
    }

    #[test]
    fn a_malformed_url_is_a_configuration_error() {
        let error = broker_uri("http://nowhere").expect_err("not amqp");
        assert!(matches!(error, Error::Config(_)), "{error:?}");
    }
}
