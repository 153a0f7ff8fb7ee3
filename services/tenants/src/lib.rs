//! The tenants service: tenants, users, roles and authentication.
//!
//! [`Application::build`] wires store, key material and gRPC services; [`Application::run`]
//! serves until shutdown. The same code runs as the `tenants` binary and inside the
//! `salescompass` launcher.

pub mod api;
pub mod audit;
pub mod component;
pub mod domain;
pub mod error;
pub mod events;
pub mod hashing;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use auth::token::{Jwk, Signer, Verifier, jwk_from_private_pem};
use proto::tenants as pb;
use runtime::CancellationToken;
use runtime::config::{ServerSettings, TelemetrySettings};
use runtime::grpc::{GrpcServer, GrpcServices};
use runtime::readiness::Dependency;
use serde::Deserialize;

use crate::api::{Shared, TokenLifetimes};
use crate::domain::password::{HashParams, PasswordHasher};
use crate::domain::service_account::{ServiceAccountError, ServiceAccountSpec, ServiceAccounts};
use crate::store::PgStore;

/// Built-in defaults; every key can be overridden by file or environment.
pub const DEFAULTS: &str = r#"
[server]
grpc_listen = "127.0.0.1:50051"
admin_listen = "127.0.0.1:9091"

[database]
url = "postgres://postgres@127.0.0.1:5432/salescompass"
schema = "tenants"

[telemetry]

[amqp]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"

[events]
relay_enabled = true

[operator]
token = ""

[auth]
signing_key_pem = ""
verification_keys_pem = []
access_token_ttl_secs = 900
refresh_token_ttl_secs = 2592000
service_token_ttl_secs = 300

[password_hashing]
memory_kib = 19456
iterations = 2
parallelism = 1
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: db::DatabaseSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub operator: OperatorSettings,
    pub auth: AuthSettings,
    pub password_hashing: HashParams,
    pub amqp: AmqpSettings,
    pub events: EventSettings,
    /// Services that may ask for service tokens, by name:
    /// `SALESCOMPASS__SERVICE_ACCOUNTS__<NAME>__SECRET` and `…__PERMISSIONS` (comma-separated).
    #[serde(default)]
    pub service_accounts: HashMap<String, ServiceAccountSettings>,
}

/// One service account (`service_accounts.<name>`).
#[derive(Clone, Deserialize)]
pub struct ServiceAccountSettings {
    /// The service's own secret (at least 32 characters).
    pub secret: String,
    /// The permissions its tokens carry: a list, or one comma-separated string (environment).
    #[serde(default)]
    pub permissions: PermissionList,
}

impl std::fmt::Debug for ServiceAccountSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountSettings")
            .field("secret", &"***")
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// Permission names as a TOML list or a comma-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PermissionList {
    List(Vec<String>),
    Text(String),
}

impl Default for PermissionList {
    fn default() -> Self {
        PermissionList::List(Vec::new())
    }
}

impl PermissionList {
    pub fn names(&self) -> Vec<String> {
        match self {
            PermissionList::List(names) => names.clone(),
            PermissionList::Text(text) => text.split(',').map(str::to_owned).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// RabbitMQ (`AMQP_URL`).
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSettings {
    /// Run the outbox relay in this process (one or more replicas may run it).
    pub relay_enabled: bool,
}

impl Settings {
    pub fn load() -> Result<Self, runtime::Error> {
        Ok(runtime::config::load(DEFAULTS)?)
    }
}

#[derive(Clone, Deserialize)]
pub struct OperatorSettings {
    /// Bearer token of the platform operator; empty disables operator calls.
    pub token: String,
}

impl std::fmt::Debug for OperatorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorSettings")
            .field("token", &"***")
            .finish()
    }
}

#[derive(Clone, Deserialize)]
pub struct AuthSettings {
    /// Ed25519 PKCS#8 PEM private key that signs access tokens.
    pub signing_key_pem: String,
    /// Previous signing keys (PEM) whose tokens must still verify during a key rotation.
    #[serde(default)]
    pub verification_keys_pem: Vec<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Lifetime of service tokens; services mint a new one before it runs out.
    #[serde(default = "default_service_token_ttl_secs")]
    pub service_token_ttl_secs: u64,
}

fn default_service_token_ttl_secs() -> u64 {
    300
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(transparent)]
    Database(#[from] db::Error),
    #[error("auth.signing_key_pem: {0}")]
    SigningKey(String),
    #[error("password_hashing: {0}")]
    Hashing(String),
    #[error(transparent)]
    ServiceAccounts(#[from] ServiceAccountError),
}

/// Creates the schema if missing and applies the embedded migrations.
pub async fn migrate(settings: &Settings) -> Result<(), StartError> {
    db::migrate(
        &settings.database,
        vec![sqlx::migrate!("./migrations"), ::events::migrator()],
    )
    .await?;
    Ok(())
}

/// The tenants service, bound and ready to serve.
pub struct Application {
    server: GrpcServer,
    services: GrpcServices,
    relay: Option<::events::Relay>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // Bound first: the admin port answers (alive, not ready) while start-up waits for the
        // database.
        let mut server = GrpcServer::bind("tenants", &settings.server).await?;
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
        let relay = settings.events.relay_enabled.then(|| {
            ::events::Relay::new(
                pool.clone(),
                settings.amqp.url.clone(),
                ::events::RelayConfig {
                    connection_name: "tenants-relay".to_owned(),
                    ..Default::default()
                },
            )
        });
        let (signer, jwks) = key_material(&settings.auth)?;
        let service_accounts = service_accounts(&settings.service_accounts)?;
        let verifier =
            Verifier::from_jwks(&jwks).map_err(|e| StartError::SigningKey(e.to_string()))?;
        if settings.operator.token.is_empty() {
            tracing::warn!("operator.token is empty: tenants cannot be provisioned");
        }
        let authenticator =
            auth::Authenticator::new(verifier, Some(settings.operator.token.clone()));
        let hasher = PasswordHasher::new(settings.password_hashing)
            .map_err(|e| StartError::Hashing(e.to_string()))?;
        let hasher = hashing::HashingPool::start_per_core(hasher)
            .map_err(|e| StartError::Hashing(e.to_string()))?;
        let shared = Arc::new(Shared {
            store: Arc::new(PgStore::new(pool)),
            hasher,
            signer,
            jwks,
            lifetimes: TokenLifetimes {
                access: Duration::from_secs(settings.auth.access_token_ttl_secs),
                refresh: Duration::from_secs(settings.auth.refresh_token_ttl_secs),
                service: Duration::from_secs(settings.auth.service_token_ttl_secs),
            },
            service_accounts,
        });
        let services = GrpcServices::new()
            .add_service(
                pb::tenant_service_server::TenantServiceServer::with_interceptor(
                    api::tenant_service::TenantApi::new(shared.clone()),
                    authenticator.clone(),
                ),
            )
            .add_service(
                pb::auth_service_server::AuthServiceServer::with_interceptor(
                    api::auth_service::AuthApi::new(shared.clone()),
                    authenticator.clone(),
                ),
            )
            .add_service(
                pb::user_service_server::UserServiceServer::with_interceptor(
                    api::user_service::UserApi::new(shared.clone()),
                    authenticator.clone(),
                ),
            )
            .add_service(
                pb::role_service_server::RoleServiceServer::with_interceptor(
                    api::role_service::RoleApi::new(shared.clone()),
                    authenticator.clone(),
                ),
            )
            .add_service(
                pb::exchange_rate_service_server::ExchangeRateServiceServer::with_interceptor(
                    api::exchange_rate_service::ExchangeRateApi::new(shared),
                    authenticator,
                ),
            );
        Ok(Self {
            server,
            services,
            relay,
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

    /// Serves until `shutdown` is cancelled, then drains.
    /// The relay runs (and reconnects) independently of the gRPC server; both stop on
    /// `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let relay_stop = shutdown.child_token();
        let readiness = self.server.readiness();
        let relay = self.relay.map(|relay| {
            let token = relay_stop.clone();
            let relay = readiness.after_up("database", &token, relay.run(token.clone()));
            tokio::spawn(async move {
                if let Some(Err(error)) = relay.await {
                    tracing::error!(%error, "outbox relay stopped");
                }
            })
        });
        let served = self.server.serve(self.services, shutdown).await;
        relay_stop.cancel();
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        served?;
        Ok(())
    }
}

fn service_accounts(
    settings: &HashMap<String, ServiceAccountSettings>,
) -> Result<ServiceAccounts, StartError> {
    let specs: HashMap<String, ServiceAccountSpec> = settings
        .iter()
        .map(|(name, account)| {
            let spec = ServiceAccountSpec {
                secret: account.secret.clone(),
                permissions: account.permissions.names(),
            };
            (name.clone(), spec)
        })
        .collect();
    let accounts = ServiceAccounts::parse(&specs)?;
    tracing::info!(
        service_accounts = specs.len(),
        "service accounts configured"
    );
    Ok(accounts)
}

fn key_material(settings: &AuthSettings) -> Result<(Signer, Vec<Jwk>), StartError> {
    if settings.signing_key_pem.trim().is_empty() {
        return Err(StartError::SigningKey(
            "is required (set SALESCOMPASS__AUTH__SIGNING_KEY_PEM to an Ed25519 PKCS#8 PEM key)"
                .to_owned(),
        ));
    }
    let signer = Signer::from_pem(&settings.signing_key_pem)
        .map_err(|e| StartError::SigningKey(e.to_string()))?;
    let mut jwks = vec![signer.jwk().clone()];
    for pem in &settings.verification_keys_pem {
        let jwk = jwk_from_private_pem(pem)
            .map_err(|e| StartError::SigningKey(format!("auth.verification_keys_pem: {e}")))?;
        if !jwks.contains(&jwk) {
            jwks.push(jwk);
        }
    }
    Ok((signer, jwks))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(env: &[(&str, &str)]) -> Settings {
        runtime::config::load_from(
            DEFAULTS,
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .expect("settings load")
    }

    #[test]
    fn service_accounts_come_from_the_environment() {
        let settings = load(&[
            ("SALESCOMPASS__SERVICE_ACCOUNTS__ENGAGEMENT__SECRET", SECRET),
            (
                "SALESCOMPASS__SERVICE_ACCOUNTS__ENGAGEMENT__PERMISSIONS",
                "crm.cases.write,crm.deals.read",
            ),
        ]);
        assert_eq!(settings.auth.service_token_ttl_secs, 300);
        let accounts = service_accounts(&settings.service_accounts).expect("valid accounts");
        let account = accounts
            .authenticate("engagement", SECRET)
            .expect("configured");
        let names: Vec<&str> = account.permissions.iter().map(|p| p.name).collect();
        assert_eq!(names, ["crm.cases.write", "crm.deals.read"]);
    }

    #[test]
    fn no_service_accounts_is_a_valid_configuration() {
        let accounts = service_accounts(&load(&[]).service_accounts).expect("valid");
        assert!(accounts.is_empty());
    }

    #[test]
    fn a_bad_service_account_stops_the_start_naming_the_key() {
        let settings = load(&[
            ("SALESCOMPASS__SERVICE_ACCOUNTS__ENGAGEMENT__SECRET", SECRET),
            (
                "SALESCOMPASS__SERVICE_ACCOUNTS__ENGAGEMENT__PERMISSIONS",
                "crm.settings.write",
            ),
        ]);
        let error = service_accounts(&settings.service_accounts).expect_err("refused");
        assert!(
            error
                .to_string()
                .starts_with("service_accounts.engagement.permissions: crm.settings.write"),
            "{error}"
        );
    }
}
