//! One OpenTelemetry server span per gRPC call, for every service behind [`crate::grpc`]:
//! named `<package.Service>/<Method>`, kind SERVER, `rpc.*` attributes, the caller's W3C
//! `traceparent`/`tracestate` as parent, and `rpc.grpc.status_code` from the response headers
//! (errors are sent trailers-only) or from the trailers at the end of the body. The span lasts
//! until the body is sent and is current while the service runs, so handler, store and outbox
//! spans are its children; `tenant.id` is declared empty for the authenticator to record.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};
use tracing::Span;
use tracing::field::Empty;

use crate::trace_context;

/// The field a service records the authenticated caller's tenant in.
pub const TENANT_ID_FIELD: &str = "tenant.id";

/// Records the caller's tenant on the current server span (a no-op outside one).
pub fn record_tenant(tenant_id: &dyn std::fmt::Display) {
    Span::current().record(TENANT_ID_FIELD, tracing::field::display(tenant_id));
}

/// Wraps each call in a server span; see the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcTraceLayer;

impl<S> Layer<S> for GrpcTraceLayer {
    type Service = GrpcTrace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcTrace { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcTrace<S> {
    inner: S,
}

impl<S, B, ResB> Service<http::Request<B>> for GrpcTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResB>>,
{
    type Response = http::Response<TracedBody<ResB>>;
    type Error = S::Error;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let span = server_span(request.uri().path(), request.headers());
        let future = span.in_scope(|| self.inner.call(request));
        TracedFuture {
            inner: future,
            span: Some(span),
        }
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_path(path: &str) -> (&str, &str) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    )
}

fn server_span(path: &str, headers: &HeaderMap) -> Span {
    let (service, method) = split_path(path);
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path.trim_start_matches('/'),
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
        tenant.id = Empty,
    );
    trace_context::set_remote_parent(&span, headers);
    span
}

/// Whether a gRPC status is a fault of the server (the OpenTelemetry semantic conventions for
/// server spans): a client's mistake (NOT_FOUND, INVALID_ARGUMENT, …) leaves the status unset.
fn is_server_fault(code: tonic::Code) -> bool {
    code != tonic::Code::Ok && !crate::logs::is_client_error(code)
}

/// Records `grpc-status` (and for a server fault the error status with `grpc-message`) from
/// headers or trailers; `false` when they carry no status.
fn record_status(span: &Span, headers: &HeaderMap) -> bool {
    let Some(status) = tonic::Status::from_header_map(headers) else {
        return false;
    };
    let code = status.code();
    span.record("rpc.grpc.status_code", code as i32);
    if code != tonic::Code::Ok {
        crate::logs::log_failed_call(span, &status);
    }
    if is_server_fault(code) {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", status.message());
    }
    true
}

pin_project_lite::pin_project! {
    /// The service's response future, polled inside the server span.
    pub struct TracedFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F, ResB, E> Future for TracedFuture<F>
where
    F: Future<Output = Result<http::Response<ResB>, E>>,
{
    type Output = Result<http::Response<TracedBody<ResB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.as_ref().map(Span::enter);
            match this.inner.poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        let span = this.span.take().unwrap_or_else(Span::none);
        Poll::Ready(match result {
            Ok(response) => {
                // Trailers-only: the status is already known and the body is empty.
                let done = record_status(&span, response.headers());
                Ok(response.map(|inner| TracedBody { inner, span, done }))
            }
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", "transport error");
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body; holds the span open until the trailers are sent.
    pub struct TracedBody<B> {
        #[pin]
        inner: B,
        span: Span,
        done: bool,
    }
}

impl<B: Body> Body for TracedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if !*this.done {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        *this.done = record_status(this.span, trailers);
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    this.span.record("otel.status_code", "ERROR");
                    this.span
                        .record("otel.status_description", "response body failed");
                    *this.done = true;
                }
                Poll::Ready(None) => {
                    // Ended cleanly without a status in trailers: tonic's OK.
                    this.span
                        .record("rpc.grpc.status_code", tonic::Code::Ok as i32);
                    *this.done = true;
                }
                Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/salescompass.crm.v1.LeadService/CreateLead"),
            ("salescompass.crm.v1.LeadService", "CreateLead")
        );
        assert_eq!(split_path("/"), ("", ""));
    }

    #[test]
    fn only_server_faults_are_errors() {
        assert!(is_server_fault(tonic::Code::Internal));
        assert!(is_server_fault(tonic::Code::Unavailable));
        assert!(!is_server_fault(tonic::Code::NotFound));
        assert!(!is_server_fault(tonic::Code::InvalidArgument));
        assert!(!is_server_fault(tonic::Code::Unauthenticated));
    }
}
