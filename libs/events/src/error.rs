/// Errors of the event backbone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An event type is not a `<service>.<entity>.<event>` routing key.
    #[error(
        "invalid event type {0:?}: expected `<service>.<entity>.<event>` in lowercase snake_case"
    )]
    InvalidEventType(String),
    /// A binding is not a topic pattern over event types.
    #[error("invalid binding pattern {0:?}")]
    InvalidBinding(String),
    /// A received message is not a usable envelope.
    #[error("invalid envelope: {0}")]
    InvalidEnvelope(String),
    /// A payload is of another message type than the requested one.
    #[error("payload is a {actual}, not a {expected}")]
    PayloadType {
        /// Fully qualified message name the caller asked for.
        expected: String,
        /// Type URL in the envelope.
        actual: String,
    },
    /// A payload did not decode as the requested message.
    #[error("payload does not decode as {expected}: {source}")]
    Payload {
        /// Fully qualified message name the caller asked for.
        expected: String,
        /// Decoder failure.
        source: prost::DecodeError,
    },
    /// A payload could not be encoded.
    #[error("payload encoding failed: {0}")]
    Encode(#[from] prost::EncodeError),
    /// Invalid configuration, named by key.
    #[error("invalid events configuration: {0}")]
    Config(String),
    /// PostgreSQL failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migration failure.
    #[error("events migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// RabbitMQ failure (connection, channel, declaration).
    #[error("amqp error: {0}")]
    Amqp(#[from] lapin::Error),
    /// Publisher confirms did not arrive in time; the connection is presumed dead.
    #[error("publisher confirms timed out")]
    ConfirmTimeout,
    /// A broker operation did not complete in time; the connection is presumed dead.
    #[error("amqp {0} timed out")]
    AmqpTimeout(&'static str),
    /// A queue or exchange exists with other arguments than this code declares; RabbitMQ refuses
    /// to change them, so the old one must be migrated (e.g. with a shovel) or deleted.
    #[error("{0} exists with different arguments (PRECONDITION_FAILED): {1}")]
    TopologyMismatch(String, lapin::Error),
    /// The queue for a replay does not exist; declare it (start its consumer) first.
    #[error("queue {0} does not exist")]
    NoSuchQueue(String),
    /// The broker refused a publish (negative publisher confirm).
    #[error("broker rejected the publish of event {0}")]
    PublishRejected(String),
    /// Fault injection of the crate's own crash tests (`test-util` feature): the relay stopped
    /// after publishing and before marking rows sent.
    #[error("simulated relay crash between publish and mark-sent")]
    SimulatedCrash,
}
