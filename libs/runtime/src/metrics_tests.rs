//! The admin ports of components sharing a process, and exemplars from a traced call.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::{Layer as _, Service, ServiceExt as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::CancellationToken;
use crate::config::ServerSettings;
use crate::exposition;
use crate::grpc::{GrpcServer, GrpcServices};
use crate::metrics::GrpcMetricsLayer;

fn settings() -> ServerSettings {
    ServerSettings {
        grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        request_timeout_secs: 5,
        concurrency_limit: 8,
        drain_delay_secs: 0,
        shutdown_grace_secs: 1,
        max_connection_age_secs: 0,
        readiness_interval_ms: 2_000,
        readiness_timeout_ms: 1_000,
    }
}

/// `GET /metrics` on an admin port: the content type and the body.
async fn scrape(admin: SocketAddr, accept: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(admin)
        .await
        .expect("admin port");
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {admin}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let content_type = head
        .lines()
        .find_map(|line| line.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (content_type, body.to_owned())
}

async fn health_checks(addr: SocketAddr, times: usize) {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    let mut health = HealthClient::new(channel);
    for _ in 0..times {
        health
            .check(HealthCheckRequest::default())
            .await
            .expect("serving");
    }
}

#[tokio::test]
async fn each_admin_port_shows_only_its_components_grpc_series() {
    let alpha = GrpcServer::bind("alpha-metrics", &settings())
        .await
        .expect("binds");
    let beta = GrpcServer::bind("beta-metrics", &settings())
        .await
        .expect("binds");
    let (alpha_grpc, alpha_admin) = (
        alpha.grpc_addr().expect("a"),
        alpha.admin_addr().expect("a"),
    );
    let (beta_grpc, beta_admin) = (beta.grpc_addr().expect("b"), beta.admin_addr().expect("b"));
    let stop = CancellationToken::new();
    let servers = [
        tokio::spawn(alpha.serve(GrpcServices::new(), stop.clone())),
        tokio::spawn(beta.serve(GrpcServices::new(), stop.clone())),
    ];

    health_checks(alpha_grpc, 2).await;
    health_checks(beta_grpc, 1).await;

    let handled = "grpc_server_handled_total{component=";
    let check = r#"grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"} "#;
    let (content_type, alpha_text) = scrape(alpha_admin, "text/plain").await;
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let (_, beta_text) = scrape(beta_admin, "*/*").await;
    // Other tests of this binary run servers too; these two components' lines are the point.
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| line.starts_with(handled) && line.contains("-metrics\","))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        lines(&alpha_text),
        [format!(r#"{handled}"alpha-metrics",{check}2"#)]
    );
    assert_eq!(
        lines(&beta_text),
        [format!(r#"{handled}"beta-metrics",{check}1"#)]
    );

    let (content_type, open) = scrape(alpha_admin, "application/openmetrics-text").await;
    assert_eq!(content_type, exposition::OPENMETRICS_TYPE);
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE grpc_server_handled counter\n"),
        "{open}"
    );

    stop.cancel();
    for server in servers {
        server.await.expect("joined").expect("stopped cleanly");
    }
}

/// Answers every call with an empty OK response.
#[derive(Clone)]
struct Ok200;

impl Service<http::Request<tonic::body::Body>> for Ok200 {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(tonic::body::Body::empty())))
    }
}

/// A call through the metrics layer inside a span of a sampled trace.
async fn traced_call(trace_id: TraceId, sampled: bool) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let parent = SpanContext::new(
        trace_id,
        SpanId::from_hex("b7ad6b7169203331").expect("hex"),
        flags,
        true,
        TraceState::default(),
    );
    let span = tracing::info_span!("server");
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    let mut service = GrpcMetricsLayer::new("exemplar-test").layer(Ok200);
    let request = http::Request::builder()
        .uri("/test.v1.Traced/Call")
        .body(tonic::body::Body::empty())
        .expect("request");
    let ready = service.ready().await.expect("ready");
    let call = span.in_scope(|| ready.call(request));
    call.await.expect("answered");
}

#[tokio::test(flavor = "current_thread")]
async fn a_traced_call_leaves_its_trace_id_as_an_exemplar_in_openmetrics_only() {
    let sampled = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
    let unsampled = TraceId::from_hex("00f067aa0ba902b700f067aa0ba902b7").expect("hex");
    traced_call(unsampled, false).await;
    traced_call(sampled, true).await;

    let families = exposition::gather(None);
    let open = exposition::openmetrics_text(&families);
    let exemplar = format!("# {{trace_id=\"{sampled}\"}} ");
    let bucket = open
        .lines()
        .find(|line| line.contains("component=\"exemplar-test\"") && line.contains(&exemplar))
        .unwrap_or_else(|| panic!("no exemplar for {sampled} in\n{open}"));
    assert!(
        bucket.starts_with("grpc_server_handling_seconds_bucket{"),
        "{bucket}"
    );
    assert!(
        !open.contains(&unsampled.to_string()),
        "unsampled traces leave none"
    );

    let plain = exposition::prometheus_text(&families).expect("renders");
    assert!(
        !plain.contains("trace_id"),
        "no exemplars in the Prometheus format"
    );
    for line in plain.lines().filter(|line| !line.starts_with('#')) {
        // `name{labels} value`: the value is the last field and a number.
        let (series, value) = line.rsplit_once(' ').expect("a value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        assert!(
            series
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'),
            "{line}"
        );
    }
}
