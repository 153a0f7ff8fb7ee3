//! An in-process OTLP/gRPC trace receiver: what an OpenTelemetry collector would get, kept in
//! memory (for tests, which look spans up by trace id) or only counted (the benchmark's sink).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use tokio::net::TcpListener;

/// Span kinds as OTLP numbers them.
pub mod kind {
    pub const INTERNAL: i32 = 1;
    pub const SERVER: i32 = 2;
    pub const CLIENT: i32 = 3;
    pub const PRODUCER: i32 = 4;
    pub const CONSUMER: i32 = 5;
}

/// OTLP's error status code.
pub const STATUS_ERROR: i32 = 2;

/// One received span, ids as lower-case hex and attribute values as text.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: i32,
    pub attributes: BTreeMap<String, String>,
    pub status_code: i32,
    pub status_message: String,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Default)]
struct Received {
    keep: bool,
    spans: Mutex<Vec<ReceivedSpan>>,
    count: AtomicU64,
}

/// A running receiver; clones share what it received. It serves until its runtime stops.
#[derive(Clone)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    received: Arc<Received>,
}

impl OtlpReceiver {
    /// Listens on `listen` (port 0 picks one) and keeps every span.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        Self::serve(listen, true).await
    }

    /// Listens on `listen` and only counts spans (bounded memory under load).
    pub async fn start_counting(listen: SocketAddr) -> std::io::Result<Self> {
        Self::serve(listen, false).await
    }

    async fn serve(listen: SocketAddr, keep: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Received {
            keep,
            ..Received::default()
        });
        let service = TraceServiceServer::new(Collector(received.clone()));
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        Ok(Self { addr, received })
    }

    /// The URL to configure as `telemetry.otlp_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Spans received so far (kept or not).
    pub fn count(&self) -> u64 {
        self.received.count.load(Ordering::Relaxed)
    }

    /// The kept spans of one trace (`trace_id` as 32 hex digits), in arrival order.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans(|span| span.trace_id == trace_id)
    }

    /// The kept spans that `filter` accepts, in arrival order.
    pub fn spans(&self, filter: impl Fn(&ReceivedSpan) -> bool) -> Vec<ReceivedSpan> {
        self.received
            .spans
            .lock()
            .map(|spans| spans.iter().filter(|s| filter(s)).cloned().collect())
            .unwrap_or_default()
    }
}

struct Collector(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut converted = Vec::new();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .map(value_text)
                .unwrap_or_default();
            for span in resource_spans
                .scope_spans
                .into_iter()
                .flat_map(|scope| scope.spans)
            {
                self.0.count.fetch_add(1, Ordering::Relaxed);
                if !self.0.keep {
                    continue;
                }
                let status = span.status.unwrap_or_default();
                converted.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), value_text(kv)))
                        .collect(),
                    status_code: status.code,
                    status_message: status.message,
                });
            }
        }
        if !converted.is_empty()
            && let Ok(mut spans) = self.0.spans.lock()
        {
            spans.extend(converted);
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn value_text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
