//! The outermost layer: request id and the request's server span in (see `spans`), security
//! headers, request id, span status, metrics and the access log line out, and a problem+json
//! body for any error response that lacks one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderValue, header};
use tracing::Instrument as _;

use crate::access_log::{self, Access, TenantSlot};
use crate::metrics::{self, UNMATCHED};
use crate::problem::{PROBLEM_JSON, Problem, RequestInfo};
use crate::proxy::RouteLabel;
use crate::security_headers;
use crate::spans;
use crate::trace_context::{REQUEST_ID, RequestContext};

#[derive(Debug, Clone)]
pub struct EdgeSettings {
    pub hsts: bool,
    pub unavailable_retry_after: Duration,
}

pub async fn layer(
    State(settings): State<Arc<EdgeSettings>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let tenant = TenantSlot::default();
    request.extensions_mut().insert(tenant.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = spans::server_span(&method, &path, request.headers());
    let context = RequestContext::from_headers(request.headers()).within(&span);
    request.extensions_mut().insert(context.clone());

    let mut response = next.run(request).instrument(span.clone()).await;

    if response.status().is_client_error() || response.status().is_server_error() {
        response = ensure_problem(response, &context, &path, settings.unavailable_retry_after);
    }
    let headers = response.headers_mut();
    security_headers::apply(headers, &path, settings.hsts);
    if let Ok(id) = HeaderValue::from_str(&context.request_id) {
        headers.insert(REQUEST_ID, id);
    }
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or(UNMATCHED, |label| label.0.as_str());
    spans::record_response(&span, &method, route, response.status());
    let elapsed = started.elapsed();
    // Inside the request's span: the latency exemplar and the access line carry its trace.
    span.in_scope(|| {
        metrics::observe(method.as_str(), route, response.status().as_u16(), elapsed);
        access_log::record(&Access {
            method: &method,
            route,
            status: response.status(),
            duration: elapsed,
            tenant: tenant.get(),
            request_id: &context.request_id,
            trace_id: &context.trace_id,
        });
    });
    response
}

/// Errors produced outside the transcoding handler (framework rejections, docs assets) get the
/// same problem body as everything else: never a bare error status.
fn ensure_problem(
    response: Response,
    context: &RequestContext,
    path: &str,
    unavailable_retry_after: Duration,
) -> Response {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return response;
    }
    let status = response.status();
    let info = RequestInfo {
        trace_id: context.trace_id.clone(),
        request_id: context.request_id.clone(),
        path: path.to_owned(),
    };
    let mut problem = Problem::for_status(status);
    if status == http::StatusCode::SERVICE_UNAVAILABLE {
        problem.retry_after = Some(unavailable_retry_after);
    }
    if let Some(allow) = response
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
    {
        problem.allow = Some(allow.to_owned());
    }
    problem.into_response(&info)
}
