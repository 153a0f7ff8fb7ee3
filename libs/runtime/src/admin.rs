//! The admin HTTP port: `/healthz` (the process is alive), `/readyz` (it should get traffic:
//! serving and its dependencies up, see [`crate::readiness`]) and `/metrics` (the component's
//! series, see [`crate::exposition`]: Prometheus text, or OpenMetrics with exemplars when the
//! scraper's `Accept` asks for it).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::exposition::{self, ComponentClaim};

pub use crate::readiness::Readiness;

/// A bound admin server; call [`AdminServer::serve`] to run it.
pub struct AdminServer {
    listener: TcpListener,
    readiness: Readiness,
    component: Option<ComponentClaim>,
}

impl AdminServer {
    pub async fn bind(addr: SocketAddr, readiness: Readiness) -> Result<Self, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        crate::process::register();
        Ok(Self {
            listener,
            readiness,
            component: None,
        })
    }

    /// Serves only `name`'s series on `/metrics` (and the process-wide ones if it is the first
    /// component of the process); without it, every series.
    #[must_use]
    pub fn for_component(mut self, name: &str) -> Self {
        self.component = Some(ComponentClaim::new(name));
        self
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), Error> {
        // The claim lives as long as this server; the handler needs only the name.
        let claim = self.component;
        let component: Option<std::sync::Arc<str>> =
            claim.as_ref().map(|claim| claim.name().into());
        let app =
            Router::new()
                .route("/healthz", get(|| async { "ok" }))
                .route("/readyz", get(readyz))
                .route(
                    "/metrics",
                    get(move |headers: HeaderMap| async move {
                        metrics(component.as_deref(), &headers)
                    }),
                )
                .with_state(self.readiness);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        drop(claim);
        Ok(())
    }
}

/// 200 or 503, with one line per dependency so an operator sees why (`database: down (…)`).
async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let (ready, body) = readiness.describe();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

fn metrics(component: Option<&str>, headers: &HeaderMap) -> axum::response::Response {
    let families = exposition::gather(component);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if exposition::wants_openmetrics(accept) {
        let body = exposition::openmetrics_text(&families);
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, exposition::OPENMETRICS_TYPE)],
            body,
        )
            .into_response();
    }
    match exposition::prometheus_text(&families) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
