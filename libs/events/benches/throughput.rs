//! Throughput and latency of the event backbone on this machine, against the local PostgreSQL
//! and RabbitMQ (the same servers as the integration tests):
//!
//! 1. relay alone: a pre-filled outbox drained to a durable quorum queue, events/s;
//! 2. end to end, flat out: 4 producers commit one event per transaction (BENCH_PRODUCERS,
//!    BENCH_EVENTS_PER_TX) while the relay and a consumer run; events/s from the first commit to
//!    the last effect committed;
//! 3. steady 500 events/s: p50/p99 from the producer's commit returning to the consumer's effect
//!    committed (measured in-process with the handler's `committed` hook).
//!
//! `cargo bench -p events --bench throughput`. Bounded: sizes via BENCH_RELAY_EVENTS (20000),
//! BENCH_E2E_EVENTS (10000), BENCH_RATE (500/s) and BENCH_SECONDS (10); every scenario times out
//! after two minutes. BENCH_ONLY=relay|e2e|latency runs one; BENCH_VERBOSE=1 prints the latency
//! per second and split at the handler's start. Needs the salescompass_test database (the
//! integration tests create it).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use events::{
    Consumer, ConsumerConfig, Event, Handler, HandlerError, NewEvent, Relay, RelayConfig, outbox,
};
use lapin::{
    Connection, ConnectionProperties,
    options::{ExchangeDeleteOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use sqlx::{
    AssertSqlSafe, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const DATABASE: &str = "salescompass_test";
const EVENT_TYPE: &str = "bench.item.changed";
/// Nothing here should take long; a stuck run fails instead of hanging CI.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, PartialEq, prost::Message)]
struct ItemChanged {
    #[prost(uint64, tag = "1")]
    n: u64,
}

impl prost::Name for ItemChanged {
    const NAME: &'static str = "ItemChanged";
    const PACKAGE: &'static str = "salescompass.bench.v1";
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn amqp_url() -> String {
    std::env::var("EVENTS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn postgres_url() -> String {
    let base = std::env::var("EVENTS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    format!("{base}/{DATABASE}")
}

fn event(n: u64) -> Result<NewEvent> {
    let tenant = Uuid::from_u128(0x0190_f0e4_0000_7000_8000_0000_0000_0001);
    Ok(NewEvent::new(
        EVENT_TYPE,
        tenant,
        "item",
        format!("agg-{}", n % 256),
        &ItemChanged { n },
    )?)
}

struct Bench {
    /// The producing service's pool: business transactions and its relay.
    pool: PgPool,
    /// The consuming service's pool (in production another service, with its own pool).
    consumer_pool: PgPool,
    schema: String,
    exchange: String,
    queues: Vec<String>,
}

impl Bench {
    async fn new() -> Result<Self> {
        let suffix = format!("{:016x}", rand::random::<u64>());
        let schema = format!("bench_{suffix}");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&postgres_url())
            .await
            .context(
                "connect to salescompass_test (run the integration tests once to create it)",
            )?;
        sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE SCHEMA "{schema}""#)))
            .execute(&admin)
            .await?;
        admin.close().await;
        let options = postgres_url()
            .parse::<PgConnectOptions>()?
            .options([("search_path", schema.as_str())]);
        // Pool sizes as a service would have them (libs/db defaults to 16).
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options.clone())
            .await?;
        let consumer_pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options)
            .await?;
        events::migrate(&pool).await?;
        sqlx::raw_sql("CREATE TABLE effects (event_id UUID PRIMARY KEY, n BIGINT NOT NULL)")
            .execute(&pool)
            .await?;
        Ok(Self {
            pool,
            consumer_pool,
            schema,
            exchange: format!("salescompass.events.bench.{suffix}"),
            queues: Vec::new(),
        })
    }

    fn queue(&mut self, purpose: &str) -> String {
        let name = format!("bench.{purpose}.{:08x}", rand::random::<u32>());
        self.queues.push(name.clone());
        self.queues.push(format!("{name}.dlq"));
        name
    }

    /// Library defaults, unless BENCH_BATCH / BENCH_IN_FLIGHT say otherwise.
    fn relay_config(&self) -> RelayConfig {
        let defaults = RelayConfig::default();
        RelayConfig {
            exchange: self.exchange.clone(),
            batch_size: env_u64("BENCH_BATCH", defaults.batch_size.into())
                .try_into()
                .unwrap_or(defaults.batch_size),
            max_in_flight_batches: env_u64("BENCH_IN_FLIGHT", defaults.max_in_flight_batches as u64)
                as usize,
            ..defaults
        }
    }

    fn consumer_config(&self, queue: &str) -> ConsumerConfig {
        // Library defaults otherwise (prefetch 64, 8 workers, batches of up to 16).
        let mut config = ConsumerConfig::new(queue, ["bench.#"]);
        config.exchange = self.exchange.clone();
        config
    }

    async fn reset(&self) -> Result<()> {
        sqlx::raw_sql(
            "TRUNCATE outbox, processed_events, effects; \
             UPDATE outbox_relay SET polling_until = 'epoch'",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn cleanup(self) -> Result<()> {
        self.pool.close().await;
        self.consumer_pool.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&postgres_url())
            .await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            r#"DROP SCHEMA "{}" CASCADE"#,
            self.schema
        )))
        .execute(&admin)
        .await?;
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
        for queue in &self.queues {
            let channel = connection.create_channel().await?;
            let _ = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let channel = connection.create_channel().await?;
        channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await?;
        connection.close(200, "bench done".into()).await?;
        Ok(())
    }
}

/// Records when each effect committed, and wakes the bench when the expected count is reached.
#[derive(Clone, Default)]
struct Recorder {
    /// When the handler started on the event: splits latency into delivery and apply.
    handled_at: Arc<Mutex<HashMap<Uuid, Instant>>>,
    committed_at: Arc<Mutex<HashMap<Uuid, Instant>>>,
    count: Arc<AtomicU64>,
    done: Arc<Notify>,
    expected: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        self.handled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(event.id)
            .or_insert_with(Instant::now);
        let payload: ItemChanged = event.payload().map_err(HandlerError::permanent)?;
        sqlx::query("INSERT INTO effects (event_id, n) VALUES ($1, $2)")
            .bind(event.id)
            .bind(i64::try_from(payload.n).map_err(HandlerError::permanent)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn committed(&self, event: &Event) {
        let now = Instant::now();
        self.committed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event.id, now);
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 >= self.expected.load(Ordering::SeqCst) {
            self.done.notify_one();
        }
    }
}

impl Recorder {
    fn expect(&self, count: u64) {
        self.expected.store(count, Ordering::SeqCst);
        self.count.store(0, Ordering::SeqCst);
        self.committed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    async fn wait(&self) -> Result<()> {
        tokio::time::timeout(SCENARIO_TIMEOUT, async {
            while self.count.load(Ordering::SeqCst) < self.expected.load(Ordering::SeqCst) {
                let notified = self.done.notified();
                if self.count.load(Ordering::SeqCst) >= self.expected.load(Ordering::SeqCst) {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
            }
        })
        .await
        .context("consumer did not apply every event in time")
    }
}

async fn commit_one(pool: &PgPool, n: u64) -> Result<(Uuid, Instant)> {
    let event = event(n)?;
    let mut tx = pool.begin().await?;
    outbox::enqueue(&mut tx, &event).await?;
    tx.commit().await?;
    Ok((event.id(), Instant::now()))
}

async fn relay_only(bench: &mut Bench, events: u64) -> Result<f64> {
    bench.reset().await?;
    let queue = bench.queue("relay");
    // A durable quorum queue bound like a consumer's, so every publish is stored and confirmed.
    Consumer::new(
        bench.consumer_pool.clone(),
        amqp_url(),
        bench.consumer_config(&queue),
        Recorder::default(),
    )
    .declare()
    .await?;
    for chunk_start in (0..events).step_by(1_000) {
        let batch = (chunk_start..(chunk_start + 1_000).min(events))
            .map(event)
            .collect::<Result<Vec<_>>>()?;
        let mut tx = bench.pool.begin().await?;
        outbox::enqueue_all(&mut tx, &batch).await?;
        tx.commit().await?;
    }
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let relay = tokio::spawn(
        Relay::new(bench.pool.clone(), amqp_url(), bench.relay_config()).run(shutdown.clone()),
    );
    tokio::time::timeout(SCENARIO_TIMEOUT, async {
        while bench.pending().await? > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::Ok(())
    })
    .await
    .context("relay did not drain in time")??;
    let elapsed = started.elapsed();
    shutdown.cancel();
    relay.await??;

    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let stored = channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count();
    channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    if u64::from(stored) != events {
        bail!("queue holds {stored} messages, expected {events}");
    }
    let rate = events as f64 / elapsed.as_secs_f64();
    println!(
        "relay alone: {events} events in {:.2} s = {rate:.0} events/s",
        elapsed.as_secs_f64()
    );
    Ok(rate)
}

async fn end_to_end(
    bench: &mut Bench,
    events: u64,
    producers: u64,
    events_per_tx: u64,
) -> Result<f64> {
    bench.reset().await?;
    let queue = bench.queue("e2e");
    let recorder = Recorder::default();
    recorder.expect(events);
    let consumer = Consumer::new(
        bench.consumer_pool.clone(),
        amqp_url(),
        bench.consumer_config(&queue),
        recorder.clone(),
    );
    consumer.declare().await?;
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(bench.pool.clone(), amqp_url(), bench.relay_config()).run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let per_producer = events / producers;
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let pool = bench.pool.clone();
            tokio::spawn(async move {
                for chunk in (0..per_producer).step_by(events_per_tx as usize) {
                    let mut tx = pool.begin().await?;
                    for i in chunk..(chunk + events_per_tx).min(per_producer) {
                        outbox::enqueue(&mut tx, &event(p * per_producer + i)?).await?;
                    }
                    tx.commit().await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let produced = started.elapsed();
    recorder.wait().await?;
    let elapsed = started.elapsed();
    shutdown.cancel();
    relaying.await??;
    consuming.await??;
    let rate = events as f64 / elapsed.as_secs_f64();
    println!(
        "end to end, {producers} producers flat out, {events_per_tx} event(s) per transaction: \
         {events} events committed in {:.2} s ({:.0}/s), \
         all effects committed after {:.2} s = {rate:.0} events/s",
        produced.as_secs_f64(),
        events as f64 / produced.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    Ok(rate)
}

async fn steady_latency(
    bench: &mut Bench,
    rate: u64,
    seconds: u64,
) -> Result<(Duration, Duration)> {
    bench.reset().await?;
    let queue = bench.queue("latency");
    // The first second warms pools and caches up at the same rate and is not measured.
    let warmup = rate;
    let measured = rate * seconds;
    let events = warmup + measured;
    let recorder = Recorder::default();
    recorder.expect(events);
    let consumer = Consumer::new(
        bench.consumer_pool.clone(),
        amqp_url(),
        bench.consumer_config(&queue),
        recorder.clone(),
    );
    consumer.declare().await?;
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(bench.pool.clone(), amqp_url(), bench.relay_config()).run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Open loop: one commit every 1/rate s whatever the previous ones are doing.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut commits = Vec::with_capacity(events as usize);
    let started = Instant::now();
    for n in 0..events {
        ticker.tick().await;
        let pool = bench.pool.clone();
        commits.push(tokio::spawn(async move { commit_one(&pool, n).await }));
    }
    let offered = events as f64 / started.elapsed().as_secs_f64();
    let mut committed = HashMap::with_capacity(events as usize);
    for (n, commit) in commits.into_iter().enumerate() {
        let (id, at) = commit.await??;
        if n as u64 >= warmup {
            committed.insert(id, at);
        }
    }
    recorder.wait().await?;
    shutdown.cancel();
    relaying.await??;
    consuming.await??;

    if std::env::var_os("BENCH_VERBOSE").is_some() {
        let guard = recorder
            .committed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let handled = recorder
            .handled_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut to_handler: Vec<Duration> = committed
            .iter()
            .filter_map(|(id, at)| handled.get(id).map(|h| h.saturating_duration_since(*at)))
            .collect();
        to_handler.sort();
        if !to_handler.is_empty() {
            let p = |q: f64| {
                ms(to_handler[((to_handler.len() as f64 * q) as usize).min(to_handler.len() - 1)])
            };
            println!(
                "  commit to handler start: p50 {:.1} p99 {:.1} max {:.1}",
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
        drop(handled);
        let mut per_second: std::collections::BTreeMap<u64, Vec<Duration>> = Default::default();
        for (id, at) in &committed {
            if let Some(done) = guard.get(id) {
                per_second
                    .entry(at.duration_since(started).as_secs())
                    .or_default()
                    .push(done.saturating_duration_since(*at));
            }
        }
        for (second, mut latencies) in per_second {
            latencies.sort();
            let p = |q: f64| {
                ms(latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)])
            };
            println!(
                "  second {second}: n {} p50 {:.1} p99 {:.1} max {:.1}",
                latencies.len(),
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
    }
    let applied = recorder
        .committed_at
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut latencies: Vec<Duration> = committed
        .iter()
        .filter_map(|(id, at)| {
            applied
                .get(id)
                .map(|done| done.saturating_duration_since(*at))
        })
        .collect();
    if latencies.len() as u64 != measured {
        bail!("{} of {measured} latencies measured", latencies.len());
    }
    latencies.sort();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let (p50, p90, p99, max) = (
        percentile(0.50),
        percentile(0.90),
        percentile(0.99),
        percentile(1.0),
    );
    println!(
        "steady {rate}/s for {seconds} s after 1 s warm-up (offered {offered:.0}/s, {measured} events \
         measured): commit-to-effect \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(p50),
        ms(p90),
        ms(p99),
        ms(max)
    );
    Ok((p50, p99))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

fn main() -> Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    // Criterion-style harness flags (`--bench`) are accepted and ignored.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut bench = Bench::new().await?;
        let result = async {
            // BENCH_ONLY=relay|e2e|latency runs one scenario.
            let only = std::env::var("BENCH_ONLY").unwrap_or_default();
            let selected = |name: &str| only.is_empty() || only == name;
            let relay_rate = if selected("relay") {
                relay_only(&mut bench, env_u64("BENCH_RELAY_EVENTS", 20_000)).await?
            } else {
                f64::NAN
            };
            let e2e_rate = if selected("e2e") {
                let events = env_u64("BENCH_E2E_EVENTS", 10_000);
                let producers = env_u64("BENCH_PRODUCERS", 4);
                let per_tx = env_u64("BENCH_EVENTS_PER_TX", 1).max(1);
                end_to_end(&mut bench, events, producers, per_tx).await?
            } else {
                f64::NAN
            };
            let (p50, p99) = if selected("latency") {
                let rate = env_u64("BENCH_RATE", 500);
                steady_latency(&mut bench, rate, env_u64("BENCH_SECONDS", 10)).await?
            } else {
                (Duration::ZERO, Duration::ZERO)
            };
            println!(
                "summary: relay {relay_rate:.0} events/s (target >= 5000), end to end {e2e_rate:.0} events/s, \
                 p50 {:.1} ms / p99 {:.1} ms at steady rate (target p99 < 50 ms)",
                ms(p50),
                ms(p99)
            );
            anyhow::Ok(())
        }
        .await;
        bench.cleanup().await?;
        result
    })
}
