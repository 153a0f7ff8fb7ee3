//! Prometheus metrics for every gRPC call, recorded by one tower layer and labelled with the
//! component that serves it, and the text rendering of the whole default registry.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, Opts, register_histogram_vec,
    register_int_counter_vec,
};
use tower::{Layer, Service};

use crate::exemplars;
use crate::exposition::COMPONENT_LABEL;

const LATENCY_NAME: &str = "grpc_server_handling_seconds";
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLED: LazyLock<Option<IntCounterVec>> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new(
            "grpc_server_handled_total",
            "gRPC calls completed, by method and status code"
        ),
        &[COMPONENT_LABEL, "grpc_service", "grpc_method", "grpc_code"]
    )
    .ok()
});

static LATENCY: LazyLock<Option<HistogramVec>> = LazyLock::new(|| {
    register_histogram_vec!(
        HistogramOpts::new(
            LATENCY_NAME,
            "Time from request headers to response headers"
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &[COMPONENT_LABEL, "grpc_service", "grpc_method"]
    )
    .ok()
});

/// Renders the whole default registry (every component) in the Prometheus text format.
pub fn render() -> Result<String, prometheus::Error> {
    crate::exposition::prometheus_text(&crate::exposition::gather(None))
}

/// Records `grpc_server_handled_total` and `grpc_server_handling_seconds` for each call, under
/// the serving component's name, with the call's trace as the latency exemplar when sampled.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    component: Arc<str>,
}

impl GrpcMetricsLayer {
    pub fn new(component: &str) -> Self {
        Self {
            component: component.into(),
        }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            component: self.component.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    component: Arc<str>,
}

impl<S, B, ResB> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(request.uri().path());
        let component = self.component.clone();
        // The server span encloses this layer: its trace is the request's.
        let trace_id = exemplars::current_trace_id();
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                // Errors are sent trailers-only, so their status is in the headers; a success
                // carries its status in trailers we do not wait for.
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map(code_name)
                    .unwrap_or("OK"),
                Err(_) => "TRANSPORT_ERROR",
            };
            let elapsed = started.elapsed().as_secs_f64();
            if let Some(latency) = LATENCY.as_ref() {
                latency
                    .with_label_values(&[&*component, service.as_str(), method.as_str()])
                    .observe(elapsed);
            }
            if let Some(trace_id) = trace_id {
                let labels = [
                    (COMPONENT_LABEL, &*component),
                    ("grpc_service", service.as_str()),
                    ("grpc_method", method.as_str()),
                ];
                exemplars::record(LATENCY_NAME, &labels, LATENCY_BUCKETS, elapsed, trace_id);
            }
            if let Some(handled) = HANDLED.as_ref() {
                handled
                    .with_label_values(&[&*component, service.as_str(), method.as_str(), code])
                    .inc();
            }
            result
        })
    }
}

fn split_path(path: &str) -> (String, String) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default().to_owned();
    let method = parts.next().unwrap_or_default().to_owned();
    (service, method)
}

fn code_name(code: &str) -> &'static str {
    match code.parse::<i32>().map(tonic::Code::from) {
        Ok(tonic::Code::Ok) => "OK",
        Ok(tonic::Code::Cancelled) => "CANCELLED",
        Ok(tonic::Code::InvalidArgument) => "INVALID_ARGUMENT",
        Ok(tonic::Code::DeadlineExceeded) => "DEADLINE_EXCEEDED",
        Ok(tonic::Code::NotFound) => "NOT_FOUND",
        Ok(tonic::Code::AlreadyExists) => "ALREADY_EXISTS",
        Ok(tonic::Code::PermissionDenied) => "PERMISSION_DENIED",
        Ok(tonic::Code::ResourceExhausted) => "RESOURCE_EXHAUSTED",
        Ok(tonic::Code::FailedPrecondition) => "FAILED_PRECONDITION",
        Ok(tonic::Code::Aborted) => "ABORTED",
        Ok(tonic::Code::Unimplemented) => "UNIMPLEMENTED",
        Ok(tonic::Code::Internal) => "INTERNAL",
        Ok(tonic::Code::Unavailable) => "UNAVAILABLE",
        Ok(tonic::Code::Unauthenticated) => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/salescompass.tenants.v1.UserService/GetUser"),
            (
                "salescompass.tenants.v1.UserService".to_owned(),
                "GetUser".to_owned()
            )
        );
    }

    #[test]
    fn numeric_codes_get_their_names() {
        assert_eq!(code_name("5"), "NOT_FOUND");
        assert_eq!(code_name("garbage"), "UNKNOWN");
    }
}
