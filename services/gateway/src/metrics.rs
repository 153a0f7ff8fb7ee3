//! Prometheus metrics of the edge, in the default registry served on the admin port, labelled
//! `component="gateway"` so a process running services too keeps them apart.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
use runtime::exemplars;
use runtime::exposition::COMPONENT_LABEL;

/// Label for requests that matched no route, so unknown paths cannot explode cardinality.
pub const UNMATCHED: &str = "unmatched";

/// The gateway's component name on its series and admin port.
pub const COMPONENT: &str = "gateway";

const LATENCY_NAME: &str = "gateway_http_request_duration_seconds";
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let counter = IntCounterVec::new(
        Opts::new(
            "gateway_http_requests_total",
            "HTTP requests by method, route template and status",
        ),
        &[COMPONENT_LABEL, "method", "route", "status"],
    )
    .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
    register(Box::new(counter.clone()));
    counter
});

static LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    let histogram = HistogramVec::new(
        HistogramOpts::new(
            LATENCY_NAME,
            "Time from request to response head, by method and route template",
        )
        .buckets(LATENCY_BUCKETS.to_vec()),
        &[COMPONENT_LABEL, "method", "route"],
    )
    .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
    register(Box::new(histogram.clone()));
    histogram
});

fn register(collector: Box<dyn prometheus::core::Collector>) {
    // Registration only fails for duplicates, e.g. a second gateway in the same test process.
    if let Err(error) = prometheus::default_registry().register(collector) {
        tracing::debug!(%error, "metric already registered");
    }
}

/// Counts a request and its latency; the latency's exemplar is the trace of the current span
/// (the request's server span), when sampled.
pub fn observe(method: &str, route: &str, status: u16, elapsed: Duration) {
    REQUESTS
        .with_label_values(&[COMPONENT, method, route, status_label(status)])
        .inc();
    let seconds = elapsed.as_secs_f64();
    LATENCY
        .with_label_values(&[COMPONENT, method, route])
        .observe(seconds);
    if let Some(trace_id) = exemplars::current_trace_id() {
        let labels = [
            (COMPONENT_LABEL, COMPONENT),
            ("method", method),
            ("route", route),
        ];
        exemplars::record(LATENCY_NAME, &labels, LATENCY_BUCKETS, seconds, trace_id);
    }
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        504 => "504",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_requests_appear_in_the_text_format() {
        observe("GET", "/v1/users", 200, Duration::from_millis(3));
        let text = runtime::metrics::render().expect("renders");
        assert!(text.contains("gateway_http_requests_total"), "{text}");
        assert!(text.contains(r#"route="/v1/users""#), "{text}");
        assert!(text.contains("gateway_http_request_duration_seconds_bucket"));
    }
}
