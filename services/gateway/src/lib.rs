//! SalesCompass REST edge: serves every RPC that carries a `google.api.http` annotation as
//! REST/JSON by transcoding to gRPC (generic, like Envoy's gRPC-JSON transcoder), with the
//! OpenAPI 3.1 document (`/openapi.json`) and Swagger UI (`/docs`) generated from the same
//! descriptors. Adding an annotated RPC to `proto/` is all it takes to expose it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gateway::Error> {
//! let settings = gateway::Settings::load()?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let server = gateway::Server::build(settings).await?;
//! println!("REST on http://{}", server.local_addr());
//! server.run(shutdown).await
//! # }
//! ```
//!
//! # Behaviour at the edge
//! - Routing: `salescompass.<svc>.v1.*` is called at `gateway.upstreams.<svc>`
//!   (`SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS=http://127.0.0.1:50051`). Services without an
//!   upstream are neither served nor documented; an unreachable upstream answers 503 with
//!   `Retry-After`. Calls are spread round-robin over `gateway.upstream_connections` HTTP/2
//!   connections per upstream (default: one per tokio worker thread, `TCP_NODELAY` on them as on
//!   the REST sockets). Each call carries the route's deadline (`gateway.timeouts`) as
//!   `grpc-timeout`.
//!   The single-binary launcher can instead hand the gateway its co-located services'
//!   routes ([`Server::build_with_local`]): the same request head and message, no socket.
//! - Tokens: a bearer that is a JWT must verify against the tenants service's key set (fetched
//!   with `AuthService/GetJwks`, cached, refreshed on an unknown `kid` at most every
//!   `gateway.auth.jwks_min_refresh_secs`) or the request gets 401. Other bearers (the operator
//!   token) and missing ones are forwarded; services verify every call again. `authorization`,
//!   `traceparent`/`tracestate` (of the gateway's client span for the call, itself a child of
//!   the request's server span and of the caller's `traceparent`), `x-request-id` and the client
//!   address (`x-forwarded-for`) travel as gRPC metadata.
//! - Rate limits (token buckets, [`settings::DEFAULTS`]): per client address, then per tenant of
//!   the verified token; the `login` class (Login, Refresh) is stricter. With `gateway.redis_url`
//!   the buckets are shared by all replicas (local ones stand in while Redis is unreachable), and
//!   a tenant may have limits of its own (`gateway.rate_limit.tenants`, or set in Redis). Every response carries
//!   `RateLimit-Limit/Remaining/Reset/Policy`; a refusal is 429 with `Retry-After`.
//! - `Idempotency-Key` on POST: the first final response is stored for 24 h per credential
//!   (tenant and user, operator token, or client address when anonymous) and replayed with
//!   `Idempotent-Replayed: true`; a concurrent duplicate gets 409, the key with another request
//!   422. Storage: Redis when `gateway.redis_url` is set (shared by replicas), else memory.
//! - Errors are RFC 9457 `application/problem+json` with `code`, `traceId`, `requestId` and the
//!   services' field violations as `errors`; no response leaves without one.
//! - Security headers on every response, CORS from `gateway.cors.allowed_origins`, HSTS when
//!   `gateway.hsts` is set (TLS terminated in front). Health and metrics on `server.admin_listen`.

mod access_log;
mod bearer;
mod docs;
mod edge;
mod error;
mod field_value;
mod idempotency;
mod metrics;
pub mod openapi;
mod path_template;
mod problem;
mod proxy;
mod rate_limit;
mod routes;
mod security_headers;
pub mod settings;
mod spans;
mod sse;
mod trace_context;
mod transcode;
mod upstream;
mod wire_json;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use http::{HeaderValue, Method, header};
use prost_reflect::DescriptorPool;
use runtime::admin::{AdminServer, Readiness};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::Error;
/// Per-tenant rate limits, and the Redis overrides the billing service sets from plans.
pub use rate_limit::tenant_limits;
pub use settings::Settings;

/// How often idle rate-limit buckets are dropped.
const RATE_LIMIT_GC_INTERVAL: Duration = Duration::from_secs(60);
/// Request headers a browser client may send cross-origin.
const CORS_ALLOWED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
    "traceparent",
    "tracestate",
];
const CORS_EXPOSED_HEADERS: [&str; 7] = [
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "idempotent-replayed",
];

/// The descriptors of every SalesCompass contract, as compiled into `libs/proto`.
pub fn descriptor_pool() -> Result<DescriptorPool, Error> {
    DescriptorPool::decode(proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| Error::Descriptors(e.to_string()))
}

/// The OpenAPI document of every annotated RPC (the gateway serves the part whose services have
/// a configured upstream).
pub fn openapi_document() -> Result<serde_json::Value, Error> {
    let pool = descriptor_pool()?;
    let routes = routes::RouteTable::from_pool(&pool)?;
    Ok(openapi::document(&routes, &pool))
}

/// A gateway bound to its ports, ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    admin: AdminServer,
    app: Router,
    readiness: Readiness,
    gateway: Arc<proxy::Gateway>,
    drain_delay: Duration,
    grace: Duration,
}

impl Server {
    /// Loads the descriptors, builds the route table, connects the idempotency store and binds
    /// both ports (port 0 picks a free one; see [`Server::local_addr`]).
    pub async fn build(settings: Settings) -> Result<Self, Error> {
        Self::build_with_local(settings, HashMap::new()).await
    }

    /// As [`Server::build`], calling the services in `local` in-process (the single-binary
    /// launcher) and the rest over their configured URLs.
    pub async fn build_with_local(
        settings: Settings,
        local: HashMap<String, runtime::grpc::LocalService>,
    ) -> Result<Self, Error> {
        let pool = descriptor_pool()?;
        let mut routes = routes::RouteTable::from_pool(&pool)?;
        let gw = &settings.gateway;
        let retry_after = Duration::from_secs(gw.unavailable_retry_after_secs);
        let upstreams =
            upstream::Upstreams::new(&gw.upstreams, gw.connections_per_upstream(), retry_after)?
                .with_local(local);
        let mut missing: Vec<String> = routes
            .iter()
            .map(|r| r.service.clone())
            .filter(|s| !upstreams.has(s))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            // A service that is not deployed is not advertised: its routes are 404 and absent
            // from the OpenAPI document. A configured but unreachable one answers 503.
            tracing::warn!(
                services = ?missing,
                "no upstream configured, routes not served (set SALESCOMPASS__GATEWAY__UPSTREAMS__<NAME>)"
            );
            routes.retain_services(|service| upstreams.has(service));
        }
        let idempotency = idempotency::IdempotencyStore::connect(
            gw.redis_url.as_deref(),
            gw.idempotency.max_memory_entries,
        )
        .await?;
        let openapi = Bytes::from(
            serde_json::to_vec(&openapi::document(&routes, &pool))
                .map_err(|e| Error::Internal(format!("openapi: {e}")))?,
        );
        let gateway = Arc::new(proxy::Gateway {
            verifier: bearer::TokenVerifier::new(&gw.auth, &pool, upstreams.clone())?,
            limits: rate_limits(gw)?,
            routes,
            upstreams,
            idempotency,
            settings: gw.clone(),
            streams_closing: CancellationToken::new(),
        });
        let app = app(gateway.clone(), openapi, &settings)?;
        let readiness = Readiness::default();
        let listener = bind(gw.listen).await?;
        let admin = AdminServer::bind(settings.server.admin_listen, readiness.clone())
            .await?
            .for_component(metrics::COMPONENT);
        tracing::info!(
            routes = gateway.routes.len(),
            idempotency = ?gateway.idempotency,
            "gateway built"
        );
        Ok(Self {
            listener,
            admin,
            app,
            readiness,
            gateway,
            drain_delay: Duration::from_secs(settings.server.drain_delay_secs),
            grace: Duration::from_secs(settings.server.shutdown_grace_secs),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` is cancelled, then reports not-ready for `drain_delay_secs`,
    /// lets in-flight requests finish (at most `shutdown_grace_secs`) and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        let addr = self.local_addr();
        let admin_addr = self.admin_addr();
        tracing::info!(%addr, %admin_addr, "gateway listening");

        // The admin port outlives the REST port, so `/readyz` reports the drain.
        let admin_stop = CancellationToken::new();
        let admin_task = tokio::spawn(self.admin.serve(admin_stop.clone()));

        let gc_gateway = self.gateway.clone();
        let gc_stop = shutdown.clone();
        let gc_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RATE_LIMIT_GC_INTERVAL);
            loop {
                tokio::select! {
                    () = gc_stop.cancelled() => break,
                    _ = tick.tick() => gc_gateway.limits.forget_idle(),
                }
            }
        });

        let readiness = self.readiness.clone();
        readiness.set_ready(true);
        let stop = shutdown.clone();
        let drain_delay = self.drain_delay;
        let streams_closing = self.gateway.streams_closing.clone();
        // Without TCP_NODELAY a multi-segment JSON response can wait for the client's delayed
        // ACK (~40 ms on Linux).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let serve = axum::serve(
            listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.cancelled().await;
            readiness.set_ready(false);
            tracing::info!(drain_delay_secs = drain_delay.as_secs(), "draining");
            tokio::time::sleep(drain_delay).await;
            streams_closing.cancel();
        });
        let deadline = self.drain_delay + self.grace;
        let result = tokio::select! {
            result = serve => result.map_err(Error::Serve),
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(deadline).await;
            } => {
                tracing::warn!(grace_secs = self.grace.as_secs(), "in-flight requests outlived the grace period");
                Ok(())
            }
        };
        admin_stop.cancel();
        gc_task.abort();
        match admin_task.await {
            Ok(Err(error)) => tracing::warn!(%error, "admin server failed"),
            Err(error) => tracing::warn!(%error, "admin server task failed"),
            Ok(Ok(())) => {}
        }
        tracing::info!("gateway stopped");
        result
    }
}

/// Builds and serves the gateway until `shutdown` is cancelled.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> Result<(), Error> {
    Server::build(settings).await?.run(shutdown).await
}

/// The rate limiter: shared through Redis when `gateway.redis_url` is set (and
/// `gateway.rate_limit.shared`), else in-process.
fn rate_limits(gw: &settings::GatewaySettings) -> Result<rate_limit::RateLimits, Error> {
    let limits = rate_limit::RateLimits::new(&gw.rate_limit);
    let (Some(url), true) = (gw.redis_url.as_deref(), gw.rate_limit.shared) else {
        return Ok(limits);
    };
    let settings = &gw.rate_limit;
    let shared = rate_limit::SharedBuckets::connect(
        url,
        &settings.redis_prefix,
        Duration::from_millis(settings.redis_timeout_ms),
        Duration::from_millis(settings.redis_retry_ms),
    )
    .map_err(|e| Error::InvalidSetting {
        key: "gateway.redis_url".to_owned(),
        reason: e.to_string(),
    })?;
    Ok(limits.with_shared(shared))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn app(gateway: Arc<proxy::Gateway>, openapi: Bytes, settings: &Settings) -> Result<Router, Error> {
    let gw = &settings.gateway;
    let mut app = Router::new()
        .route(
            docs::OPENAPI_PATH,
            get(move || {
                let body = openapi.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        body,
                    )
                }
            }),
        )
        .fallback(proxy::handle)
        .with_state(gateway);
    if gw.docs {
        let ui = Router::new()
            .route(docs::DOCS_PATH, get(docs::redirect))
            .route("/docs/", get(docs::index))
            .route("/docs/{*tail}", get(docs::asset))
            .with_state(docs::SwaggerUi::default());
        app = app.merge(ui);
    }
    if let Some(cors) = cors(&gw.cors)? {
        app = app.layer(cors);
    }
    let edge = Arc::new(edge::EdgeSettings {
        hsts: gw.hsts,
        unavailable_retry_after: Duration::from_secs(gw.unavailable_retry_after_secs),
    });
    Ok(app.layer(axum::middleware::from_fn_with_state(edge, edge::layer)))
}

fn cors(settings: &settings::CorsSettings) -> Result<Option<CorsLayer>, Error> {
    if settings.allowed_origins.is_empty() {
        return Ok(None);
    }
    let origins = if settings.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = settings
            .allowed_origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| Error::InvalidSetting {
                    key: "gateway.cors.allowed_origins".to_owned(),
                    reason: format!("`{o}` is not a valid origin"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(CORS_ALLOWED_HEADERS.map(header::HeaderName::from_static))
            .expose_headers(CORS_EXPOSED_HEADERS.map(header::HeaderName::from_static))
            .max_age(Duration::from_secs(settings.max_age_secs)),
    ))
}
