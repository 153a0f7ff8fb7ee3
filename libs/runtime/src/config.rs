//! Layered settings: built-in defaults < optional file < environment.
//!
//! Every key can be set as `SALESCOMPASS__SECTION__KEY`; `DATABASE_URL` and `AMQP_URL` are honoured
//! as the conventional names for `database.url` and `amqp.url`. The file comes from
//! `SALESCOMPASS_CONFIG` (TOML) when set.
//!
//! A process that runs several services (the `salescompass dev` launcher) gives each its own
//! environment with [`scoped_env`]: shared keys from `SALESCOMPASS__…`, overridden by the
//! service's own `SALESCOMPASS__<SERVICE>__…`.

use std::collections::BTreeMap;
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

/// Settings keys (`database.url`) with values, in the environment form [`load_from`] reads
/// (`SALESCOMPASS__DATABASE__URL`). Setting a key again replaces it, so layers are applied from
/// the weakest to the strongest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvLayers {
    /// Lower-case dotted key → value.
    values: BTreeMap<String, String>,
}

impl EnvLayers {
    /// Sets `key` (dotted, e.g. `auth.tenants_url`), replacing an earlier value.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_lowercase(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(&key.to_lowercase()).map(String::as_str)
    }

    /// The keys as `SALESCOMPASS__SECTION__KEY` variables, for [`load_from`].
    pub fn vars(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.values.iter().map(|(key, value)| {
            let path = key.replace('.', "__").to_uppercase();
            (format!("{ENV_PREFIX}__{path}"), value.clone())
        })
    }
}

/// The settings key a `SALESCOMPASS__SECTION__KEY` variable sets (`section.key`, lower case);
/// `None` for any other variable.
pub fn settings_key(var: &str) -> Option<String> {
    let prefix = format!("{ENV_PREFIX}__");
    let head = var.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(&prefix) {
        return None;
    }
    let path = &var[prefix.len()..];
    (!path.is_empty()).then(|| path.to_lowercase().replace("__", "."))
}

/// Whether `key` is one of `keys`, or below one of them (`telemetry` covers `telemetry.log_filter`).
pub fn key_matches(key: &str, keys: &[&str]) -> bool {
    keys.iter()
        .any(|k| key == *k || (key.starts_with(k) && key.as_bytes().get(k.len()) == Some(&b'.')))
}

/// The environment one service sees in a process that runs several: the `shared` keys of the
/// plain `SALESCOMPASS__…` variables (`DATABASE_URL` and `AMQP_URL` count as `database.url` and
/// `amqp.url` there and win over them, as in [`load_from`]), overridden by every key of the
/// service's own `SALESCOMPASS__<SERVICE>__…` variables. Any other plain key is left out, so a
/// per-service key such as `database.schema` never reaches every service at once. `service`
/// `None` takes the shared keys only. The config file (`SALESCOMPASS_CONFIG`) is not part of it.
pub fn scoped_env(
    env: impl IntoIterator<Item = (String, String)>,
    service: Option<&str>,
    shared: &[&str],
) -> EnvLayers {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let own = service.map(|name| format!("{}.", name.to_lowercase()));
    let mut layers = EnvLayers::default();
    for (var, value) in &env {
        if let Some(key) = settings_key(var)
            && key_matches(&key, shared)
        {
            layers.set(&key, value.clone());
        }
    }
    for (var, key) in [("DATABASE_URL", "database.url"), ("AMQP_URL", "amqp.url")] {
        if let Some((_, value)) = env.iter().find(|(name, _)| name == var)
            && key_matches(key, shared)
        {
            layers.set(key, value.clone());
        }
    }
    if let Some(own) = own {
        for (var, value) in &env {
            if let Some(key) = settings_key(var)
                && let Some(rest) = key.strip_prefix(&own)
            {
                layers.set(rest, value.clone());
            }
        }
    }
    layers
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
    /// Milliseconds between readiness probes of a dependency (the database) while it is up;
    /// while it is down the re-checks start at 250 ms and back off to this.
    #[serde(default = "default_readiness_interval_ms")]
    pub readiness_interval_ms: u64,
    /// Milliseconds one readiness check may take before the dependency counts as down.
    #[serde(default = "default_readiness_timeout_ms")]
    pub readiness_timeout_ms: u64,
}

impl ServerSettings {
    /// How dependencies are probed for readiness.
    pub fn readiness_timing(&self) -> crate::readiness::ProbeTiming {
        crate::readiness::ProbeTiming {
            interval: std::time::Duration::from_millis(self.readiness_interval_ms.max(1)),
            timeout: std::time::Duration::from_millis(self.readiness_timeout_ms.max(1)),
        }
    }

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
fn default_readiness_interval_ms() -> u64 {
    2000
}
fn default_readiness_timeout_ms() -> u64 {
    1000
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
    /// `false` leaves the OpenTelemetry layer out entirely: spans get no trace ids and nothing is
    /// exported. When `true` without an endpoint, spans still get real trace and span ids (for
    /// log lines, error bodies and propagation to the next service) but are not exported.
    #[serde(default = "default_tracing_enabled")]
    pub tracing_enabled: bool,
    /// Share of new traces sampled (0.0–1.0). A caller's sampled flag wins over it
    /// (`ParentBased(TraceIdRatioBased)`), so a trace is kept or dropped as a whole.
    #[serde(default = "default_trace_sample_ratio")]
    pub trace_sample_ratio: f64,
    /// Longest a finished span waits before its batch is exported.
    #[serde(default = "default_otlp_batch_delay_ms")]
    pub otlp_batch_delay_ms: u64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            log_filter: default_log_filter(),
            log_format: LogFormat::default(),
            otlp_endpoint: None,
            tracing_enabled: default_tracing_enabled(),
            trace_sample_ratio: default_trace_sample_ratio(),
            otlp_batch_delay_ms: default_otlp_batch_delay_ms(),
        }
    }
}

fn default_tracing_enabled() -> bool {
    true
}
fn default_trace_sample_ratio() -> f64 {
    1.0
}
fn default_otlp_batch_delay_ms() -> u64 {
    5000
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

    fn scoped(pairs: &[(&str, &str)], service: &str) -> Sample {
        let layers = scoped_env(env(pairs), Some(service), &["database.url", "telemetry"]);
        load_from(DEFAULTS, layers.vars()).expect("valid config")
    }

    #[derive(Debug, Deserialize)]
    struct WithSchema {
        database: DbWithSchema,
    }
    #[derive(Debug, Deserialize)]
    struct DbWithSchema {
        schema: String,
    }

    fn schema_of(pairs: &[(&str, &str)], service: &str) -> WithSchema {
        let defaults = r#"
            [database]
            url = "postgres://localhost/x"
            schema = "own"
        "#;
        let layers = scoped_env(env(pairs), Some(service), &["database.url"]);
        load_from(defaults, layers.vars()).expect("valid config")
    }

    #[test]
    fn a_service_prefix_beats_the_shared_key() {
        let pairs = [
            ("SALESCOMPASS__DATABASE__URL", "postgres://shared/db"),
            ("SALESCOMPASS__CRM__DATABASE__URL", "postgres://crm/db"),
        ];
        assert_eq!(scoped(&pairs, "crm").database.url, "postgres://crm/db");
        assert_eq!(
            scoped(&pairs, "tenants").database.url,
            "postgres://shared/db"
        );
    }

    #[test]
    fn the_service_prefix_beats_the_conventional_database_url_too() {
        let pairs = [
            ("DATABASE_URL", "postgres://conventional/db"),
            ("SALESCOMPASS__DATABASE__URL", "postgres://shared/db"),
            ("SALESCOMPASS__CRM__DATABASE__URL", "postgres://crm/db"),
        ];
        assert_eq!(scoped(&pairs, "crm").database.url, "postgres://crm/db");
        assert_eq!(
            scoped(&pairs, "tenants").database.url,
            "postgres://conventional/db"
        );
    }

    #[test]
    fn a_per_service_key_is_not_taken_from_the_shared_prefix() {
        let pairs = [("SALESCOMPASS__DATABASE__SCHEMA", "leaked")];
        assert_eq!(schema_of(&pairs, "crm").database.schema, "own");
        assert_eq!(schema_of(&pairs, "tenants").database.schema, "own");
    }

    #[test]
    fn a_service_prefix_reaches_that_service_only() {
        let pairs = [
            ("SALESCOMPASS__CRM__DATABASE__SCHEMA", "crm_dev"),
            ("SALESCOMPASS__CRM__SERVER__GRPC_LISTEN", "127.0.0.1:7000"),
        ];
        assert_eq!(schema_of(&pairs, "crm").database.schema, "crm_dev");
        assert_eq!(schema_of(&pairs, "commissions").database.schema, "own");
        assert_eq!(scoped(&pairs, "crm").server.grpc_listen.port(), 7000);
        assert_eq!(
            scoped(&pairs, "commissions").server.grpc_listen.port(),
            50051
        );
    }

    #[test]
    fn a_shared_section_covers_its_keys_but_not_a_longer_section_name() {
        assert!(key_matches("telemetry.log_filter", &["telemetry"]));
        assert!(key_matches("telemetry", &["telemetry"]));
        assert!(!key_matches("telemetry_extra.x", &["telemetry"]));
        assert!(!key_matches("database.schema", &["database.url"]));
    }

    #[test]
    fn only_salescompass_variables_name_settings_keys() {
        assert_eq!(
            settings_key("SALESCOMPASS__SERVER__GRPC_LISTEN").as_deref(),
            Some("server.grpc_listen")
        );
        assert_eq!(settings_key("salescompass__a__b").as_deref(), Some("a.b"));
        assert_eq!(settings_key("SALESCOMPASS_CONFIG"), None);
        assert_eq!(settings_key("HOME"), None);
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
