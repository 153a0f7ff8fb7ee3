//! One INFO line per request, target `salescompass::access`: method, route template, status,
//! duration, tenant, request and trace id. Written by the edge, so requests answered early
//! (401, 404, 413, 429) get theirs too. Never the raw path (ids), the query string (tokens),
//! headers (Authorization, cookies) or bodies.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Method, StatusCode};

/// Target of the access log lines, to route or filter them
/// (`RUST_LOG=info,salescompass::access=off` silences them).
pub const TARGET: &str = "salescompass::access";

/// The tenant of the verified token. The edge puts an empty slot into the request; the
/// handler fills it once the token is verified, and the edge reads it after the response.
#[derive(Debug, Clone, Default)]
pub struct TenantSlot(Arc<OnceLock<String>>);

impl TenantSlot {
    pub fn set(&self, tenant: &str) {
        // One verified token per request: a second set cannot differ.
        let _ = self.0.set(tenant.to_owned());
    }

    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// What the access log says about one request.
#[derive(Debug)]
pub struct Access<'a> {
    pub method: &'a Method,
    /// The matched route's template, or `unmatched`.
    pub route: &'a str,
    pub status: StatusCode,
    pub duration: Duration,
    pub tenant: Option<&'a str>,
    pub request_id: &'a str,
    pub trace_id: &'a str,
}

pub fn record(access: &Access<'_>) {
    tracing::info!(
        target: TARGET,
        method = access.method.as_str(),
        route = access.route,
        status = access.status.as_u16(),
        duration_ms = access.duration.as_secs_f64() * 1000.0,
        tenant_id = access.tenant,
        request_id = access.request_id,
        trace_id = access.trace_id,
        "request"
    );
}
