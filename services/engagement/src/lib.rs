//! The engagement service: every touch on a lead, contact or account in one place (from the
//! platform's events and from the frontend's batches), scores that decay with a half-life
//! (stored with the time they are valid at, decayed on read), states with hysteresis, and
//! heatmaps in the tenant's time zone.
//!
//! [`Application::build`] wires store, token keys, the gRPC service, the outbox relay and the
//! events consumer; [`Application::run`] serves until shutdown. The same code runs as the
//! `engagement` binary and inside the `salescompass` launcher.

pub mod api;
pub mod component;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
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
use auth::key_ring::{KeyRing, KeySource, RefreshKeys, TenantsKeys};
use auth::token::Verifier;
use proto::engagement::engagement_service_server::EngagementServiceServer;
use runtime::CancellationToken;
use runtime::config::{ServerSettings, TelemetrySettings};
use runtime::grpc::{GrpcServer, GrpcServices};
use runtime::readiness::Dependency;
use serde::Deserialize;

use crate::store::PgStore;

/// Built-in defaults; every key can be overridden by file or environment.
pub const DEFAULTS: &str = r#"
[server]
grpc_listen = "127.0.0.1:50054"
admin_listen = "127.0.0.1:9094"

[database]
url = "postgres://postgres@127.0.0.1:5432/salescompass"
schema = "engagement"

[telemetry]

[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
queue = "engagement.events"
exchange = "salescompass.events"

[auth]
tenants_url = "http://127.0.0.1:50051"
jwks_min_refresh_secs = 5

[engagement]
sweep_interval_secs = 300
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: db::DatabaseSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    pub engagement: EngagementSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EngagementSettings {
    /// Seconds between two state sweeps (leads and accounts whose decayed score fell into the
    /// disengaged state are announced then).
    pub sweep_interval_secs: u64,
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

/// The engagement service, bound and ready to serve.
pub struct Application {
    server: GrpcServer,
    services: GrpcServices,
    relay: Relay,
    consumer: Consumer,
    sweeper: Sweeper,
}

/// Re-decides the states of leads and accounts as their scores decay ([`store::sweep`]).
struct Sweeper {
    pool: sqlx::PgPool,
    interval: Duration,
}

impl Sweeper {
    async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match store::sweep::sweep(&self.pool, store::now()).await {
                Ok(0) => {}
                Ok(changed) => tracing::info!(changed, "engagement states swept"),
                Err(error) => tracing::warn!(%error, "engagement state sweep failed"),
            }
        }
    }
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
        let mut server = GrpcServer::bind("engagement", &settings.server).await?;
        if settings.database.migrate_on_start {
            let unavailable =
                |e: &StartError| matches!(e, StartError::Database(e) if e.is_unavailable());
            runtime::retry::until_ok("database migrations", unavailable, || migrate(&settings))
                .await?;
        }
        let pool = db::connect(&settings.database).await?;
        // Every RPC reads or writes the database; the broker is not required to serve.
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

        let store = Arc::new(PgStore::new(pool.clone()));
        let services = GrpcServices::new().add_service(RefreshKeys::new(
            EngagementServiceServer::with_interceptor(
                api::EngagementApi::new(store),
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
        let mut consumer_config = ConsumerConfig::new(&settings.amqp.queue, events::bindings());
        consumer_config.exchange = settings.amqp.exchange.clone();
        let consumer = Consumer::new(
            pool.clone(),
            &settings.amqp.url,
            consumer_config,
            events::EngagementHandler,
        );
        if settings.engagement.sweep_interval_secs == 0 {
            return Err(StartError::Config(
                "engagement.sweep_interval_secs must be at least 1".to_owned(),
            ));
        }
        let sweeper = Sweeper {
            pool,
            interval: Duration::from_secs(settings.engagement.sweep_interval_secs),
        };
        Ok(Self {
            server,
            services,
            relay,
            consumer,
            sweeper,
        })
    }

    /// The gRPC routes for a caller in the same process (the single-binary launcher's gateway).
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
        let ready = self.server.readiness();
        let relay = self.relay.run(background.clone());
        let relay = tokio::spawn(ready.after_up("database", &background, relay));
        let consumer = self.consumer.run(background.clone());
        let consumer = tokio::spawn(ready.after_up("database", &background, consumer));
        let sweeper = self.sweeper.run(background.clone());
        let sweeper = tokio::spawn(ready.after_up("database", &background, sweeper));
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
        if let Err(error) = sweeper.await {
            tracing::error!(%error, task = "sweeper", "background task panicked");
        }
        Ok(served?)
    }
}
