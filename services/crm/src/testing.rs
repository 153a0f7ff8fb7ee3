//! Spawns a real CRM service for tests (this crate's and other crates'): its own schema in the
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

/// A running CRM service; stops, deletes its queues and drops its schema when dropped.
pub struct TestCrm {
    pub grpc_addr: SocketAddr,
    pub settings: Settings,
    pub signer: Signer,
    /// The service's routes for an in-process caller (the launcher's gateway path).
    pub local: runtime::grpc::LocalService,
    shutdown: CancellationToken,
    // Declared last: dropped after the service was told to stop.
    pub schema: SchemaGuard,
}

impl TestCrm {
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid uri")
            .connect()
            .await
            .expect("crm service reachable")
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

    /// One SLA sweep as of `at`, exactly as the service's sweeper runs it (same store, same
    /// role), so a test decides when a case is late instead of waiting for the clock. Returns
    /// how many cases were marked breached.
    pub async fn sweep_sla(&self, at: chrono::DateTime<chrono::Utc>) -> u64 {
        use crate::store::cases::CaseStore as _;
        let pool = db::connect(&self.settings.database)
            .await
            .expect("crm database reachable");
        let marked = crate::store::PgStore::new(pool.clone())
            .sweep_sla(at)
            .await
            .expect("sla sweep");
        pool.close().await;
        marked
    }
}

impl TestCrm {
    /// Fires the reminders due at `at` exactly as the service's scheduler does (same store, same
    /// role), e.g. from several tasks at once as replicas would. Returns how many this call fired.
    pub async fn fire_reminders(&self, at: chrono::DateTime<chrono::Utc>) -> u64 {
        use crate::store::reminders::ReminderStore as _;
        let pool = db::connect(&self.settings.database)
            .await
            .expect("crm database reachable");
        let fired = crate::store::PgStore::new(pool.clone())
            .fire_due_reminders(at)
            .await
            .expect("reminders fired");
        pool.close().await;
        fired
    }
}

impl Drop for TestCrm {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let url = self.settings.amqp.url.clone();
        let queue = self.settings.amqp.queue.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: use a fresh one.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(delete_queues(&url, &queue))
        })
        .join();
        if !matches!(deleted, Ok(Some(()))) {
            eprintln!(
                "crm testing: could not delete queue {}",
                self.settings.amqp.queue
            );
        }
    }
}

async fn delete_queues(url: &str, queue: &str) -> Option<()> {
    use lapin::options::QueueDeleteOptions;
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
    connection.close(200, "done".into()).await.ok()
}

/// Settings for a test instance: fresh schema and queue, shared test app role, free ports.
pub fn test_settings() -> (Settings, SchemaGuard) {
    testkit::init_tracing();
    let schema = SchemaGuard::new(testkit::unique_schema("crm"));
    let mut settings: Settings = runtime::config::load_from(crate::DEFAULTS, std::iter::empty())
        .expect("built-in defaults are valid");
    settings.server.grpc_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.shutdown_grace_secs = 1;
    settings.database.url = testkit::database_url();
    settings.database.schema = schema.name.clone();
    settings.database.app_role = Some("crm_test_app".to_owned());
    settings.database.max_connections = 8;
    if let Ok(url) = std::env::var("TEST_AMQP_URL") {
        settings.amqp.url = url;
    }
    settings.amqp.queue = format!("crm.tenants.test.{}", testkit::unique_suffix());
    settings.auth.jwks_min_refresh_secs = 0;
    (settings, schema)
}

/// Starts the service with [`test_settings`], trusting a freshly generated signing key.
pub async fn spawn() -> TestCrm {
    let (settings, schema) = test_settings();
    spawn_with(settings, schema).await
}

pub async fn spawn_with(settings: Settings, schema: SchemaGuard) -> TestCrm {
    let signer = Signer::from_pem(&Signer::generate_pem().expect("key generation")).expect("key");
    let keys = Arc::new(StaticKeys(vec![signer.jwk().clone()]));
    let app = Application::build_with_keys(settings.clone(), keys)
        .await
        .expect("crm service starts");
    start(app, settings, schema, signer)
}

/// Starts the service trusting the keys of the tenants service at `tenants_url`, fetched the way
/// production does (at start, and again for unknown key ids). [`TestCrm::token`] does not work
/// with such an instance; log in at the tenants service instead.
pub async fn spawn_with_tenants(tenants_url: &str) -> TestCrm {
    let (mut settings, schema) = test_settings();
    settings.auth.tenants_url = tenants_url.to_owned();
    let app = Application::build(settings.clone())
        .await
        .expect("crm service starts");
    let unused = Signer::from_pem(&Signer::generate_pem().expect("key generation")).expect("key");
    start(app, settings, schema, unused)
}

fn start(app: Application, settings: Settings, schema: SchemaGuard, signer: Signer) -> TestCrm {
    let grpc_addr = app.grpc_addr().expect("grpc addr");
    let local = app.local_service();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestCrm {
        grpc_addr,
        settings,
        signer,
        local,
        shutdown,
        schema,
    }
}
