//! The edge's OpenTelemetry spans: one HTTP server span per request (the caller's W3C
//! `traceparent`/`tracestate` as parent when valid) and one gRPC client span per upstream call,
//! whose context travels upstream so the service's server span is its child.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use tracing::Span;
use tracing::field::Empty;

use crate::error::Error;

/// The request's server span; route and status are recorded by [`record_response`].
pub fn server_span(method: &Method, path: &str, headers: &HeaderMap) -> Span {
    let span = tracing::info_span!(
        "http.server",
        otel.name = %method,
        otel.kind = "server",
        http.request.method = %method,
        http.route = Empty,
        url.path = %path,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        tenant.id = Empty,
    );
    runtime::trace_context::set_remote_parent(&span, headers);
    span
}

/// Names the span `"{method} {route}"` and records the status; a 5xx is an error of ours, a 4xx
/// the client's (OpenTelemetry HTTP server conventions).
pub fn record_response(span: &Span, method: &Method, route: &str, status: StatusCode) {
    runtime::trace_context::rename(span, format!("{method} {route}"));
    span.record("http.route", route);
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

/// A client span for one upstream call of `full_method` (`pkg.Service/Method`).
pub fn client_span(full_method: &str) -> Span {
    let (service, method) = full_method.split_once('/').unwrap_or((full_method, ""));
    tracing::info_span!(
        "grpc.client",
        otel.name = %full_method,
        otel.kind = "client",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

/// Records the call's gRPC status; for a client span any status but OK is an error.
pub fn record_client_result(span: &Span, result: &Result<Bytes, Error>) {
    let code = match result {
        Ok(_) => tonic::Code::Ok,
        Err(Error::Upstream(status)) => status.code(),
        Err(Error::Unavailable { .. }) => tonic::Code::Unavailable,
        Err(Error::DeadlineExceeded) => tonic::Code::DeadlineExceeded,
        Err(_) => tonic::Code::Internal,
    };
    span.record("rpc.grpc.status_code", code as i32);
    if let Err(error) = result {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", error.to_string());
    }
}
