//! The relay: drains the outbox to the topic exchange with publisher confirms.

use std::time::{Duration, Instant};

use futures::future::{join_all, select_all};
use lapin::{
    Channel, Confirmation, PublisherConfirm,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::FieldTable,
};
use prost::Message;
use sqlx::{PgPool, Postgres, Transaction, postgres::PgListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    Backoff, EXCHANGE, Envelope, Error, amqp,
    backoff::Reconnects,
    metrics::{METRICS, component_of, outbox_labels},
    trace::TraceContext,
};

/// Rows deleted per prune statement, so pruning never holds long locks.
const PRUNE_CHUNK: i64 = 5_000;
/// Retry delay while rows wait behind an earlier row of their aggregate claimed by another
/// replica: that replica commits within one batch, and its commit sends no notification.
const BLOCKED_RETRY: Duration = Duration::from_millis(20);
/// Longest a late-committed row below the in-flight batches waits for a claim to reach it.
const FULL_SCAN_INTERVAL: Duration = Duration::from_millis(100);
/// LISTEN channels are identifiers, truncated by PostgreSQL at 63 bytes.
const MAX_CHANNEL_LEN: usize = 63;

/// Relay settings. `Default` suits production; tests shorten the intervals.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Topic exchange to publish to.
    pub exchange: String,
    /// Rows claimed, published and marked per transaction.
    pub batch_size: u32,
    /// Batches published and awaiting their confirms at once. The next batch goes out on the
    /// same channel while earlier ones are confirmed and marked, so the broker's and the
    /// database's flush latency do not stall the relay; channel order keeps aggregates in order.
    pub max_in_flight_batches: usize,
    /// Safety poll when no notification arrives (a missed NOTIFY, a listener reconnect).
    pub poll_interval: Duration,
    /// Poll interval while events keep coming; bounds the added commit-to-publish latency
    /// under load.
    pub busy_poll_interval: Duration,
    /// While busy, a relay holds a polling lease of this length (renewed on activity), during
    /// which producers skip NOTIFY: a notifying commit takes a database-wide lock that
    /// serialises all such commits (no group commit), capping write throughput far below what
    /// the relay drains.
    pub polling_lease: Duration,
    /// Polling continues this long after the lease ends, for transactions that saw the lease
    /// just before it ended and commit after. A transaction slower than that is published by the
    /// safety poll, `poll_interval` later at worst.
    pub lease_grace: Duration,
    /// How long confirms may take before the connection is presumed dead.
    pub confirm_timeout: Duration,
    /// Sent rows are kept this long for replays to new consumers, then deleted.
    pub retention: Duration,
    /// How often sent rows past retention are deleted.
    pub prune_interval: Duration,
    /// How often the backlog gauges are refreshed.
    pub metrics_interval: Duration,
    /// Delay between reconnect attempts after a broker or database failure: fast at first,
    /// growing only while attempts keep failing ([`Backoff::RECONNECT`]).
    pub reconnect_backoff: Backoff,
    /// AMQP connection name, shown in the RabbitMQ management UI.
    pub connection_name: String,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            exchange: EXCHANGE.to_owned(),
            batch_size: 500,
            max_in_flight_batches: 4,
            poll_interval: Duration::from_secs(5),
            busy_poll_interval: Duration::from_millis(5),
            polling_lease: Duration::from_secs(1),
            lease_grace: Duration::from_secs(1),
            confirm_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(7 * 24 * 3600),
            prune_interval: Duration::from_secs(600),
            metrics_interval: Duration::from_secs(5),
            reconnect_backoff: Backoff::RECONNECT,
            connection_name: "salescompass-events-relay".to_owned(),
        }
    }
}

/// Publishes the outbox of the schema on the pool's `search_path` until shut down.
///
/// Any number of relays (replicas) may run on one outbox: rows are claimed with
/// `FOR UPDATE SKIP LOCKED`, each is published by one relay, and a row waits while an earlier
/// row of its aggregate is in another relay's hands, so per-aggregate order holds across
/// replicas. A crash after publishing and before marking a row sent publishes it again on
/// restart; consumers absorb that duplicate.
#[derive(Debug)]
pub struct Relay {
    pool: PgPool,
    amqp_url: String,
    config: RelayConfig,
    crash_after_publish: bool,
}

/// A batch published and awaiting confirms; its transaction holds the claim (row locks).
struct PublishedBatch {
    tx: Transaction<'static, Postgres>,
    confirms: Vec<(i64, PublisherConfirm)>,
    claimed: usize,
    blocked: usize,
    started: Instant,
    claimed_in: Duration,
    published_in: Duration,
}

/// Settling batches (confirm, mark, commit), aborted (rolled back) if the session ends early.
#[derive(Default)]
struct InFlight(Vec<(Vec<i64>, Settling)>);

/// A batch's settle task.
type Settling = JoinHandle<Result<(), Error>>;

impl InFlight {
    /// Sequence numbers published by batches still settling: rows behind them on the same
    /// channel may go out, since the channel keeps publish order.
    fn seqs(&self) -> Vec<i64> {
        self.0
            .iter()
            .flat_map(|(seqs, _)| seqs.iter().copied())
            .collect()
    }

    /// Waits for the oldest batch.
    async fn settle_oldest(&mut self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let (_, handle) = self.0.remove(0);
        join(handle).await
    }

    /// Collects batches that finished, without waiting.
    async fn reap(&mut self) -> Result<(), Error> {
        while let Some(index) = self.0.iter().position(|(_, handle)| handle.is_finished()) {
            let (_, handle) = self.0.remove(index);
            join(handle).await?;
        }
        Ok(())
    }

    /// Settles whichever batch finishes first (never resolves when none is in flight).
    async fn settle_any(&mut self) -> Result<(), Error> {
        if self.0.is_empty() {
            return std::future::pending().await;
        }
        let (result, index, _) = select_all(self.0.iter_mut().map(|(_, handle)| handle)).await;
        // Its output is taken here; a JoinHandle must not be polled again after completion.
        self.0.remove(index);
        result.map_err(|error| Error::Config(format!("relay batch task failed: {error}")))?
    }

    /// Graceful end: let every batch mark its rows, so a restart does not republish them.
    async fn finish(&mut self) -> Result<(), Error> {
        while !self.0.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for (_, handle) in &self.0 {
            handle.abort();
        }
    }
}

async fn join(handle: Settling) -> Result<(), Error> {
    handle
        .await
        .map_err(|error| Error::Config(format!("relay batch task failed: {error}")))?
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    seq: i64,
    event_id: Uuid,
    event_type: String,
    tenant_id: Uuid,
    envelope: Vec<u8>,
    blocked: bool,
}

impl Relay {
    /// A relay for the outbox reachable through `pool`, publishing to the broker at `amqp_url`.
    pub fn new(pool: PgPool, amqp_url: impl Into<String>, config: RelayConfig) -> Self {
        // A pool from `db::connect` names its schema: its series exist from now on. Other
        // pools get theirs when `run` has asked the database.
        if let Some(schema) = component_of(&pool) {
            METRICS.precreate_outbox(&schema);
        }
        Self {
            pool,
            amqp_url: amqp_url.into(),
            config,
            crash_after_publish: false,
        }
    }

    /// Fault injection: the first batch is published and confirmed, then the relay stops as if
    /// the process died before marking the rows sent, returning [`Error::SimulatedCrash`].
    #[cfg(feature = "test-util")]
    #[must_use]
    pub fn crash_after_publish(mut self) -> Self {
        self.crash_after_publish = true;
        self
    }

    /// Runs until `shutdown` is cancelled, reconnecting with backoff after failures. Returns an
    /// error only for invalid configuration (or a simulated crash).
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        self.validate()?;
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&self.pool)
            .await?;
        let schema =
            schema.ok_or_else(|| Error::Config("the pool's search_path names no schema".into()))?;
        METRICS.precreate_outbox(&schema);
        // The backlog is read from the table on its own timer, so it keeps rising while the
        // broker is down; it ends with the sessions (which return on shutdown).
        tokio::select! {
            result = self.sessions(&schema, &shutdown) => result,
            never = self.watch_backlog(&schema) => match never {},
        }
    }

    /// Relay sessions, reconnecting with backoff, until shutdown or a fatal error.
    async fn sessions(&self, schema: &str, shutdown: &CancellationToken) -> Result<(), Error> {
        let mut reconnects = Reconnects::new(self.config.reconnect_backoff);
        loop {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let started = Instant::now();
            match self.session(schema, shutdown).await {
                Ok(()) => return Ok(()),
                Err(Error::SimulatedCrash) => return Err(Error::SimulatedCrash),
                Err(error) => {
                    METRICS
                        .relay_reconnects
                        .with_label_values(&outbox_labels(schema))
                        .inc();
                    let (attempt, delay) = reconnects.after_failure(started.elapsed());
                    // One WARN per outage (its first failure); the attempts that follow are
                    // DEBUG, `events_relay_reconnects_total` counts them, and "relay connected"
                    // (INFO) ends it.
                    if attempt == 1 {
                        tracing::warn!(
                            %error, outbox = %schema, delay_ms = delay.as_millis(),
                            "relay session failed, reconnecting"
                        );
                    } else {
                        tracing::debug!(
                            %error, outbox = %schema, attempt, delay_ms = delay.as_millis(),
                            "relay reconnect failed"
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

    fn validate(&self) -> Result<(), Error> {
        if self.config.batch_size == 0 || self.config.max_in_flight_batches == 0 {
            return Err(Error::Config(
                "relay batch_size and max_in_flight_batches must be at least 1".into(),
            ));
        }
        amqp::short(&self.config.exchange)?;
        Ok(())
    }

    async fn session(&self, schema: &str, shutdown: &CancellationToken) -> Result<(), Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&notify_channel(schema)).await?;
        let broker = amqp::Session::open(&self.amqp_url, &self.config.connection_name).await?;
        let result = async {
            let channel = broker.channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            amqp::declare_exchange(&channel, &self.config.exchange).await?;
            tracing::info!(outbox = %schema, exchange = %self.config.exchange, "relay connected");
            self.pump(&mut listener, &channel, schema, shutdown).await
        }
        .await;
        broker.close("relay stopping").await;
        result
    }

    async fn pump(
        &self,
        listener: &mut PgListener,
        channel: &Channel,
        schema: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), Error> {
        let mut in_flight = InFlight::default();
        let result = self
            .pump_batches(listener, channel, schema, shutdown, &mut in_flight)
            .await;
        if result.is_ok() {
            in_flight.finish().await?;
        }
        // On error the remaining batches are aborted: their claims roll back and the rows are
        // published again (duplicates the consumers absorb).
        result
    }

    async fn pump_batches(
        &self,
        listener: &mut PgListener,
        channel: &Channel,
        schema: &str,
        shutdown: &CancellationToken,
        in_flight: &mut InFlight,
    ) -> Result<(), Error> {
        let mut next_prune = Instant::now();
        // A lease another (possibly crashed) relay left behind silences NOTIFY until it ends, so
        // poll through it as if it were ours.
        let mut lease_ends = self.lease_end(false).await?;
        let mut last_full_scan = Instant::now();
        loop {
            let mut blocked = false;
            let mut active = false;
            loop {
                in_flight.reap().await?;
                if in_flight.0.len() >= self.config.max_in_flight_batches {
                    in_flight.settle_oldest().await?;
                }
                let own = in_flight.seqs();
                // While batches are in flight, scanning from the start of the outbox means
                // stepping over all their locked rows (and the dead index entries of rows just
                // marked sent) on every claim, which made claims cost more than publishing. So
                // claims start after the newest in-flight row, and a full scan runs at least every
                // FULL_SCAN_INTERVAL to pick up rows below it that committed late.
                let floor = match own.iter().max() {
                    Some(&newest) if last_full_scan.elapsed() < FULL_SCAN_INTERVAL => newest,
                    _ => {
                        last_full_scan = Instant::now();
                        0
                    }
                };
                let Some(batch) = self.claim_and_publish(channel, &own, floor).await? else {
                    break;
                };
                let full = batch.claimed >= self.config.batch_size as usize;
                blocked |= batch.blocked > 0;
                let seqs: Vec<i64> = batch.confirms.iter().map(|(seq, _)| *seq).collect();
                let published = !seqs.is_empty();
                active |= published;
                let settle = tokio::spawn(settle(
                    batch,
                    self.config.confirm_timeout,
                    self.crash_after_publish,
                    schema.to_owned(),
                ));
                in_flight.0.push((seqs, settle));
                // A batch that was all blocked means another replica holds the head of the
                // queue: wait for it rather than claim ever further.
                if !full || !published || shutdown.is_cancelled() {
                    break;
                }
            }
            let now = Instant::now();
            // Busy: hold the polling lease so producers skip NOTIFY. Renewed only on activity,
            // so it lapses once traffic stops.
            if active && lease_ends.saturating_duration_since(now) < self.config.polling_lease / 2 {
                lease_ends = self.lease_end(true).await?;
            }
            if now >= next_prune {
                self.prune(schema).await?;
                next_prune = now + self.config.prune_interval;
            }
            // Keep polling past the lease by a grace period: a producer that checked the lease
            // just before it ended skipped NOTIFY but commits a moment later.
            let polling = now < lease_ends + self.config.lease_grace;
            let wait = if blocked {
                BLOCKED_RETRY
            } else if polling {
                self.config.busy_poll_interval
            } else {
                self.config
                    .poll_interval
                    .min(next_prune.saturating_duration_since(now))
            };
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
                // A settled batch frees its aggregates and capacity: look again.
                settled = in_flight.settle_any() => settled?,
                // `None` means the listener lost its connection (and reconnects): notifications
                // may have been missed, so drain anyway.
                notification = listener.try_recv() => {
                    notification?;
                    // Many commits, one drain.
                    while listener.next_buffered().is_some() {}
                }
            }
        }
    }

    /// When the polling lease ends, as a local instant; with `extend`, first pushes it to at
    /// least `polling_lease` from now. The lease is shared by all relays of the outbox: any
    /// busy relay keeps producers from notifying, and each polls until the end it last saw.
    async fn lease_end(&self, extend: bool) -> Result<Instant, Error> {
        let remaining: f64 = sqlx::query_scalar(
            r#"
            UPDATE outbox_relay
            SET polling_until = CASE
                    WHEN $1 THEN greatest(polling_until,
                                          clock_timestamp() + make_interval(secs => $2))
                    ELSE polling_until
                END
            RETURNING greatest(EXTRACT(EPOCH FROM polling_until - clock_timestamp()), 0)::float8
            "#,
        )
        .bind(extend)
        .bind(self.config.polling_lease.as_secs_f64())
        .fetch_one(&self.pool)
        .await?;
        Ok(Instant::now() + Duration::try_from_secs_f64(remaining).unwrap_or_default())
    }

    /// Claims up to one batch and publishes it, in a transaction whose row locks are the claim;
    /// [`settle`] finishes it. A row waits while an earlier row of its aggregate is pending
    /// outside this relay's own in-flight batches (`own`): another replica holds it. Only rows
    /// after `floor` are claimed.
    async fn claim_and_publish(
        &self,
        channel: &Channel,
        own: &[i64],
        floor: i64,
    ) -> Result<Option<PublishedBatch>, Error> {
        let started = Instant::now();
        // The relay's own bookkeeping needs no fsync: if the database loses the last marks in a
        // crash, those rows are published again and consumers absorb the duplicates. This keeps
        // the disk flush off the publish path. (One round trip: BEGIN is a simple query.)
        // Cancel-safe: a relay dropped during BEGIN must not send its connection back to the
        // pool inside this transaction (see db::transaction).
        let mut tx =
            db::begin_with(&self.pool, "BEGIN; SET LOCAL synchronous_commit = off").await?;
        // Through the outbox's SECURITY DEFINER function: the relay reads every tenant's rows,
        // which row-level security hides from the application role (migration 9000000002).
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "SELECT seq, event_id, event_type, tenant_id, envelope, blocked \
             FROM outbox_claim($1, $2, $3)",
        )
        .bind(i64::from(self.config.batch_size))
        .bind(own)
        .bind(floor)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(None);
        }
        let claimed_in = started.elapsed();

        let mut confirms = Vec::with_capacity(rows.len());
        let mut blocked = 0;
        for row in &rows {
            if row.blocked {
                // Publishing now could overtake the earlier row; it stays pending (and locked
                // until this batch settles, so nobody else overtakes either).
                blocked += 1;
                continue;
            }
            confirms.push(self.publish(channel, row).await?);
        }
        Ok(Some(PublishedBatch {
            tx,
            confirms,
            claimed: rows.len(),
            blocked,
            claimed_in,
            published_in: started.elapsed(),
            started,
        }))
    }

    async fn publish(
        &self,
        channel: &Channel,
        row: &ClaimedRow,
    ) -> Result<(i64, lapin::PublisherConfirm), Error> {
        // The envelope was encoded by `enqueue`; a row that no longer decodes is still published
        // (consumers dead-letter it), only without trace context.
        let envelope = Envelope::decode(row.envelope.as_slice()).unwrap_or_default();
        let producer_trace = TraceContext {
            traceparent: envelope.traceparent.clone(),
            tracestate: envelope.tracestate.clone(),
        };
        let event_id = row.event_id.to_string();
        let span = tracing::info_span!(
            "events.publish",
            otel.kind = "producer",
            messaging.system = "rabbitmq",
            messaging.destination.name = %self.config.exchange,
            messaging.operation.type = "send",
            messaging.operation.name = "publish",
            messaging.message.id = %event_id,
            messaging.rabbitmq.destination.routing_key = %row.event_type,
            event_id = %event_id,
            event_type = %row.event_type,
            tenant_id = %row.tenant_id,
        );
        producer_trace.set_as_parent_of(&span);
        // The consumer becomes a child of this publish span when tracing exports; otherwise it
        // still joins the producer's trace.
        let header_trace = Some(TraceContext::of_span(&span))
            .filter(|trace| !trace.is_empty())
            .unwrap_or(producer_trace);
        let occurred_at = envelope
            .occurred_at
            .as_ref()
            .map_or(0, |at| u64::try_from(at.seconds).unwrap_or(0));
        let properties = amqp::envelope_properties(
            &event_id,
            &row.event_type,
            &row.tenant_id.to_string(),
            &envelope.producer,
            occurred_at,
            &header_trace,
            FieldTable::default(),
        )?;
        let publish = channel
            .basic_publish(
                amqp::short(&self.config.exchange)?,
                amqp::short(&row.event_type)?,
                BasicPublishOptions::default(),
                &row.envelope,
                properties,
            )
            .instrument(span);
        // A publish on a connection that died under it may never resolve.
        let confirm = tokio::time::timeout(self.config.confirm_timeout, publish)
            .await
            .map_err(|_| Error::AmqpTimeout("publish"))??;
        Ok((row.seq, confirm))
    }

    async fn prune(&self, schema: &str) -> Result<(), Error> {
        let retention_secs = self.config.retention.as_secs_f64();
        loop {
            let deleted: i64 = sqlx::query_scalar("SELECT outbox_prune($1, $2)")
                .bind(retention_secs)
                .bind(PRUNE_CHUNK)
                .fetch_one(&self.pool)
                .await?;
            METRICS
                .outbox_pruned
                .with_label_values(&outbox_labels(schema))
                .inc_by(u64::try_from(deleted).unwrap_or_default());
            if deleted < PRUNE_CHUNK {
                return Ok(());
            }
        }
    }

    /// Refreshes the backlog gauges every `metrics_interval`, through the pool alone.
    async fn watch_backlog(&self, schema: &str) -> std::convert::Infallible {
        loop {
            if let Err(error) = self.refresh_backlog(schema).await {
                tracing::debug!(%error, outbox = %schema, "outbox backlog not measured");
            }
            tokio::time::sleep(self.config.metrics_interval).await;
        }
    }

    async fn refresh_backlog(&self, schema: &str) -> Result<(), Error> {
        let (count, oldest_secs): (i64, f64) =
            sqlx::query_as("SELECT pending, oldest_secs FROM outbox_backlog()")
                .fetch_one(&self.pool)
                .await?;
        METRICS
            .outbox_backlog
            .with_label_values(&outbox_labels(schema))
            .set(count);
        METRICS
            .outbox_oldest_pending_seconds
            .with_label_values(&outbox_labels(schema))
            .set(oldest_secs);
        Ok(())
    }
}

/// Waits for a batch's confirms, marks the confirmed rows sent and commits.
async fn settle(
    batch: PublishedBatch,
    confirm_timeout: Duration,
    crash_after_publish: bool,
    schema: String,
) -> Result<(), Error> {
    let PublishedBatch {
        mut tx,
        confirms,
        claimed,
        blocked,
        started,
        claimed_in,
        published_in,
    } = batch;
    let confirmations = tokio::time::timeout(
        confirm_timeout,
        join_all(
            confirms
                .into_iter()
                .map(|(seq, confirm)| async move { (seq, confirm.await) }),
        ),
    )
    .await
    .map_err(|_| Error::ConfirmTimeout)?;
    let confirmed_in = started.elapsed();

    let mut sent = Vec::with_capacity(confirmations.len());
    let mut rejected = Vec::new();
    for (seq, confirmation) in confirmations {
        match confirmation? {
            Confirmation::Ack(_) | Confirmation::NotRequested => sent.push(seq),
            Confirmation::Nack(_) => rejected.push(seq),
        }
    }

    if crash_after_publish {
        // Dropping the transaction rolls the claim back, as a dead process would.
        drop(tx);
        return Err(Error::SimulatedCrash);
    }

    sqlx::query("SELECT outbox_settle($1, $2)")
        .bind(&sent)
        .bind(&rejected)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(
        outbox = %schema,
        claimed,
        blocked,
        claim_ms = claimed_in.as_secs_f64() * 1e3,
        publish_ms = (published_in - claimed_in).as_secs_f64() * 1e3,
        confirm_ms = (confirmed_in - published_in).as_secs_f64() * 1e3,
        mark_ms = (started.elapsed() - confirmed_in).as_secs_f64() * 1e3,
        "outbox batch settled"
    );

    METRICS
        .published
        .with_label_values(&outbox_labels(&schema))
        .inc_by(sent.len() as u64);
    METRICS
        .relay_batch_seconds
        .with_label_values(&outbox_labels(&schema))
        .observe(started.elapsed().as_secs_f64());
    if let Some(seq) = rejected.first() {
        METRICS
            .publish_failures
            .with_label_values(&outbox_labels(&schema))
            .inc_by(rejected.len() as u64);
        // Back off through the session's reconnect: a broker that rejects is unhealthy.
        return Err(Error::PublishRejected(format!("outbox seq {seq}")));
    }
    Ok(())
}

/// The NOTIFY channel of the outbox trigger: `outbox_<schema>`, cut like PostgreSQL cuts it.
pub(crate) fn notify_channel(schema: &str) -> String {
    let mut channel = format!("outbox_{schema}");
    if channel.len() > MAX_CHANNEL_LEN {
        let mut end = MAX_CHANNEL_LEN;
        while !channel.is_char_boundary(end) {
            end -= 1;
        }
        channel.truncate(end);
    }
    channel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_channel_is_cut_to_an_identifier() {
        assert_eq!(notify_channel("tenants"), "outbox_tenants");
        assert_eq!(notify_channel(&"s".repeat(80)).len(), MAX_CHANNEL_LEN);
    }
}
