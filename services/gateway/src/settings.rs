//! Gateway settings: built-in defaults < optional TOML file (`SALESCOMPASS_CONFIG`) < environment
//! (`SALESCOMPASS__GATEWAY__LISTEN`, `SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS`, ...).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::Error;
pub use crate::rate_limit::tenant_limits::TenantLimit;

/// Upper bound of `gateway.upstream_connections`.
const MAX_UPSTREAM_CONNECTIONS: usize = 64;

/// Documented defaults; every key can be overridden by file or environment.
pub const DEFAULTS: &str = r#"
[gateway]
listen = "127.0.0.1:8080"
max_body_bytes = 1048576
trust_forwarded_for = false
hsts = false
docs = true
unavailable_retry_after_secs = 1
sse_heartbeat_secs = 15
# upstream_connections: one per tokio worker thread of the gateway unless set

[gateway.upstreams]

[gateway.timeouts]
default_ms = 15000
routes = []

[gateway.auth]
jwks_method = "salescompass.tenants.v1.AuthService/GetJwks"
jwks_min_refresh_secs = 5

[gateway.rate_limit]
enabled = true
login_methods = ["salescompass.tenants.v1.AuthService/Login", "salescompass.tenants.v1.AuthService/Refresh"]
# With gateway.redis_url: buckets shared by every replica in Redis, local ones while it is down.
shared = true
redis_prefix = "salescompass:gateway:ratelimit"
redis_timeout_ms = 50
redis_retry_ms = 1000

[gateway.rate_limit.default]
tenant_per_second = 100.0
tenant_burst = 200
client_per_second = 50.0
client_burst = 100

[gateway.rate_limit.login]
tenant_per_second = 100.0
tenant_burst = 200
client_per_second = 0.5
client_burst = 10

[gateway.idempotency]
ttl_secs = 86400
max_memory_entries = 100000

[gateway.cors]
allowed_origins = []
max_age_secs = 600

[server]
admin_listen = "127.0.0.1:9090"
drain_delay_secs = 0
shutdown_grace_secs = 20

[telemetry]
"#;

/// Everything `gateway serve` needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub gateway: GatewaySettings,
    pub server: ServerSettings,
    #[serde(default)]
    pub telemetry: runtime::config::TelemetrySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    /// REST listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Upstream gRPC URL per service: `salescompass.<svc>.v1.*` is called at `upstreams.<svc>`.
    pub upstreams: HashMap<String, String>,
    /// HTTP/2 connections per upstream, used round-robin: one connection is driven by one task
    /// at a time, so several let concurrent calls proceed on several cores. Unset: one per
    /// worker thread ([`GatewaySettings::connections_per_upstream`]).
    #[serde(default)]
    pub upstream_connections: Option<usize>,
    /// Idempotency-Key store; in-memory (per process) when unset.
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Take the client address from the last `X-Forwarded-For` hop (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Send `Strict-Transport-Security`; enable when TLS terminates in front of the gateway.
    pub hsts: bool,
    /// Serve the interactive API page at `/docs`.
    pub docs: bool,
    /// `Retry-After` seconds sent with 503 when an upstream is unreachable.
    pub unavailable_retry_after_secs: u64,
    /// Seconds between heartbeat comments on a server-sent event stream (a streaming RPC served
    /// as `text/event-stream`), so proxies and browsers keep an idle stream open.
    pub sse_heartbeat_secs: u64,
    pub timeouts: TimeoutSettings,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub idempotency: IdempotencySettings,
    pub cors: CorsSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TimeoutSettings {
    /// Deadline of an upstream call, sent as `grpc-timeout`.
    pub default_ms: u64,
    /// Per-method overrides (a list because method names contain dots, which config keys split).
    pub routes: Vec<RouteTimeout>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RouteTimeout {
    /// Full gRPC method, e.g. `salescompass.tenants.v1.AuthService/Login`.
    pub method: String,
    pub timeout_ms: u64,
}

impl TimeoutSettings {
    pub fn for_method(&self, full_method: &str) -> Duration {
        let ms = self
            .routes
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(full_method))
            .map_or(self.default_ms, |r| r.timeout_ms);
        Duration::from_millis(ms)
    }
}

/// Issuer, audience and clock skew are those of `auth::token`, shared with the services.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// RPC returning the verification keys (JWKS form).
    pub jwks_method: String,
    /// Minimum seconds between two key-set fetches triggered by unknown `kid`s.
    pub jwks_min_refresh_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Methods in the stricter `login` class (comma separated in the environment).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub login_methods: Vec<String>,
    pub default: ClassLimits,
    pub login: ClassLimits,
    /// Share the buckets through `gateway.redis_url` (when set), so the limits hold for all
    /// replicas together rather than for each.
    pub shared: bool,
    /// Prefix of the shared buckets' Redis keys, and of the tenants' limit overrides.
    pub redis_prefix: String,
    /// A shared check that takes longer is answered by the local buckets.
    pub redis_timeout_ms: u64,
    /// After Redis failed, how long the local buckets answer before Redis is tried again.
    pub redis_retry_ms: u64,
    /// Default-class limits of particular tenants (tenant id → `per_second`, `burst`), in place
    /// of `default.tenant_*`; an override stored in Redis by the billing service wins over them.
    #[serde(default)]
    pub tenants: HashMap<String, TenantLimit>,
}

/// Token buckets of one route class: per tenant (verified token) and per client address.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ClassLimits {
    pub tenant_per_second: f64,
    pub tenant_burst: u32,
    pub client_per_second: f64,
    pub client_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencySettings {
    /// How long a completed response is replayed for a retried key.
    pub ttl_secs: u64,
    /// Bound of the in-memory store (used when `redis_url` is unset).
    pub max_memory_entries: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CorsSettings {
    /// Origins allowed to call the API from a browser; `*` for any; empty disables CORS
    /// (comma separated in the environment).
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allowed_origins: Vec<String>,
    pub max_age_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Admin HTTP address (`/healthz`, `/readyz`, `/metrics`).
    pub admin_listen: SocketAddr,
    /// After shutdown starts: seconds to keep serving while `/readyz` fails, so load balancers
    /// stop sending requests before the listener closes.
    pub drain_delay_secs: u64,
    /// Then: seconds in-flight requests get before the gateway stops anyway.
    pub shutdown_grace_secs: u64,
}

/// Accepts a list (file) or a comma-separated string (environment).
fn list_or_comma_separated<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::List(items) => items,
        Raw::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

impl GatewaySettings {
    /// The configured `upstream_connections`, else one per worker thread of the runtime the
    /// gateway runs on, as Envoy keeps one connection per worker: each worker can drive a
    /// connection, and no connection's wake-ups are paid for without a worker to use it.
    pub fn connections_per_upstream(&self) -> usize {
        self.upstream_connections.unwrap_or_else(|| {
            tokio::runtime::Handle::try_current()
                .map_or(1, |runtime| runtime.metrics().num_workers())
                .clamp(1, MAX_UPSTREAM_CONNECTIONS)
        })
    }
}

impl Settings {
    /// Reads defaults, the optional file named by `SALESCOMPASS_CONFIG` and the environment.
    pub fn load() -> Result<Self, Error> {
        Self::load_from(std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment, for tests and the launcher.
    pub fn load_from(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, Error> {
        let settings: Self = runtime::config::load_from(DEFAULTS, env)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), Error> {
        for (name, url) in &self.gateway.upstreams {
            if url.parse::<http::Uri>().is_err() {
                return Err(Error::InvalidSetting {
                    key: format!("gateway.upstreams.{name}"),
                    reason: format!("`{url}` is not a URL"),
                });
            }
        }
        let limits = [
            ("default", self.gateway.rate_limit.default),
            ("login", self.gateway.rate_limit.login),
        ];
        for (class, l) in limits {
            if !(l.tenant_per_second > 0.0 && l.client_per_second > 0.0)
                || l.tenant_burst == 0
                || l.client_burst == 0
            {
                return Err(Error::InvalidSetting {
                    key: format!("gateway.rate_limit.{class}"),
                    reason: "rates and bursts must be positive".to_owned(),
                });
            }
        }
        for (tenant, limit) in &self.gateway.rate_limit.tenants {
            if !limit.is_valid() {
                return Err(Error::InvalidSetting {
                    key: format!("gateway.rate_limit.tenants.{tenant}"),
                    reason: "rate and burst must be positive".to_owned(),
                });
            }
        }
        if self.gateway.rate_limit.redis_timeout_ms == 0 {
            return Err(Error::InvalidSetting {
                key: "gateway.rate_limit.redis_timeout_ms".to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        if let Some(connections) = self.gateway.upstream_connections
            && !(1..=MAX_UPSTREAM_CONNECTIONS).contains(&connections)
        {
            return Err(Error::InvalidSetting {
                key: "gateway.upstream_connections".to_owned(),
                reason: format!("must be between 1 and {MAX_UPSTREAM_CONNECTIONS}"),
            });
        }
        if self.gateway.max_body_bytes == 0 {
            return Err(Error::InvalidSetting {
                key: "gateway.max_body_bytes".to_owned(),
                reason: "must be positive".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_load_without_any_environment() {
        let s = Settings::load_from(env(&[])).expect("defaults are valid");
        assert_eq!(s.gateway.listen.port(), 8080);
        assert_eq!(s.server.admin_listen.port(), 9090);
        assert!(s.gateway.redis_url.is_none());
        assert_eq!(s.gateway.idempotency.ttl_secs, 24 * 3600);
        assert_eq!(s.gateway.rate_limit.login_methods.len(), 2);
        assert_eq!(s.gateway.upstream_connections, None);
        assert!(s.gateway.rate_limit.shared);
        assert!(s.gateway.rate_limit.tenants.is_empty());
    }

    #[test]
    fn tenants_may_have_limits_of_their_own() {
        let s = Settings::load_from(env(&[
            (
                "SALESCOMPASS__GATEWAY__RATE_LIMIT__TENANTS__0190ABCD__PER_SECOND",
                "2.5",
            ),
            (
                "SALESCOMPASS__GATEWAY__RATE_LIMIT__TENANTS__0190ABCD__BURST",
                "9",
            ),
        ]))
        .expect("valid");
        assert_eq!(
            s.gateway.rate_limit.tenants.get("0190abcd"),
            Some(&TenantLimit {
                per_second: 2.5,
                burst: 9
            })
        );
        let err = Settings::load_from(env(&[
            (
                "SALESCOMPASS__GATEWAY__RATE_LIMIT__TENANTS__T1__PER_SECOND",
                "1",
            ),
            ("SALESCOMPASS__GATEWAY__RATE_LIMIT__TENANTS__T1__BURST", "0"),
        ]))
        .expect_err("must fail");
        assert!(err.to_string().contains("rate_limit.tenants.t1"), "{err}");
    }

    #[test]
    fn environment_sets_upstreams_lists_and_nested_limits() {
        let s = Settings::load_from(env(&[
            (
                "SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS",
                "http://127.0.0.1:50051",
            ),
            ("SALESCOMPASS__GATEWAY__LISTEN", "127.0.0.1:0"),
            (
                "SALESCOMPASS__GATEWAY__CORS__ALLOWED_ORIGINS",
                "http://a.test,http://b.test",
            ),
            (
                "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST",
                "7",
            ),
            ("SALESCOMPASS__GATEWAY__REDIS_URL", "redis://127.0.0.1:6379"),
        ]))
        .expect("valid");
        assert_eq!(s.gateway.upstreams["tenants"], "http://127.0.0.1:50051");
        assert_eq!(s.gateway.listen.port(), 0);
        assert_eq!(s.gateway.cors.allowed_origins.len(), 2);
        assert_eq!(s.gateway.rate_limit.default.tenant_burst, 7);
        assert_eq!(
            s.gateway.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Settings::load_from(env(&[("SALESCOMPASS__GATEWAY__LISTEN", "nowhere")]))
            .expect_err("must fail");
        assert!(err.to_string().contains("listen"), "{err}");

        let err = Settings::load_from(env(&[(
            "SALESCOMPASS__GATEWAY__UPSTREAMS__CRM",
            "not a url",
        )]))
        .expect_err("must fail");
        assert!(err.to_string().contains("gateway.upstreams.crm"), "{err}");

        let err = Settings::load_from(env(&[(
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__LOGIN__CLIENT_BURST",
            "0",
        )]))
        .expect_err("must fail");
        assert!(err.to_string().contains("rate_limit.login"), "{err}");

        let err = Settings::load_from(env(&[("SALESCOMPASS__GATEWAY__UPSTREAM_CONNECTIONS", "0")]))
            .expect_err("must fail");
        assert!(
            err.to_string().contains("gateway.upstream_connections"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 3)]
    async fn upstream_connections_default_to_one_per_worker_thread() {
        let s = Settings::load_from(env(&[])).expect("valid");
        assert_eq!(s.gateway.connections_per_upstream(), 3);

        let s = Settings::load_from(env(&[("SALESCOMPASS__GATEWAY__UPSTREAM_CONNECTIONS", "5")]))
            .expect("valid");
        assert_eq!(s.gateway.connections_per_upstream(), 5);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_upstream_connection_on_a_single_threaded_runtime() {
        let s = Settings::load_from(env(&[])).expect("valid");
        assert_eq!(s.gateway.connections_per_upstream(), 1);
    }

    #[test]
    fn route_timeouts_override_the_default() {
        let mut s = Settings::load_from(env(&[]))
            .expect("valid")
            .gateway
            .timeouts;
        s.routes.push(RouteTimeout {
            method: "salescompass.tenants.v1.AuthService/Login".to_owned(),
            timeout_ms: 500,
        });
        assert_eq!(
            s.for_method("salescompass.tenants.v1.AuthService/Login"),
            Duration::from_millis(500)
        );
        assert_eq!(
            s.for_method("salescompass.tenants.v1.UserService/GetUser"),
            Duration::from_millis(15000)
        );
    }
}
