//! Spawns a real engagement service for tests (this crate's and other crates'): its own schema in the
//! test database, its own consumer queue, free ports, and a signing key whose public half the
//! service trusts, so tests mint access tokens for any tenant, user and role.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use auth::BuiltinRole;
use auth::token::{AUDIENCE, Claims, ISSUER, Jwk, Signer};
use runtime::CancellationToken;
use testkit::SchemaGuard;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::{Application, Settings};
use auth::key_ring::KeySource;

/// A fixed key set, standing in for the tenants service's GetJwks.
pub struct StaticKeys(pub Vec<Jwk>);

#[async_trait]
impl KeySource for StaticKeys {
    async fn fetch(&self) -> Result<Vec<Jwk>, String> {
        Ok(self.0.clone())
    }
}

/// A running engagement service; stops, deletes its queues and drops its schema when dropped.
pub struct TestEngagement {
    pub grpc_addr: SocketAddr,
    pub settings: Settings,
    pub signer: Signer,
    shutdown: CancellationToken,
    // Declared last: dropped after the service was told to stop.
    pub schema: SchemaGuard,
}

impl TestEngagement {
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid uri")
            .connect()
            .await
            .expect("engagement service reachable")
    }

    /// The event types `tenant_id`'s changes wrote to this instance's outbox, in order (read as
    /// the schema's owner, past row-level security), so journeys see what other services will
    /// be told.
    pub async fn outbox_event_types(&self, tenant_id: Uuid) -> Vec<String> {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let options: PgConnectOptions = testkit::database_url().parse().expect("database url");
        let options = options.options([("search_path", self.schema.name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("connect to the test schema");
        let types =
            sqlx::query_scalar("SELECT event_type FROM outbox WHERE tenant_id = $1 ORDER BY seq")
                .bind(tenant_id)
                .fetch_all(&pool)
                .await
                .expect("outbox readable");
        pool.close().await;
        types
    }

    /// An access token for `user_id` of `tenant_id` with `role`, valid for ten minutes.
    pub fn token(&self, tenant_id: Uuid, user_id: Uuid, role: BuiltinRole) -> String {
        let now = chrono::Utc::now().timestamp();
        self.signer
            .sign(&Claims {
                iss: ISSUER.to_owned(),
                aud: AUDIENCE.to_owned(),
                sub: user_id,
                tid: tenant_id,
                role: role.as_str().to_owned(),
                perms: vec![],
                iat: now,
                exp: now + 600,
                jti: Uuid::now_v7(),
            })
            .expect("token signs")
    }
}

impl Drop for TestEngagement {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let url = self.settings.amqp.url.clone();
        let queue = self.settings.amqp.queue.clone();
        let exchange = self.settings.amqp.exchange.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: use a fresh one.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(delete_queues(&url, &queue, &exchange))
        })
        .join();
        if !matches!(deleted, Ok(Some(()))) {
            eprintln!(
                "engagement testing: could not delete queue {}",
                self.settings.amqp.queue
            );
        }
    }
}

/// The instance's queues and its own exchange (never the shared one).
async fn delete_queues(url: &str, queue: &str, exchange: &str) -> Option<()> {
    use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
    let connection = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .ok()?;
    let channel = connection.create_channel().await.ok()?;
    for name in [queue.to_owned(), format!("{queue}.dlq")] {
        channel
            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
            .await
            .ok()?;
    }
    if exchange != ::events::EXCHANGE {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await
            .ok()?;
    }
    connection.close(200, "done".into()).await.ok()
}

/// Settings for a test instance: fresh schema and queue, shared test app role, free ports.
pub fn test_settings() -> (Settings, SchemaGuard) {
    testkit::init_tracing();
    let schema = SchemaGuard::new(testkit::unique_schema("engagement"));
    let mut settings: Settings = runtime::config::load_from(crate::DEFAULTS, std::iter::empty())
        .expect("built-in defaults are valid");
    settings.server.grpc_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.shutdown_grace_secs = 1;
    settings.database.url = testkit::database_url();
    settings.database.schema = schema.name.clone();
    settings.database.app_role = Some("engagement_test_app".to_owned());
    settings.database.max_connections = 8;
    if let Ok(url) = std::env::var("TEST_AMQP_URL") {
        settings.amqp.url = url;
    }
    let suffix = testkit::unique_suffix();
    settings.amqp.queue = format!("engagement.events.test.{suffix}");
    // An exchange of its own: parallel tests never consume each other's deal events.
    settings.amqp.exchange = format!("salescompass.events.test.{suffix}");
    settings.auth.jwks_min_refresh_secs = 0;
    (settings, schema)
}

/// Starts the service with [`test_settings`], trusting a freshly generated signing key.
pub async fn spawn() -> TestEngagement {
    let (settings, schema) = test_settings();
    spawn_with(settings, schema).await
}

pub async fn spawn_with(settings: Settings, schema: SchemaGuard) -> TestEngagement {
    let signer = Signer::from_pem(&Signer::generate_pem().expect("key generation")).expect("key");
    let keys = Arc::new(StaticKeys(vec![signer.jwk().clone()]));
    let app = Application::build_with_keys(settings.clone(), keys)
        .await
        .expect("engagement service starts");
    start(app, settings, schema, signer)
}

/// Starts the service trusting the keys of the tenants service at `tenants_url`, fetched the way
/// production does (at start, and again for unknown key ids). [`TestEngagement::token`] does not work
/// with such an instance; log in at the tenants service instead.
pub async fn spawn_with_tenants(tenants_url: &str) -> TestEngagement {
    let (mut settings, schema) = test_settings();
    settings.auth.tenants_url = tenants_url.to_owned();
    spawn_trusting_tenants(settings, schema).await
}

/// Starts the service as one part of a whole platform: keys from the tenants service at
/// `tenants_url`, events from the shared exchange the real CRM and tenants service publish to.
/// Its queue exists when this returns, so no later event is missed; the queue also receives
/// other tests' events, which land under their own tenants in this instance's schema.
pub async fn spawn_on_platform(tenants_url: &str) -> TestEngagement {
    let (mut settings, schema) = test_settings();
    settings.auth.tenants_url = tenants_url.to_owned();
    ::events::EXCHANGE.clone_into(&mut settings.amqp.exchange);
    spawn_trusting_tenants(settings, schema).await
}

async fn spawn_trusting_tenants(settings: Settings, schema: SchemaGuard) -> TestEngagement {
    let app = Application::build(settings.clone())
        .await
        .expect("engagement service starts");
    app.declare_queues().await.expect("queues declared");
    let unused = Signer::from_pem(&Signer::generate_pem().expect("key generation")).expect("key");
    start(app, settings, schema, unused)
}

fn start(
    app: Application,
    settings: Settings,
    schema: SchemaGuard,
    signer: Signer,
) -> TestEngagement {
    let grpc_addr = app.grpc_addr().expect("grpc addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestEngagement {
        grpc_addr,
        settings,
        signer,
        shutdown,
        schema,
    }
}
