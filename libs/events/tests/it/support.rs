//! Shared fixtures: a fresh schema per test, per-test exchange and queue names, a TCP proxy whose
//! connections can be cut, polling helpers. Everything a test creates is removed on drop, also
//! when the test fails.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use events::{
    Backoff, ConsumerConfig, Envelope, Event, Handler, HandlerError, NewEvent, RelayConfig,
};
use futures::StreamExt;
use lapin::{
    Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, ExchangeDeleteOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::FieldTable,
};
use prost::Message;
use sqlx::{
    AssertSqlSafe, Connection as _, PgConnection, PgPool, Postgres, Transaction,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{net::TcpListener, sync::OnceCell, task::JoinHandle};
use uuid::Uuid;

pub const TEST_DATABASE: &str = "salescompass_test";
/// Only catches hangs: a healthy run needs seconds, but CI runs these on 2 cores next to other
/// test binaries, where one step of the 10,000-event test has been seen to take a minute.
pub const DEADLINE: Duration = Duration::from_secs(120);

pub fn postgres_url(database: &str) -> String {
    let base = std::env::var("EVENTS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    format!("{base}/{database}")
}

pub fn amqp_url() -> String {
    std::env::var("EVENTS_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

pub fn suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

static DATABASE_READY: OnceCell<()> = OnceCell::const_new();

/// Creates the test database once per process; tolerates other processes racing to create it.
async fn ensure_database() {
    DATABASE_READY
        .get_or_init(|| async {
            let mut admin = PgConnection::connect(&postgres_url("postgres"))
                .await
                .expect("connect to postgres");
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(TEST_DATABASE)
                    .fetch_one(&mut admin)
                    .await
                    .expect("look up test database");
            if !exists {
                let created = sqlx::raw_sql(AssertSqlSafe(format!(
                    r#"CREATE DATABASE "{TEST_DATABASE}""#
                )))
                .execute(&mut admin)
                .await;
                if let Err(error) = created {
                    // duplicate_database, or unique_violation when two creations race.
                    let code = error.as_database_error().and_then(|e| e.code());
                    assert!(
                        matches!(code.as_deref(), Some("42P04" | "23505")),
                        "create test database: {error}"
                    );
                }
            }
        })
        .await;
}

/// A schema of its own, migrated with the events tables, dropped on drop.
pub struct TestDb {
    pub pool: PgPool,
    pub schema: String,
}

/// Logs to the test output when RUST_LOG is set (`RUST_LOG=events=debug`).
fn init_tracing() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

impl TestDb {
    pub async fn new() -> Self {
        init_tracing();
        ensure_database().await;
        let schema = format!("ev_{}", suffix());
        let mut admin = PgConnection::connect(&postgres_url(TEST_DATABASE))
            .await
            .expect("connect to test database");
        sqlx::raw_sql(AssertSqlSafe(format!(r#"CREATE SCHEMA "{schema}""#)))
            .execute(&mut admin)
            .await
            .expect("create schema");
        let pool = Self::pool_for(&schema, None).await;
        events::migrate(&pool).await.expect("events migrations");
        Self { pool, schema }
    }

    /// A pool on this schema, optionally acting as `role` (like libs/db's runtime pool).
    pub async fn pool_for(schema: &str, role: Option<String>) -> PgPool {
        let options = postgres_url(TEST_DATABASE)
            .parse::<PgConnectOptions>()
            .expect("postgres url")
            .options([("search_path", schema)]);
        PgPoolOptions::new()
            .max_connections(12)
            .after_connect(move |conn, _| {
                let role = role.clone();
                Box::pin(async move {
                    if let Some(role) = role {
                        sqlx::raw_sql(AssertSqlSafe(format!(r#"SET ROLE "{role}""#)))
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .expect("connect pool")
    }

    /// A pool on this schema whose sessions carry `application_name`, to find them in
    /// `pg_stat_activity`.
    /// `via` reaches PostgreSQL through a [`Proxy`] instead.
    pub async fn named_pool(&self, application_name: &str, via: Option<&Proxy>) -> PgPool {
        let mut options = postgres_url(TEST_DATABASE)
            .parse::<PgConnectOptions>()
            .expect("postgres url");
        if let Some(proxy) = via {
            options = options.host("127.0.0.1").port(proxy.port);
        }
        let options = options
            .options([("search_path", self.schema.as_str())])
            .application_name(application_name);
        PgPoolOptions::new()
            .max_connections(12)
            .connect_with(options)
            .await
            .expect("connect pool")
    }

    pub async fn execute(&self, sql: &str) {
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .expect(sql);
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }

    pub async fn pending(&self) -> i64 {
        self.count("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            .await
    }

    /// The table the test handler writes to: deliberately without a unique key, so an event
    /// applied twice shows up as two rows.
    pub async fn create_effects(&self) {
        self.execute(
            "CREATE TABLE effects (event_id UUID NOT NULL, n BIGINT NOT NULL, \
             aggregate TEXT NOT NULL, position BIGINT NOT NULL, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
        )
        .await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        run_detached(async move {
            let mut admin = PgConnection::connect(&postgres_url(TEST_DATABASE))
                .await
                .ok()?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                r#"DROP SCHEMA IF EXISTS "{schema}" CASCADE"#
            )))
            .execute(&mut admin)
            .await
            .ok()
        });
    }
}

/// Runs cleanup to completion from `Drop`, outside the test's runtime.
pub fn run_detached<F>(cleanup: F)
where
    F: Future + Send + 'static,
{
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(cleanup);
        }
    })
    .join();
}

/// A private exchange and queue names for one test, deleted on drop.
pub struct Broker {
    pub exchange: String,
    queues: Mutex<Vec<String>>,
}

impl Broker {
    pub fn new() -> Self {
        Self {
            exchange: format!("salescompass.events.test.{}", suffix()),
            queues: Mutex::new(Vec::new()),
        }
    }

    /// A fresh queue name; the queue and its `.dlq` are deleted with the broker fixture.
    pub fn queue(&self, purpose: &str) -> String {
        let name = format!("test.{purpose}.{}", suffix());
        let mut queues = self.queues.lock().expect("queues lock");
        queues.push(name.clone());
        queues.push(format!("{name}.dlq"));
        name
    }

    pub fn relay_config(&self) -> RelayConfig {
        RelayConfig {
            exchange: self.exchange.clone(),
            poll_interval: Duration::from_millis(500),
            metrics_interval: Duration::from_millis(500),
            reconnect_backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(500)),
            connection_name: format!("test-relay-{}", self.exchange),
            ..RelayConfig::default()
        }
    }

    pub fn consumer_config(&self, queue: &str, bindings: &[&str]) -> ConsumerConfig {
        let mut config = ConsumerConfig::new(queue, bindings.iter().copied());
        config.exchange = self.exchange.clone();
        config.retry_backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
        config.reconnect_backoff =
            Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
        config.maintenance_interval = Duration::from_millis(500);
        config
    }

    /// A plain auto-ack queue on the exchange, to observe exactly what the relay published.
    pub async fn tap(&self, binding: &str) -> Tap {
        let name = self.queue("tap");
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("connect tap");
        let channel = connection.create_channel().await.expect("tap channel");
        events_exchange(&channel, &self.exchange).await;
        channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("declare tap");
        channel
            .queue_bind(
                name.as_str().into(),
                self.exchange.as_str().into(),
                binding.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind tap");
        let mut consumer = channel
            .basic_consume(
                name.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume tap");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let _ = delivery.ack(BasicAckOptions::default()).await;
                sink.lock().expect("tap lock").push(delivery);
            }
        });
        Tap {
            received,
            _connection: connection,
            task,
        }
    }
}

async fn events_exchange(channel: &lapin::Channel, exchange: &str) {
    channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Topic,
            lapin::options::ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
}

impl Drop for Broker {
    fn drop(&mut self) {
        let exchange = self.exchange.clone();
        let queues = std::mem::take(&mut *self.queues.lock().unwrap_or_else(|e| e.into_inner()));
        run_detached(async move {
            let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
                .await
                .ok()?;
            let channel = connection.create_channel().await.ok()?;
            for queue in queues {
                // A missing queue closes the channel, so each deletion gets a fresh one.
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
                let channel = connection.create_channel().await.ok()?;
                let _ = channel
                    .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
            let channel = connection.create_channel().await.ok()?;
            let _ = channel
                .exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
                .await;
            connection.close(200, "cleanup".into()).await.ok()
        });
    }
}

/// Messages received on a tap queue.
pub struct Tap {
    pub received: Arc<Mutex<Vec<Delivery>>>,
    _connection: Connection,
    task: JoinHandle<()>,
}

impl Tap {
    pub fn len(&self) -> usize {
        self.received.lock().expect("tap lock").len()
    }

    pub fn envelopes(&self) -> Vec<Envelope> {
        self.received
            .lock()
            .expect("tap lock")
            .iter()
            .map(|delivery| Envelope::decode(delivery.data.as_slice()).expect("envelope"))
            .collect()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Payload of the test events.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ItemChanged {
    #[prost(uint64, tag = "1")]
    pub n: u64,
    /// Position of the event within its aggregate, to check ordering.
    #[prost(uint64, tag = "2")]
    pub position: u64,
}

impl prost::Name for ItemChanged {
    const NAME: &'static str = "ItemChanged";
    const PACKAGE: &'static str = "salescompass.test.v1";
}

pub const ITEM_CHANGED: &str = "it.item.changed";

pub fn item_event(event_type: &str, aggregate: &str, n: u64, position: u64) -> NewEvent {
    NewEvent::new(
        event_type,
        tenant(),
        "item",
        aggregate,
        &ItemChanged { n, position },
    )
    .expect("valid event")
}

/// One tenant for all test events; which tenant does not matter here.
pub fn tenant() -> Uuid {
    Uuid::from_u128(0x0190_f0e4_0000_7000_8000_0000_0000_0001)
}

/// Commits one event in its own transaction.
pub async fn commit_event(pool: &PgPool, event: &NewEvent) {
    let mut tx = pool.begin().await.expect("begin");
    events::outbox::enqueue(&mut tx, event)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
}

/// Applies `ItemChanged` into `effects`; fails on chosen `n` until told otherwise.
#[derive(Clone, Default)]
pub struct EffectHandler {
    pub poison: Arc<Mutex<HashMap<u64, bool>>>,
    pub poison_calls: Arc<AtomicU64>,
}

impl EffectHandler {
    /// Events with this `n` fail (permanently or transiently) until [`EffectHandler::fix`].
    pub fn poison(&self, n: u64, permanent: bool) {
        self.poison
            .lock()
            .expect("poison lock")
            .insert(n, permanent);
    }

    pub fn fix(&self) {
        self.poison.lock().expect("poison lock").clear();
    }
}

#[async_trait::async_trait]
impl Handler for EffectHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        let payload: ItemChanged = event.payload().map_err(HandlerError::permanent)?;
        let poisoned = self
            .poison
            .lock()
            .expect("poison lock")
            .get(&payload.n)
            .copied();
        if let Some(permanent) = poisoned {
            self.poison_calls.fetch_add(1, Ordering::SeqCst);
            let error = format!("poison item {} refused", payload.n);
            return Err(if permanent {
                HandlerError::permanent(error)
            } else {
                HandlerError::transient(error)
            });
        }
        sqlx::query(
            "INSERT INTO effects (event_id, n, aggregate, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(event.id)
        .bind(i64::try_from(payload.n).expect("small n"))
        .bind(&event.envelope.aggregate_id)
        .bind(i64::try_from(payload.position).expect("small position"))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Polls `condition` until it holds or [`DEADLINE`] passes.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Value of a counter or gauge in the default registry with exactly these label values.
pub fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    prometheus::default_registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .filter(|metric| {
            labels.iter().all(|(key, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == *key && label.value() == *value)
            })
        })
        // The unset one of the two reads as zero.
        .map(|metric| metric.get_counter().get_value() + metric.get_gauge().get_value())
        .sum()
}

/// A TCP proxy in front of RabbitMQ whose connections can be cut, to kill a client's connection
/// the way a network failure or a broker-side close does.
pub struct Proxy {
    port: u16,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accepted: Arc<AtomicUsize>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::with_latency(upstream, Duration::ZERO).await
    }

    /// A proxy that holds every chunk from the server for `latency`, as a distant database
    /// would: each round trip then lasts at least that long.
    pub async fn with_latency(upstream: SocketAddr, latency: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (tracked, count) = (Arc::clone(&connections), Arc::clone(&accepted));
        let acceptor = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        if latency.is_zero() {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        } else {
                            relay_with_latency(inbound, outbound, latency).await;
                        }
                    }
                });
                tracked.lock().expect("proxy lock").push(task);
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self {
            port,
            connections,
            accepted,
            acceptor,
        }
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Drops every proxied connection: both peers see the socket close mid-stream.
    pub fn kill_all(&self) {
        for task in self.connections.lock().expect("proxy lock").drain(..) {
            task.abort();
        }
    }
}

/// Copies both ways, delaying what the server sends by `latency`.
async fn relay_with_latency(
    inbound: tokio::net::TcpStream,
    outbound: tokio::net::TcpStream,
    latency: Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = inbound.into_split();
    let (mut server_read, mut server_write) = outbound.into_split();
    let upstream = tokio::io::copy(&mut client_read, &mut server_write);
    let downstream = async {
        let mut buffer = vec![0_u8; 64 * 1024];
        while let Ok(read) = server_read.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            tokio::time::sleep(latency).await;
            if client_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        () = downstream => {}
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.kill_all();
    }
}

pub fn postgres_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5432))
}

pub fn broker_address() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5672))
}

/// Whether the default registry has a series of `name` with these label values (at any value).
pub fn series_exists(name: &str, labels: &[(&str, &str)]) -> bool {
    prometheus::default_registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .any(|metric| {
            labels.iter().all(|(key, value)| {
                metric
                    .get_label()
                    .iter()
                    .any(|label| label.name() == *key && label.value() == *value)
            })
        })
}
