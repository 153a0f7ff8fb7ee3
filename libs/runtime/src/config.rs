//! Layered settings: built-in defaults < optional file < environment.
//!
//! Every key can be set as `SALESCOMPASS__SECTION__KEY`; `DATABASE_URL` and `AMQP_URL` are honoured
//! as the conventional names for `database.url` and `amqp.url`. The file comes from
//! `SALESCOMPASS_CONFIG` (TOML) when set.

use std::net::SocketAddr;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Prefix of every environment variable that configures SalesCompass.
pub const ENV_PREFIX: &str = "SALESCOMPASS";
/// Environment variable naming an optional TOML config file.
pub const CONFIG_FILE_ENV: &str = "SALESCOMPASS_CONFIG";
/// Default database when `DATABASE_URL` is unset.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/salescompass";
/// Default broker when `AMQP_URL` is unset.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Loads settings of type `T` from `defaults` (a TOML document), the optional file and the
/// environment. Errors name the offending key.
pub fn load<T: DeserializeOwned>(defaults: &str) -> Result<T, ::config::ConfigError> {
    load_from(defaults, std::env::vars())
}

/// Like [`load`] with an explicit environment, so tests do not mutate the process environment.
pub fn load_from<T: DeserializeOwned>(
    defaults: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ::config::ConfigError> {
    let env: std::collections::HashMap<String, String> = env.into_iter().collect();
    let mut builder = ::config::Config::builder().add_source(::config::File::from_str(
        defaults,
        ::config::FileFormat::Toml,
    ));
    if let Some(path) = env.get(CONFIG_FILE_ENV) {
        builder = builder.add_source(::config::File::with_name(path).required(true));
    }
    builder = builder.add_source(
        ::config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("auth.verification_keys_pem")
            .source(Some(env.clone())),
    );
    if let Some(url) = env.get("DATABASE_URL") {
        builder = builder.set_override("database.url", url.as_str())?;
    }
    if let Some(url) = env.get("AMQP_URL") {
        builder = builder.set_override("amqp.url", url.as_str())?;
    }
    builder.build()?.try_deserialize()
}

/// Where a gRPC service listens and how its server behaves.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// gRPC listen address; port 0 picks a free port.
    pub grpc_listen: SocketAddr,
    /// Admin HTTP listen address (`/healthz`, `/readyz`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// Upper bound for one request when the client sets no shorter deadline.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Requests served at once per connection; beyond it callers wait.
    #[serde(default = "default_concurrency_limit")]
    pub concurrency_limit: usize,
    /// After SIGTERM: seconds to keep serving while readiness reports failure, so load
    /// balancers stop sending new requests before the listener closes.
    #[serde(default)]
    pub drain_delay_secs: u64,
    /// After the drain delay: seconds in-flight requests get before the process stops anyway.
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Seconds after which a client's HTTP/2 connection is asked to reconnect (GOAWAY; its
    /// in-flight calls finish first, each within `request_timeout_secs`). A load balancer spreads
    /// connections, not calls: without an age limit, pods added by the autoscaler never get the
    /// traffic of clients that connected before them. 0 keeps connections forever.
    #[serde(default = "default_max_connection_age_secs")]
    pub max_connection_age_secs: u64,
}

impl ServerSettings {
    /// The connection age limit, `None` when disabled.
    pub fn max_connection_age(&self) -> Option<std::time::Duration> {
        (self.max_connection_age_secs > 0)
            .then(|| std::time::Duration::from_secs(self.max_connection_age_secs))
    }
}

fn default_request_timeout_secs() -> u64 {
    30
}
fn default_concurrency_limit() -> usize {
    256
}
fn default_shutdown_grace_secs() -> u64 {
    20
}
fn default_max_connection_age_secs() -> u64 {
    300
}

/// Logging and tracing export.
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetrySettings {
    /// `tracing` filter directive, e.g. `info,sqlx=warn`.
    #[serde(default = "default_log_filter")]
    pub log_filter: String,
    /// `pretty` for humans, `json` for log collectors.
    #[serde(default)]
    pub log_format: LogFormat,
    /// OTLP gRPC endpoint (e.g. `http://otel-collector:4317`); traces are exported only when set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_filter: default_log_filter(),
            log_format: LogFormat::default(),
            otlp_endpoint: None,
        }
    }
}

fn default_log_filter() -> String {
    "info,sqlx=warn,h2=warn,tower=warn,lapin=warn".to_owned()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        server: ServerSettings,
        database: Db,
    }
    #[derive(Debug, Deserialize)]
    struct Db {
        url: String,
    }

    const DEFAULTS: &str = r#"
        [server]
        grpc_listen = "127.0.0.1:50051"
        admin_listen = "127.0.0.1:9091"
        [database]
        url = "postgres://localhost/x"
    "#;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn environment_overrides_defaults() {
        let s: Sample = load_from(
            DEFAULTS,
            env(&[
                ("SALESCOMPASS__SERVER__GRPC_LISTEN", "0.0.0.0:7000"),
                ("DATABASE_URL", "postgres://db/y"),
            ]),
        )
        .expect("valid config");
        assert_eq!(s.server.grpc_listen.port(), 7000);
        assert_eq!(s.database.url, "postgres://db/y");
        assert_eq!(s.server.shutdown_grace_secs, 20);
    }

    #[test]
    fn connections_are_recycled_after_five_minutes_unless_disabled() {
        let s: Sample = load_from(DEFAULTS, env(&[])).expect("valid config");
        assert_eq!(
            s.server.max_connection_age(),
            Some(std::time::Duration::from_secs(300))
        );
        let s: Sample = load_from(
            DEFAULTS,
            env(&[("SALESCOMPASS__SERVER__MAX_CONNECTION_AGE_SECS", "0")]),
        )
        .expect("valid config");
        assert_eq!(s.server.max_connection_age(), None);
    }

    #[test]
    fn invalid_value_names_the_key() {
        let err = load_from::<Sample>(
            DEFAULTS,
            env(&[("SALESCOMPASS__SERVER__ADMIN_LISTEN", "not-an-address")]),
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("admin_listen"), "{err}");
    }
}
