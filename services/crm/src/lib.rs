//! The CRM service: accounts, contacts, leads, pipelines and opportunities, with record
//! visibility by ownership and management chain, AIP-160 filtering and keyset paging.
//!
//! [`Application::build`] wires store, token keys, gRPC services, the outbox relay and the
//! tenants-events consumer; [`Application::run`] serves until shutdown. The same code runs as the
//! `crm` binary and inside the `salescompass` launcher.

pub mod api;
pub mod component;
pub mod convert;
pub mod domain;
pub mod error;
pub mod events;
pub mod filter;
pub mod import_export;
#[cfg(test)]
mod layering;
pub mod listen;
pub mod listing;
pub mod notifications;
pub mod reminders;
pub mod sla;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::events::{Consumer, ConsumerConfig, Relay, RelayConfig};
use auth::Authenticator;
use auth::token::Verifier;
use proto::crm as pb;
use runtime::CancellationToken;
use runtime::config::{ServerSettings, TelemetrySettings};
use runtime::grpc::{GrpcServer, GrpcServices};
use runtime::readiness::Dependency;
use serde::Deserialize;

use crate::store::PgStore;
use auth::key_ring::{KeyRing, KeySource, RefreshKeys, TenantsKeys};

/// Built-in defaults; every key can be overridden by file or environment.
pub const DEFAULTS: &str = r#"
[server]
grpc_listen = "127.0.0.1:50052"
admin_listen = "127.0.0.1:9092"

[database]
url = "postgres://postgres@127.0.0.1:5432/salescompass"
schema = "crm"

[telemetry]

[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
queue = "crm.tenants"

[auth]
tenants_url = "http://127.0.0.1:50051"
jwks_min_refresh_secs = 5

[sla]
sweep_interval_secs = 30

[reminders]
max_idle_secs = 30
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: db::DatabaseSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub sla: sla::SlaSettings,
    #[serde(default)]
    pub reminders: reminders::ReminderSettings,
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
    /// Durable queue of the events this service consumes (tenants; commissions, for the
    /// notification feed).
    pub queue: String,
}

impl std::fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("queue", &self.queue)
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

/// The CRM service, bound and ready to serve.
pub struct Application {
    server: GrpcServer,
    services: GrpcServices,
    relay: Relay,
    consumer: Consumer,
    sweeper: sla::SlaSweeper,
    scheduler: reminders::ReminderScheduler,
    hub: notifications::hub::NotificationHub,
    pool: sqlx::PgPool,
    /// Listening since start-up (when the database was there), so nothing written right after
    /// the service starts serving goes unseen.
    reminder_listener: Option<sqlx::postgres::PgListener>,
    hub_listener: Option<sqlx::postgres::PgListener>,
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
        let mut server = GrpcServer::bind("crm", &settings.server).await?;
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

        let pg_store = Arc::new(PgStore::new(pool.clone()));
        let records = Arc::new(import_export::RecordStores::of(pg_store.clone()));
        // Every service: the token interceptor, and a key refresh when a token names a new key.
        macro_rules! guarded {
            ($server:ty, $api:expr) => {
                RefreshKeys::new(
                    <$server>::with_interceptor($api, authenticator.clone()),
                    keys.clone(),
                )
            };
        }
        let hub = notifications::hub::NotificationHub::default();
        let services = GrpcServices::new()
            .add_service(guarded!(
                pb::account_service_server::AccountServiceServer<_>,
                api::accounts::AccountApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::contact_service_server::ContactServiceServer<_>,
                api::contacts::ContactApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::lead_service_server::LeadServiceServer<_>,
                api::leads::LeadApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::pipeline_service_server::PipelineServiceServer<_>,
                api::pipelines::PipelineApi::new(pg_store.clone(), pg_store.clone())
            ))
            .add_service(guarded!(
                pb::opportunity_service_server::OpportunityServiceServer<_>,
                api::opportunities::OpportunityApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::crm_settings_service_server::CrmSettingsServiceServer<_>,
                api::settings::SettingsApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::case_service_server::CaseServiceServer<_>,
                api::cases::CaseApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::activity_service_server::ActivityServiceServer<_>,
                api::activities::ActivityApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::history_service_server::HistoryServiceServer<_>,
                api::history::HistoryApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::product_service_server::ProductServiceServer<_>,
                api::catalog::ProductApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::price_book_service_server::PriceBookServiceServer<_>,
                api::catalog::PriceBookApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::quote_service_server::QuoteServiceServer<_>,
                api::quotes::QuoteApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::board_service_server::BoardServiceServer<_>,
                api::board::BoardApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::search_service_server::SearchServiceServer<_>,
                api::search::SearchApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::custom_field_service_server::CustomFieldServiceServer<_>,
                api::custom_fields::CustomFieldApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::lead_assignment_service_server::LeadAssignmentServiceServer<_>,
                api::assignment::AssignmentApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::sharing_service_server::SharingServiceServer<_>,
                api::sharing::SharingApi::new(pg_store.clone())
            ))
            .add_service(guarded!(
                pb::duplicate_service_server::DuplicateServiceServer<_>,
                api::duplicates::DuplicateApi::new(pg_store.clone(), pg_store.clone())
            ))
            .add_service(guarded!(
                pb::import_export_service_server::ImportExportServiceServer<_>,
                api::imports::ImportExportApi::new(records.clone(), pg_store.clone())
            ))
            .add_service(guarded!(
                pb::import_job_service_server::ImportJobServiceServer<_>,
                api::import_jobs::ImportJobApi::new(records, pg_store.clone())
            ))
            .add_service(guarded!(
                pb::notification_service_server::NotificationServiceServer<_>,
                api::notifications::NotificationApi::new(pg_store.clone(), hub.clone())
            ));
        let scheduler =
            reminders::ReminderScheduler::new(pg_store.clone(), pool.clone(), &settings.reminders);
        let sweeper = sla::SlaSweeper::new(pg_store, &settings.sla);
        let reminder_listener = listen::listen_at_start(&pool, reminders::CHANNEL).await;
        let hub_listener = listen::listen_at_start(&pool, notifications::hub::CHANNEL).await;

        let relay = Relay::new(pool.clone(), &settings.amqp.url, RelayConfig::default());
        let consumer = Consumer::new(
            pool.clone(),
            &settings.amqp.url,
            ConsumerConfig::new(&settings.amqp.queue, events::inbound::bindings()),
            events::InboundHandler,
        );
        Ok(Self {
            server,
            services,
            relay,
            consumer,
            sweeper,
            scheduler,
            hub,
            pool,
            reminder_listener,
            hub_listener,
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

    /// Serves, relays the outbox and consumes tenants events until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let background = shutdown.child_token();
        // Each starts once the database is there (the process may start during an outage).
        let ready = self.server.readiness();
        let relay = self.relay.run(background.clone());
        let relay = tokio::spawn(ready.after_up("database", &background, relay));
        let consumer = self.consumer.run(background.clone());
        let consumer = tokio::spawn(ready.after_up("database", &background, consumer));
        let sweeper = self.sweeper.run(background.clone());
        let sweeper = tokio::spawn(ready.after_up("database", &background, sweeper));
        let scheduler = self
            .scheduler
            .run(self.reminder_listener, background.clone());
        let scheduler = tokio::spawn(ready.after_up("database", &background, scheduler));
        let hub = self
            .hub
            .run(self.pool, self.hub_listener, background.clone());
        let hub = tokio::spawn(ready.after_up("database", &background, hub));
        let served = self.server.serve(self.services, shutdown).await;
        background.cancel();
        for (name, task) in [
            ("sla sweeper", sweeper),
            ("reminder scheduler", scheduler),
            ("notification hub", hub),
        ] {
            if let Err(error) = task.await {
                tracing::error!(%error, task = name, "background task panicked");
            }
        }
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
