//! Spawns a real tenants service for tests (this crate's and other crates'): its own schema in
//! the test database, free ports, a fresh signing key and operator token.

use std::net::SocketAddr;

use runtime::CancellationToken;
use testkit::SchemaGuard;
use tonic::transport::Channel;

use crate::{Application, Settings};

/// A running tenants service; stops and drops its schema when dropped.
pub struct TestTenants {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub operator_token: String,
    pub settings: Settings,
    /// The service's routes for an in-process caller (a gateway in the same test).
    pub local: runtime::grpc::LocalService,
    shutdown: CancellationToken,
    // Declared last: dropped after the service was told to stop.
    pub schema: SchemaGuard,
}

impl TestTenants {
    pub fn url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid uri")
            .connect()
            .await
            .expect("tenants service reachable")
    }
}

impl Drop for TestTenants {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Settings for a test instance: fresh schema, shared test app role, free ports.
pub fn test_settings() -> (Settings, SchemaGuard) {
    testkit::init_tracing();
    let schema = SchemaGuard::new(testkit::unique_schema("tenants"));
    let mut settings: Settings = runtime::config::load_from(crate::DEFAULTS, std::iter::empty())
        .expect("built-in defaults are valid");
    settings.server.grpc_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.admin_listen = "127.0.0.1:0".parse().expect("addr");
    settings.server.shutdown_grace_secs = 1;
    settings.database.url = testkit::database_url();
    settings.database.schema = schema.name.clone();
    settings.database.app_role = Some("tenants_test_app".to_owned());
    settings.database.max_connections = 8;
    settings.operator.token = format!("op-{}", testkit::unique_suffix());
    settings.auth.signing_key_pem = auth::token::Signer::generate_pem().expect("key generation");
    (settings, schema)
}

/// Starts the service with [`test_settings`].
pub async fn spawn() -> TestTenants {
    let (settings, schema) = test_settings();
    spawn_with(settings, schema).await
}

pub async fn spawn_with(settings: Settings, schema: SchemaGuard) -> TestTenants {
    let app = Application::build(settings.clone())
        .await
        .expect("tenants service starts");
    let grpc_addr = app.grpc_addr().expect("grpc addr");
    let admin_addr = app.admin_addr().expect("admin addr");
    let local = app.local_service();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestTenants {
        grpc_addr,
        admin_addr,
        operator_token: settings.operator.token.clone(),
        settings,
        local,
        shutdown,
        schema,
    }
}
