//! The commissions service: plans with immutable versions, quotas, and commission lines
//! computed exactly once from the CRM's deal events (wins credit split owners, reopenings claw
//! back), with explanations, recalculation and statements.
//!
//! [`Application::build`] wires store, token keys, gRPC services, the outbox relay and the
//! events consumer; [`Application::run`] serves until shutdown. The same code runs as the
//! `commissions` binary and inside the `salescompass` launcher.

pub mod api;
pub mod component;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod export;
#[cfg(test)]
mod layering;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::events::{Consumer, ConsumerConfig, Relay, RelayConfig};
use auth::Authenticator;
use auth::token::Verifier;
use proto::commissions::{
    adjustment_service_server::AdjustmentServiceServer,
    commission_service_server::CommissionServiceServer, plan_service_server::PlanServiceServer,
};
use runtime::CancellationToken;
use runtime::config::{ServerSettings, TelemetrySettings};
use runtime::grpc::{GrpcServer, GrpcServices};
use runtime::readiness::Dependency;
use serde::Deserialize;

use crate::api::Shared;
use crate::store::PgStore;
use auth::key_ring::{KeyRing, KeySource, RefreshKeys, TenantsKeys};

/// Built-in defaults; every key can be overridden by file or environment.
pub const DEFAULTS: &str = r#"
[server]
grpc_listen = "127.0.0.1:50053"
admin_listen = "127.0.0.1:9093"

[database]
url = "postgres://postgres@127.0.0.1:5432/salescompass"
schema = "commissions"

[telemetry]

[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
queue = "commissions.events"
exchange = "salescompass.events"

[commissions]
approval_threshold_minor = 100000

[auth]
tenants_url = "http://127.0.0.1:50051"
jwks_min_refresh_secs = 5
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: db::DatabaseSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    pub commissions: CommissionSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CommissionSettings {
    /// Manual adjustments above this amount (absolute, minor units) need a second admin.
    pub approval_threshold_minor: i64,
}

impl Settings {
    pub fn load() -> Result<Self, runtime::Error> {
        Ok(runtime::config::load(DEFAULTS)?)
    }
}

#[derive(Clone, Deserialize)]
pub struct AmqpSettings {
    /// Broker URL (`AMQP_URL`); carries credentials, so it is never logged.
    pub url: String,
    /// Durable queue of the CRM and tenants events this service consumes.
    pub queue: String,
    /// Topic exchange the events travel on, consumed and published alike.
    pub exchange: String,
}

impl std::fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("queue", &self.queue)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// gRPC URL of the tenants service, whose GetJwks publishes the token verification keys.
    pub tenants_url: String,
    /// Fewest seconds between two key fetches triggered by unknown key ids.
    pub jwks_min_refresh_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(transparent)]
    Database(#[from] db::Error),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Events(#[from] ::events::Error),
}

/// Creates the schema if missing and applies the service's and the outbox's migrations.
pub async fn migrate(settings: &Settings) -> Result<(), StartError> {
    let mut own = sqlx::migrate!("./migrations");
    own.set_ignore_missing(true);
    db::migrate(&settings.database, vec![own, ::events::migrator()]).await?;
    Ok(())
}

/// The commissions service, bound and ready to serve.
pub struct Application {
    server: GrpcServer,
    services: GrpcServices,
    relay: Relay,
    consumer: Consumer,
}

impl Application {
    /// Builds with token keys from the tenants service (`auth.tenants_url`).
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let source = TenantsKeys::new(&settings.auth.tenants_url).map_err(StartError::Config)?;
        Self::build_with_keys(settings, Arc::new(source)).await
    }

    /// Builds with token keys from `source`.
    pub async fn build_with_keys(
        settings: Settings,
        source: Arc<dyn KeySource>,
    ) -> Result<Self, StartError> {
        // Bound first: the admin port answers (alive, not ready) while start-up waits for the
        // database.
        let mut server = GrpcServer::bind("commissions", &settings.server).await?;
        if settings.database.migrate_on_start {
            let unavailable =
                |e: &StartError| matches!(e, StartError::Database(e) if e.is_unavailable());
            runtime::retry::until_ok("database migrations", unavailable, || migrate(&settings))
                .await?;
        }
        let pool = db::connect(&settings.database).await?;
        // Every RPC reads or writes the database; the broker is not required to serve (writes
        // go to the outbox, published once the broker is back), so readiness ignores it.
        server.require(Dependency::new("database", db::pinger(&pool)));

        let no_keys = Verifier::from_jwks(&[]).map_err(|e| StartError::Config(e.to_string()))?;
        let authenticator = Authenticator::new(no_keys, None);
        let keys = Arc::new(KeyRing::new(
            authenticator.clone(),
            source,
            Duration::from_secs(settings.auth.jwks_min_refresh_secs),
        ));
        // The tenants service may start later; the first token with an unknown key fetches again.
        if let Err(error) = keys.refresh().await {
            tracing::warn!(%error, "token keys unavailable at start, will fetch on first use");
        }

        let shared = Arc::new(Shared {
            store: Arc::new(PgStore::new(pool.clone())),
            approval_threshold: settings.commissions.approval_threshold_minor,
        });
        let services = GrpcServices::new()
            .add_service(RefreshKeys::new(
                PlanServiceServer::with_interceptor(
                    api::plans::PlanApi::new(shared.clone()),
                    authenticator.clone(),
                ),
                keys.clone(),
            ))
            .add_service(RefreshKeys::new(
                CommissionServiceServer::with_interceptor(
                    api::commissions::CommissionApi::new(shared.clone()),
                    authenticator.clone(),
                ),
                keys.clone(),
            ))
            .add_service(RefreshKeys::new(
                AdjustmentServiceServer::with_interceptor(
                    api::adjustments::AdjustmentApi::new(shared),
                    authenticator,
                ),
                keys,
            ));

        let relay = Relay::new(
            pool.clone(),
            &settings.amqp.url,
            RelayConfig {
                exchange: settings.amqp.exchange.clone(),
                ..RelayConfig::default()
            },
        );
        let mut consumer_config =
            ConsumerConfig::new(&settings.amqp.queue, events::BINDINGS.iter().copied());
        consumer_config.exchange = settings.amqp.exchange.clone();
        let consumer = Consumer::new(
            pool,
            &settings.amqp.url,
            consumer_config,
            events::CommissionsHandler,
        );
        Ok(Self {
            server,
            services,
            relay,
            consumer,
        })
    }

    /// The gRPC routes for a caller in the same process (the single-binary launcher's gateway),
    /// with the server's tracing and metrics layers; they keep working while the server runs.
    pub fn local_service(&self) -> runtime::grpc::LocalService {
        self.services.local_service()
    }

    pub fn grpc_addr(&self) -> Result<SocketAddr, StartError> {
        Ok(self.server.grpc_addr()?)
    }

    pub fn admin_addr(&self) -> Result<SocketAddr, StartError> {
        Ok(self.server.admin_addr()?)
    }

    /// Declares the consumer's queue and bindings now ([`Application::run`] does it too, in the
    /// background): events published after this returns reach the queue.
    pub async fn declare_queues(&self) -> Result<(), StartError> {
        Ok(self.consumer.declare().await?)
    }

    /// Serves, relays the outbox and consumes CRM and tenants events until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let background = shutdown.child_token();
        // Each starts once the database is there (the process may start during an outage).
        let ready = self.server.readiness();
        let relay = self.relay.run(background.clone());
        let relay = tokio::spawn(ready.after_up("database", &background, relay));
        let consumer = self.consumer.run(background.clone());
        let consumer = tokio::spawn(ready.after_up("database", &background, consumer));
        let served = self.server.serve(self.services, shutdown).await;
        background.cancel();
        for (name, task) in [("relay", relay), ("consumer", consumer)] {
            match task.await {
                Ok(None | Some(Ok(()))) => {}
                Ok(Some(Err(error))) => {
                    tracing::error!(%error, task = name, "background task failed");
                }
                Err(error) => tracing::error!(%error, task = name, "background task panicked"),
            }
        }
        Ok(served?)
    }
}
