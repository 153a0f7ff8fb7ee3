//! Idempotent consumers: a durable quorum queue per consuming service, manual acks, bounded
//! prefetch, bounded retries with backoff, then the queue's dead-letter queue.

use std::{
    collections::hash_map::DefaultHasher,
    fmt,
    hash::{Hash, Hasher},
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use lapin::{
    Channel, Confirmation,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable},
};
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::{sync::mpsc, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    Backoff, EXCHANGE, Envelope, Error, amqp,
    backoff::Reconnects,
    event_type::validate_binding,
    metrics::{METRICS, component_of},
    outbox::from_timestamp,
    trace::TraceContext,
};

/// Stored errors are cut to this many bytes; the full error is in the logs.
const MAX_ERROR_LEN: usize = 4_096;
/// An ack on a connection that died without notice never completes; the session notices the
/// loss separately, so the worker just moves on.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Suffix of the per-queue dead-letter queue.
pub(crate) const DEAD_LETTER_SUFFIX: &str = ".dlq";
/// processed_events rows deleted per prune statement.
const PRUNE_CHUNK: i64 = 5_000;
/// How long in-flight handlers may finish after shutdown before their deliveries are abandoned
/// (the broker redelivers them).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// An event delivered to a [`Handler`]: the envelope plus its identity parsed once.
#[derive(Debug, Clone)]
pub struct Event {
    /// Event id (UUIDv7), the idempotency key.
    pub id: Uuid,
    /// Tenant the event belongs to; the handler's transaction is scoped to it.
    pub tenant_id: Uuid,
    /// When the producer's transaction wrote the event.
    pub occurred_at: DateTime<Utc>,
    /// 1-based attempt of this delivery (retries after handler failures increase it).
    pub attempt: u32,
    /// Whether the broker delivered it before (a consumer died or its connection dropped).
    pub redelivered: bool,
    /// The decoded envelope.
    pub envelope: Envelope,
}

impl Event {
    pub(crate) fn from_envelope(envelope: Envelope, redelivered: bool) -> Result<Self, Error> {
        let id = Uuid::parse_str(&envelope.id)
            .map_err(|_| Error::InvalidEnvelope(format!("event id {:?}", envelope.id)))?;
        let tenant_id = Uuid::parse_str(&envelope.tenant_id)
            .map_err(|_| Error::InvalidEnvelope(format!("tenant id {:?}", envelope.tenant_id)))?;
        let occurred_at = envelope
            .occurred_at
            .as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| Error::InvalidEnvelope("occurred_at missing or invalid".into()))?;
        Ok(Self {
            id,
            tenant_id,
            occurred_at,
            attempt: 1,
            redelivered,
            envelope,
        })
    }

    /// The event type (routing key), e.g. `tenants.user.created`.
    pub fn event_type(&self) -> &str {
        &self.envelope.event_type
    }

    /// Decodes the payload as `M`, after checking the `Any`'s type URL names `M` (protobuf
    /// would otherwise happily decode one message as another). A mismatch is permanent:
    /// retrying cannot fix it, so map it with [`HandlerError::permanent`].
    pub fn payload<M: prost::Name + Default>(&self) -> Result<M, Error> {
        let Some(any) = self.envelope.payload.as_ref() else {
            return Err(Error::InvalidEnvelope("payload missing".into()));
        };
        let expected = M::full_name();
        let named = any
            .type_url
            .rsplit_once('/')
            .map_or(any.type_url.as_str(), |(_, name)| name);
        if named != expected {
            return Err(Error::PayloadType {
                expected,
                actual: any.type_url.clone(),
            });
        }
        M::decode(any.value.as_slice()).map_err(|source| Error::Payload { expected, source })
    }
}

/// Applies events. The effect must go through `tx`: it commits together with the event id in
/// `processed_events`, so an event redelivered after a crash is skipped instead of re-applied.
/// The transaction has `app.tenant_id` set to the event's tenant, for row-level security.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Applies one event. An error rolls the transaction back; transient errors are retried with
    /// backoff up to the configured attempts, permanent ones dead-letter the event at once.
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError>;

    /// Called once the effect of `event` is committed (not for skipped duplicates), for side
    /// effects that must not run before the commit, such as cache invalidation or push
    /// notifications. Must not fail; best effort.
    async fn committed(&self, _event: &Event) {}
}

/// Failure of a [`Handler`]. Any `std::error::Error` converts into a transient one with `?`.
pub struct HandlerError {
    source: Box<dyn std::error::Error + Send + Sync>,
    permanent: bool,
}

impl HandlerError {
    /// A failure that may pass on retry (database hiccup, a dependency briefly down).
    pub fn transient(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
            permanent: false,
        }
    }

    /// A failure no retry can fix (undecodable payload, violated invariant): dead-lettered now.
    pub fn permanent(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
            permanent: true,
        }
    }

    /// Whether retrying is pointless.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::transient(error)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("source", &self.source)
            .field("permanent", &self.permanent)
            .finish()
    }
}

/// Consumer settings. Build with [`ConsumerConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Durable quorum queue owned by the consuming service, e.g. `crm.tenants`. Also the
    /// consumer's name in `processed_events`.
    pub queue: String,
    /// Topic patterns bound to the exchange, e.g. `tenants.user.*`.
    pub bindings: Vec<String>,
    /// Exchange the bindings are on.
    pub exchange: String,
    /// Unacknowledged deliveries the broker may push (bounds memory and redelivery after a drop).
    pub prefetch: u16,
    /// Events handled in parallel. Events of one aggregate always go to the same worker, so they
    /// are applied in order.
    pub concurrency: usize,
    /// Events applied in one transaction when several wait in a worker's lane: one commit flush
    /// for all of them. A failing batch is rolled back and its events applied one by one.
    pub max_batch: usize,
    /// Attempts per delivery before a transient failure is dead-lettered.
    pub max_attempts: u32,
    /// Delay between attempts.
    pub retry_backoff: Backoff,
    /// Delay between reconnects after a broker failure: fast at first, growing only while
    /// attempts keep failing ([`Backoff::RECONNECT`]).
    pub reconnect_backoff: Backoff,
    /// Broker-side safety net (`x-delivery-limit`): a message redelivered this often, e.g. because
    /// it crashes the process, is dead-lettered by RabbitMQ itself.
    pub delivery_limit: u32,
    /// One active consumer per queue (`x-single-active-consumer`): keeps per-aggregate order
    /// across replicas at the cost of parallelism between them. Fixed at queue creation.
    pub single_active_consumer: bool,
    /// `processed_events` rows older than this are deleted; keep it longer than any redelivery or
    /// replay window (the outbox retention). `None` keeps them forever.
    pub processed_retention: Option<Duration>,
    /// How often the queue depth gauge is refreshed and old `processed_events` pruned.
    pub maintenance_interval: Duration,
    /// AMQP connection name, shown in the RabbitMQ management UI.
    pub connection_name: String,
}

impl ConsumerConfig {
    /// Defaults for `queue` bound to `bindings` on the `salescompass.events` exchange.
    pub fn new(
        queue: impl Into<String>,
        bindings: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let queue = queue.into();
        Self {
            connection_name: format!("salescompass-events-consumer:{queue}"),
            queue,
            bindings: bindings.into_iter().map(Into::into).collect(),
            exchange: EXCHANGE.to_owned(),
            prefetch: 64,
            concurrency: 8,
            max_batch: 16,
            max_attempts: 5,
            retry_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(10)),
            reconnect_backoff: Backoff::RECONNECT,
            delivery_limit: 50,
            single_active_consumer: false,
            processed_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            maintenance_interval: Duration::from_secs(15),
        }
    }

    /// Name of this queue's dead-letter queue.
    pub fn dead_letter_queue(&self) -> String {
        dead_letter_queue(&self.queue)
    }

    fn validate(&self) -> Result<(), Error> {
        amqp::short(&self.dead_letter_queue())?;
        amqp::short(&self.exchange)?;
        amqp::short(&self.connection_name)?;
        if self.queue.is_empty() {
            return Err(Error::Config("consumer queue must not be empty".into()));
        }
        if self.bindings.is_empty() {
            return Err(Error::Config(format!(
                "consumer {} has no bindings",
                self.queue
            )));
        }
        for binding in &self.bindings {
            validate_binding(binding)?;
        }
        if self.prefetch == 0
            || self.concurrency == 0
            || self.max_attempts == 0
            || self.max_batch == 0
        {
            return Err(Error::Config(
                "consumer prefetch, concurrency, max_batch and max_attempts must be at least 1"
                    .into(),
            ));
        }
        Ok(())
    }
}

pub(crate) fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}{DEAD_LETTER_SUFFIX}")
}

/// Consumes one queue with a [`Handler`] until shut down.
pub struct Consumer {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// The service the consumer belongs to, for its metrics' `component` label.
    component: String,
    amqp_url: String,
    config: ConsumerConfig,
    handler: Arc<dyn Handler>,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Applied,
    Duplicate,
}

/// A delivery parsed into an event, with its handle span.
struct Received {
    delivery: Delivery,
    event: Event,
    span: tracing::Span,
}

/// Why one attempt failed: the handler, or our own bookkeeping around it.
enum AttemptError {
    Handler(HandlerError),
    Infrastructure(sqlx::Error),
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handler(error) => write!(f, "handler: {error}"),
            Self::Infrastructure(error) => write!(f, "bookkeeping: {error}"),
        }
    }
}

impl Consumer {
    /// A consumer reading `config.queue` with `handler`, recording processed events through
    /// `pool` (the consuming service's schema).
    pub fn new(
        pool: PgPool,
        amqp_url: impl Into<String>,
        config: ConsumerConfig,
        handler: impl Handler,
    ) -> Self {
        // Unnamed pools (not from `db::connect`) are served with the process-wide series.
        let component = component_of(&pool).unwrap_or_else(|| "unknown".to_owned());
        METRICS.precreate_queue(&component, &config.queue);
        Self {
            inner: Arc::new(Inner {
                pool,
                component,
                amqp_url: amqp_url.into(),
                config,
                handler: Arc::new(handler),
            }),
        }
    }

    /// Declares the exchange, the queue, its dead-letter queue and the bindings, then returns.
    /// Idempotent; [`Consumer::run`] does it on every connect. Call it before
    /// [`crate::replay_history`] so no live event falls between the replay and the bindings.
    pub async fn declare(&self) -> Result<(), Error> {
        self.inner.config.validate()?;
        let broker =
            amqp::Session::open(&self.inner.amqp_url, &self.inner.config.connection_name).await?;
        let result = async {
            let channel = broker.channel().await?;
            self.inner.declare_topology(&channel).await
        }
        .await;
        broker.close("declared").await;
        result
    }

    /// Runs until `shutdown` is cancelled, reconnecting with backoff after broker failures.
    /// Returns an error only for invalid configuration or a topology mismatch.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let inner = self.inner;
        inner.config.validate()?;
        let queue = inner.config.queue.clone();
        let mut reconnects = Reconnects::new(inner.config.reconnect_backoff);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let started = Instant::now();
            match Arc::clone(&inner).session(&shutdown).await {
                Ok(()) => return Ok(()),
                Err(error @ (Error::TopologyMismatch(..) | Error::Config(_))) => return Err(error),
                Err(error) => {
                    METRICS
                        .consumer_reconnects
                        .with_label_values(&[&inner.component, &queue])
                        .inc();
                    let (attempt, delay) = reconnects.after_failure(started.elapsed());
                    // One WARN per outage, as the relay's.
                    if attempt == 1 {
                        tracing::warn!(
                            %error, %queue, delay_ms = delay.as_millis(),
                            "consumer session failed, reconnecting"
                        );
                    } else {
                        tracing::debug!(
                            %error, %queue, attempt, delay_ms = delay.as_millis(),
                            "consumer reconnect failed"
                        );
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

impl Inner {
    async fn declare_topology(&self, channel: &Channel) -> Result<(), Error> {
        let config = &self.config;
        amqp::declare_exchange(channel, &config.exchange).await?;
        let dead_letter_queue = config.dead_letter_queue();

        // Classic, not quorum: dead letters are browsed by get-and-return, which would count
        // against a quorum queue's delivery limit (RabbitMQ 4 drops messages past it).
        let mut dlq_arguments = FieldTable::default();
        dlq_arguments.insert("x-queue-type".into(), amqp::long_string("classic"));
        self.declare_queue(channel, &dead_letter_queue, dlq_arguments)
            .await?;

        let mut arguments = FieldTable::default();
        arguments.insert("x-queue-type".into(), amqp::long_string("quorum"));
        arguments.insert(
            "x-dead-letter-exchange".into(),
            amqp::long_string(amqp::DEFAULT_EXCHANGE),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            amqp::long_string(&dead_letter_queue),
        );
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(i64::from(config.delivery_limit)),
        );
        if config.single_active_consumer {
            arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
        }
        self.declare_queue(channel, &config.queue, arguments)
            .await?;

        for binding in &config.bindings {
            channel
                .queue_bind(
                    amqp::short(&config.queue)?,
                    amqp::short(&config.exchange)?,
                    amqp::short(binding)?,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    async fn declare_queue(
        &self,
        channel: &Channel,
        queue: &str,
        arguments: FieldTable,
    ) -> Result<(), Error> {
        channel
            .queue_declare(
                amqp::short(queue)?,
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .map_err(|error| {
                if amqp::is_precondition_failed(&error) {
                    Error::TopologyMismatch(format!("queue {queue}"), error)
                } else {
                    Error::Amqp(error)
                }
            })?;
        Ok(())
    }

    async fn session(self: Arc<Self>, shutdown: &CancellationToken) -> Result<(), Error> {
        let broker = amqp::Session::open(&self.amqp_url, &self.config.connection_name).await?;
        let result = async {
            let channel = broker.channel().await?;
            self.declare_topology(&channel).await?;
            channel
                .basic_qos(self.config.prefetch, BasicQosOptions::default())
                .await?;
            // Dead letters go out on their own confirmed channel: the original is acked only once
            // the broker holds the copy.
            let dead_letter_channel = broker.channel().await?;
            dead_letter_channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            let deliveries = channel
                .basic_consume(
                    amqp::short(&self.config.queue)?,
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            tracing::info!(queue = %self.config.queue, "consumer connected");
            Arc::clone(&self)
                .pump(deliveries, &channel, dead_letter_channel, shutdown)
                .await
        }
        .await;
        broker.close("consumer stopping").await;
        result
    }

    async fn pump(
        self: Arc<Self>,
        mut deliveries: lapin::Consumer,
        channel: &Channel,
        dead_letter_channel: Channel,
        shutdown: &CancellationToken,
    ) -> Result<(), Error> {
        // A worker per lane; an aggregate always hashes to the same lane, so its events are
        // handled one after another in delivery order.
        let stop_workers = shutdown.child_token();
        let mut workers = JoinSet::new();
        let mut lanes = Vec::with_capacity(self.config.concurrency);
        for _ in 0..self.config.concurrency {
            let (sender, receiver) = mpsc::channel(usize::from(self.config.prefetch));
            lanes.push(sender);
            workers.spawn(Arc::clone(&self).work(
                receiver,
                dead_letter_channel.clone(),
                stop_workers.clone(),
            ));
        }
        let mut maintenance = tokio::time::interval(self.config.maintenance_interval);
        let mut next_prune = Instant::now();

        let result = loop {
            tokio::select! {
                // Shutdown first: workers stop on it too, which must not read as a failure.
                biased;
                () = shutdown.cancelled() => break Ok(()),
                delivery = deliveries.next() => {
                    let delivery = match delivery {
                        Some(Ok(delivery)) => delivery,
                        Some(Err(error)) => break Err(Error::Amqp(error)),
                        None => break Err(Error::Amqp(lapin::Error::from(
                            lapin::ErrorKind::InvalidChannelState(
                                lapin::ChannelState::Closed,
                                "basic.consume",
                            ),
                        ))),
                    };
                    let envelope = Envelope::decode(delivery.data.as_slice());
                    let lane = envelope
                        .as_ref()
                        .map_or(0, |envelope| lane_of(envelope, lanes.len()));
                    let Some(sender) = lanes.get(lane) else { continue };
                    let item = (delivery, envelope.map_err(|error| {
                        Error::InvalidEnvelope(format!("undecodable envelope: {error}"))
                    }));
                    if sender.send(item).await.is_err() {
                        break Err(Error::Config("consumer worker stopped".into()));
                    }
                }
                _ = maintenance.tick() => {
                    if let Err(error) = self.maintain(channel, &mut next_prune).await {
                        break Err(error);
                    }
                }
                Some(joined) = workers.join_next() => {
                    // Before shutdown, workers only stop when a dead-letter publish failed.
                    break match joined {
                        _ if shutdown.is_cancelled() => Ok(()),
                        Ok(Err(error)) => Err(error),
                        _ => Err(Error::Config("consumer worker stopped".into())),
                    };
                }
            }
        };

        // Deliveries still queued in lanes are left unacked; the broker redelivers them.
        stop_workers.cancel();
        drop(lanes);
        if result.is_ok() {
            // Shutdown: let in-flight handlers commit and ack.
            let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
                while workers.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    queue = %self.config.queue,
                    "consumer workers did not finish in time"
                );
            }
        }
        // After a broker failure no ack can succeed any more; an aborted handler's transaction
        // rolls back (or has committed, and the redelivery is skipped).
        workers.abort_all();
        result
    }

    async fn maintain(&self, channel: &Channel, next_prune: &mut Instant) -> Result<(), Error> {
        let queue = channel
            .queue_declare(
                amqp::short(&self.config.queue)?,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        METRICS
            .consumer_queue_depth
            .with_label_values(&[&self.component, &self.config.queue])
            .set(i64::from(queue.message_count()));

        if let Some(retention) = self.config.processed_retention
            && Instant::now() >= *next_prune
        {
            self.prune_processed(retention).await?;
            // Pruning is housekeeping: hourly is plenty.
            *next_prune = Instant::now() + Duration::from_secs(3600);
        }
        Ok(())
    }

    async fn prune_processed(&self, retention: Duration) -> Result<(), Error> {
        loop {
            let deleted = sqlx::query(
                r#"
                DELETE FROM processed_events
                WHERE (consumer, event_id) IN (
                    SELECT consumer, event_id
                    FROM processed_events
                    WHERE consumer = $1
                      AND processed_at < now() - make_interval(secs => $2)
                    LIMIT $3
                )
                "#,
            )
            .bind(&self.config.queue)
            .bind(retention.as_secs_f64())
            .bind(PRUNE_CHUNK)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if deleted < PRUNE_CHUNK as u64 {
                return Ok(());
            }
        }
    }

    async fn work(
        self: Arc<Self>,
        mut lane: mpsc::Receiver<(Delivery, Result<Envelope, Error>)>,
        dead_letter_channel: Channel,
        stop: CancellationToken,
    ) -> Result<(), Error> {
        loop {
            let item = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                item = lane.recv() => item,
            };
            let Some(first) = item else {
                return Ok(());
            };
            // Whatever else already waits in the lane joins the batch; nothing waits to fill it.
            let mut items = vec![first];
            while items.len() < self.config.max_batch {
                match lane.try_recv() {
                    Ok(item) => items.push(item),
                    Err(_) => break,
                }
            }
            let mut received = Vec::with_capacity(items.len());
            for (delivery, envelope) in items {
                match self.receive(&delivery, envelope) {
                    Ok((event, span)) => received.push(Received {
                        delivery,
                        event,
                        span,
                    }),
                    Err(error) => {
                        tracing::error!(
                            %error,
                            queue = %self.config.queue,
                            "unusable message, dead-lettering"
                        );
                        self.dead_letter(&delivery, &error.to_string(), 0, &dead_letter_channel)
                            .await?;
                    }
                }
            }
            tracing::trace!(queue = %self.config.queue, events = received.len(), "lane batch");
            if received.len() > 1 && self.apply_batch(&received).await {
                continue;
            }
            // One at a time, with retries: a single event, or a batch that failed as a whole.
            for item in received {
                if stop.is_cancelled() {
                    return Ok(());
                }
                self.process(item, &dead_letter_channel, &stop).await?;
            }
        }
    }

    /// Parses a delivery and opens its handle span, linked to the producer's trace.
    fn receive(
        &self,
        delivery: &Delivery,
        envelope: Result<Envelope, Error>,
    ) -> Result<(Event, tracing::Span), Error> {
        let queue = self.config.queue.as_str();
        if delivery.redelivered {
            METRICS
                .redeliveries
                .with_label_values(&[&self.component, queue])
                .inc();
        }
        let event = envelope.and_then(|e| Event::from_envelope(e, delivery.redelivered))?;
        let span = tracing::info_span!(
            "events.handle",
            otel.kind = "consumer",
            messaging.system = "rabbitmq",
            messaging.destination.name = %queue,
            messaging.operation.type = "process",
            messaging.operation.name = "consume",
            messaging.message.id = %event.id,
            event_id = %event.id,
            event_type = %event.envelope.event_type,
            tenant_id = %event.tenant_id,
            redelivered = delivery.redelivered,
        );
        let trace = Some(amqp::trace_context(&delivery.properties))
            .filter(|trace| !trace.is_empty())
            .unwrap_or_else(|| TraceContext {
                traceparent: event.envelope.traceparent.clone(),
                tracestate: event.envelope.tracestate.clone(),
            });
        trace.set_as_parent_of(&span);
        Ok((event, span))
    }

    /// Applies several waiting events in one transaction (one commit flush for all), in lane
    /// order. Any failure rolls the whole batch back and returns false; the caller then applies
    /// them one by one, where failures are retried and attributed to their own event.
    async fn apply_batch(&self, batch: &[Received]) -> bool {
        let applied = async {
            // Cancel-safe: workers are aborted when a session ends (see db::transaction).
            let mut tx = db::begin(&self.pool)
                .await
                .map_err(AttemptError::Infrastructure)?;
            let mut outcomes = Vec::with_capacity(batch.len());
            for item in batch {
                let outcome = self
                    .apply_in(&mut tx, &item.event)
                    .instrument(item.span.clone())
                    .await?;
                outcomes.push(outcome);
            }
            tx.commit().await.map_err(AttemptError::Infrastructure)?;
            Ok::<_, AttemptError>(outcomes)
        }
        .await;
        match applied {
            Ok(outcomes) => {
                for (item, outcome) in batch.iter().zip(outcomes) {
                    self.settled(item, outcome)
                        .instrument(item.span.clone())
                        .await;
                }
                true
            }
            Err(error) => {
                tracing::debug!(
                    queue = %self.config.queue,
                    error = %error,
                    "batch failed, applying its events one by one"
                );
                false
            }
        }
    }

    /// After a commit: the post-commit hook, metrics, and the ack.
    async fn settled(&self, item: &Received, outcome: Outcome) {
        let queue = self.config.queue.as_str();
        let label = match outcome {
            Outcome::Applied => {
                self.handler.committed(&item.event).await;
                let lag = (Utc::now() - item.event.occurred_at)
                    .to_std()
                    .unwrap_or_default();
                METRICS
                    .consumer_lag_seconds
                    .with_label_values(&[&self.component, queue])
                    .observe(lag.as_secs_f64());
                "applied"
            }
            Outcome::Duplicate => "duplicate",
        };
        METRICS
            .consumed
            .with_label_values(&[&self.component, queue, label])
            .inc();
        ack(&item.delivery).await;
    }

    async fn process(
        &self,
        item: Received,
        dead_letter_channel: &Channel,
        stop: &CancellationToken,
    ) -> Result<(), Error> {
        let span = item.span.clone();
        self.apply_with_retries(item, dead_letter_channel, stop)
            .instrument(span)
            .await
    }

    /// Applies one event in its own transaction, retrying with backoff; dead-letters it once a
    /// handler failure is permanent or the attempts are used up.
    async fn apply_with_retries(
        &self,
        item: Received,
        dead_letter_channel: &Channel,
        stop: &CancellationToken,
    ) -> Result<(), Error> {
        let mut event = item.event.clone();
        loop {
            match self.attempt(&event).await {
                Ok(outcome) => {
                    self.settled(&item, outcome).await;
                    return Ok(());
                }
                Err(AttemptError::Infrastructure(error)) => {
                    // Not the event's fault: retried without using up its attempts.
                    tracing::warn!(%error, "consumer bookkeeping failed, retrying");
                }
                Err(AttemptError::Handler(error)) => {
                    let exhausted =
                        error.is_permanent() || event.attempt >= self.config.max_attempts;
                    // A database outage looks like a failing handler: wait for the database
                    // rather than dead-letter because of it.
                    if exhausted && (error.is_permanent() || self.database_is_up().await) {
                        tracing::error!(
                            %error,
                            attempts = event.attempt,
                            "handler failed, dead-lettering"
                        );
                        let reason = error.to_string();
                        return self
                            .dead_letter(
                                &item.delivery,
                                &reason,
                                event.attempt,
                                dead_letter_channel,
                            )
                            .await;
                    }
                    METRICS
                        .handler_retries
                        .with_label_values(&[&self.component, &self.config.queue])
                        .inc();
                    tracing::warn!(%error, attempt = event.attempt, "handler failed, retrying");
                    if !exhausted {
                        event.attempt += 1;
                    }
                }
            }
            let delay = self.config.retry_backoff.delay(event.attempt);
            tokio::select! {
                // Left unacked: the broker redelivers it to whoever consumes next.
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One transaction: mark the event processed (or find it already was), run the handler,
    /// commit both or neither.
    async fn attempt(&self, event: &Event) -> Result<Outcome, AttemptError> {
        // Cancel-safe: workers are aborted when a session ends (see db::transaction).
        let mut tx = db::begin(&self.pool)
            .await
            .map_err(AttemptError::Infrastructure)?;
        let outcome = self.apply_in(&mut tx, event).await?;
        match outcome {
            Outcome::Applied => tx.commit().await,
            Outcome::Duplicate => tx.rollback().await,
        }
        .map_err(AttemptError::Infrastructure)?;
        Ok(outcome)
    }

    /// Claims the event id in `tx` and, unless it was already processed, runs the handler.
    async fn apply_in(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &Event,
    ) -> Result<Outcome, AttemptError> {
        // One round trip: scope the transaction to the tenant (row-level security) and claim the
        // event id. A concurrent duplicate waits on the unique key and then finds the row.
        let claimed = sqlx::query(
            r#"
            WITH tenant AS (SELECT set_config('app.tenant_id', $3, true))
            INSERT INTO processed_events (consumer, event_id)
            SELECT $1, $2 FROM tenant
            ON CONFLICT DO NOTHING
            "#,
        )
        .bind(&self.config.queue)
        .bind(event.id)
        .bind(event.tenant_id.to_string())
        .execute(&mut **tx)
        .await
        .map_err(AttemptError::Infrastructure)?
        .rows_affected();
        if claimed == 0 {
            return Ok(Outcome::Duplicate);
        }
        // A panicking handler would take the worker down and the event would come back after
        // every reconnect; it is a permanent failure of this event instead.
        match AssertUnwindSafe(self.handler.handle(event, tx))
            .catch_unwind()
            .await
        {
            Ok(handled) => handled.map_err(AttemptError::Handler)?,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                return Err(AttemptError::Handler(HandlerError::permanent(format!(
                    "handler panicked: {message}"
                ))));
            }
        }
        Ok(Outcome::Applied)
    }

    async fn database_is_up(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Copies the delivery to the dead-letter queue with the error, then acks the original.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        error: &str,
        attempts: u32,
        dead_letter_channel: &Channel,
    ) -> Result<(), Error> {
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert(
            amqp::HEADER_ERROR.into(),
            amqp::long_string(truncate(error, MAX_ERROR_LEN)),
        );
        headers.insert(
            amqp::HEADER_ATTEMPTS.into(),
            AMQPValue::LongLongInt(i64::from(attempts)),
        );
        headers.insert(
            amqp::HEADER_DEAD_LETTERED_AT.into(),
            amqp::long_string(&Utc::now().to_rfc3339()),
        );
        headers.insert(
            amqp::HEADER_ORIGINAL_ROUTING_KEY.into(),
            amqp::long_string(delivery.routing_key.as_str()),
        );
        let properties = delivery
            .properties
            .clone()
            .with_delivery_mode(amqp::PERSISTENT)
            .with_headers(headers);
        let confirmation = dead_letter_channel
            .basic_publish(
                amqp::DEFAULT_EXCHANGE.into(),
                amqp::short(&self.config.dead_letter_queue())?,
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                properties,
            )
            .await?
            .await?;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => {}
            Confirmation::Ack(Some(_)) => {
                return Err(Error::NoSuchQueue(self.config.dead_letter_queue()));
            }
            Confirmation::Nack(_) => {
                return Err(Error::PublishRejected(format!(
                    "dead letter to {}",
                    self.config.dead_letter_queue()
                )));
            }
        }
        METRICS
            .dead_letters
            .with_label_values(&[&self.component, &self.config.queue])
            .inc();
        METRICS
            .consumed
            .with_label_values(&[&self.component, &self.config.queue, "dead_lettered"])
            .inc();
        ack(delivery).await;
        Ok(())
    }
}

/// Acks a delivery. A failed ack (connection gone) is harmless: the broker redelivers and the
/// event is recognised as processed.
async fn ack(delivery: &Delivery) {
    match tokio::time::timeout(ACK_TIMEOUT, delivery.ack(BasicAckOptions::default())).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "ack failed, the event will be redelivered and skipped");
        }
        Err(_) => tracing::debug!("ack timed out, the event will be redelivered and skipped"),
    }
}

fn lane_of(envelope: &Envelope, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    envelope.aggregate_type.hash(&mut hasher);
    envelope.aggregate_id.hash(&mut hasher);
    // The modulo keeps the value below `lanes`, which is a usize.
    (hasher.finish() % lanes.max(1) as u64) as usize
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(aggregate_id: &str) -> Envelope {
        Envelope {
            id: Uuid::now_v7().to_string(),
            event_type: "tenants.user.created".into(),
            tenant_id: Uuid::now_v7().to_string(),
            aggregate_type: "user".into(),
            aggregate_id: aggregate_id.into(),
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            ..Envelope::default()
        }
    }

    #[test]
    fn one_aggregate_always_maps_to_one_lane() {
        let first = lane_of(&envelope("a-1"), 8);
        for _ in 0..10 {
            assert_eq!(lane_of(&envelope("a-1"), 8), first);
        }
        assert!(first < 8);
        assert_eq!(lane_of(&envelope("a-1"), 1), 0);
    }

    #[test]
    fn an_envelope_without_valid_ids_is_refused() {
        let mut bad_id = envelope("a");
        bad_id.id = "nope".into();
        assert!(matches!(
            Event::from_envelope(bad_id, false),
            Err(Error::InvalidEnvelope(_))
        ));
        let mut no_time = envelope("a");
        no_time.occurred_at = None;
        assert!(matches!(
            Event::from_envelope(no_time, false),
            Err(Error::InvalidEnvelope(_))
        ));
        let event = Event::from_envelope(envelope("a"), true).expect("valid envelope");
        assert!(event.redelivered);
        assert_eq!(event.attempt, 1);
        assert_eq!(event.occurred_at.timestamp(), 1_700_000_000);
    }

    #[test]
    fn errors_are_truncated_on_a_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("hello", 10), "hello");
    }

    #[test]
    fn handler_errors_from_std_errors_are_transient() {
        let error: HandlerError = std::io::Error::other("boom").into();
        assert!(!error.is_permanent());
        assert!(HandlerError::permanent("bad payload").is_permanent());
        assert_eq!(error.to_string(), "boom");
    }

    #[test]
    fn consumer_config_refuses_bad_bindings_and_zero_limits() {
        assert!(
            ConsumerConfig::new("crm.tenants", ["tenants.user.*"])
                .validate()
                .is_ok()
        );
        assert!(
            ConsumerConfig::new("crm.tenants", ["Tenants"])
                .validate()
                .is_err()
        );
        assert!(
            ConsumerConfig::new("crm.tenants", Vec::<String>::new())
                .validate()
                .is_err()
        );
        assert!(
            ConsumerConfig::new("q".repeat(300), ["#"])
                .validate()
                .is_err()
        );
        let mut zero = ConsumerConfig::new("crm.tenants", ["#"]);
        zero.prefetch = 0;
        assert!(zero.validate().is_err());
    }
}
