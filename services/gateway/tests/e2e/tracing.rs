//! One REST request is one trace, exported over OTLP to an in-process receiver: the gateway's
//! server and client spans, the CRM's gRPC server span and store spans, the relay's publish span
//! and the commissions consumer's span, linked parent to child, in the trace the caller named
//! with `traceparent`; an error body's `traceId` is the id of a trace that shows the error.
//!
//! The services' test helpers install a global fmt subscriber, so the telemetry subscriber of
//! `runtime::telemetry` (exporting to the receiver) is made the default of the test's thread
//! instead: the test's current-thread runtime polls every service on it.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::otlp::{OtlpReceiver, ReceivedSpan, STATUS_ERROR, kind};

use crate::commissions_journeys::commissions_platform;
use crate::helpers::{expect_json, expect_problem};

/// Generous: events cross two services and the broker on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

struct Telemetry {
    receiver: OtlpReceiver,
    dispatch: tracing::Dispatch,
}

/// One receiver and one exporting subscriber for the test binary, both living on a runtime of
/// their own (the exporter's connection must outlive each test's runtime).
fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(|| {
        let (sent, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("telemetry runtime");
            rt.block_on(async move {
                let receiver = OtlpReceiver::start(([127, 0, 0, 1], 0).into())
                    .await
                    .expect("receiver binds");
                let settings = runtime::config::TelemetrySettings {
                    otlp_endpoint: Some(receiver.endpoint()),
                    otlp_batch_delay_ms: 50,
                    log_filter:
                        "warn,runtime=info,gateway=info,crm=info,commissions=info,events=info"
                            .to_owned(),
                    ..Default::default()
                };
                let (subscriber, _guard) =
                    runtime::telemetry::subscriber("e2e", &settings).expect("telemetry");
                let dispatch = tracing::Dispatch::new(subscriber);
                let _ = sent.send(Telemetry { receiver, dispatch });
                // Keeps the exporter (guard) and its connection alive for the whole binary.
                std::future::pending::<()>().await;
            });
        });
        received.recv().expect("telemetry started")
    })
}

fn random_hex(len: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..len].to_owned()
}

/// The trace's spans once `done` holds for them, or a failure listing what arrived.
async fn trace_when(
    receiver: &OtlpReceiver,
    trace_id: &str,
    done: impl Fn(&[ReceivedSpan]) -> bool,
) -> Vec<ReceivedSpan> {
    let found = testkit::poll_until(DEADLINE, || async {
        let spans = receiver.trace(trace_id);
        done(&spans).then_some(spans)
    })
    .await;
    found.unwrap_or_else(|| {
        let names: Vec<String> = receiver
            .trace(trace_id)
            .iter()
            .map(|s| format!("{} ({})", s.name, s.span_id))
            .collect();
        panic!("trace {trace_id} never complete; received {names:?}")
    })
}

fn find(spans: &[ReceivedSpan], what: impl Fn(&ReceivedSpan) -> bool) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| what(s))
}

/// Whether `ancestor` is on `span`'s parent chain within `spans`.
fn descends_from(spans: &[ReceivedSpan], span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
    let by_id: HashMap<&str, &ReceivedSpan> =
        spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let mut current = span;
    for _ in 0..spans.len() {
        if current.parent_span_id == ancestor.span_id {
            return true;
        }
        match by_id.get(current.parent_span_id.as_str()) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

const MOVE_STAGE: &str = "salescompass.crm.v1.OpportunityService/MoveStage";

fn is_gateway_server(s: &ReceivedSpan) -> bool {
    s.kind == kind::SERVER && s.attr("http.request.method").is_some()
}
fn is_gateway_client(s: &ReceivedSpan) -> bool {
    s.kind == kind::CLIENT && s.attr("rpc.system") == Some("grpc")
}
fn is_crm_server(s: &ReceivedSpan) -> bool {
    s.kind == kind::SERVER && s.name == MOVE_STAGE
}
fn is_store(s: &ReceivedSpan) -> bool {
    s.kind == kind::CLIENT && s.attr("db.system") == Some("postgresql")
}
fn is_relay(s: &ReceivedSpan) -> bool {
    s.kind == kind::PRODUCER && s.attr("messaging.system") == Some("rabbitmq")
}
fn is_consumer(s: &ReceivedSpan) -> bool {
    s.kind == kind::CONSUMER
        && s.attr("event_type") == Some("crm.opportunity.won")
        && s.attr("messaging.operation.type") == Some("process")
}

#[tokio::test]
async fn one_rest_call_is_one_trace_from_the_caller_to_the_commissions_consumer() {
    let telemetry = telemetry();
    let _scoped = tracing::dispatcher::set_default(&telemetry.dispatch);
    let receiver = &telemetry.receiver;

    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("traced").await;
    let token = tenant.token.as_str();
    let pipelines = p.call(Method::GET, "/v1/pipelines", token, None).await;
    let won = pipelines["pipelines"][0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|s| s["category"] == "STAGE_CATEGORY_WON")
        .expect("a won stage")["id"]
        .clone();
    let deal = p
        .call(
            Method::POST,
            "/v1/opportunities",
            token,
            Some(json!({
                "name": "Traced deal",
                "amount": {"currencyCode": "USD", "units": "500", "nanos": 0}
            })),
        )
        .await;
    let deal_id = deal["id"].as_str().expect("deal id").to_owned();

    // The caller's own trace: the win must land in it.
    let (trace_id, caller_span) = (random_hex(32), random_hex(16));
    let response = p
        .authed(
            Method::POST,
            &format!("/v1/opportunities/{deal_id}:moveStage"),
            token,
        )
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("tracestate", "caller=yes")
        .json(&json!({"stageId": won}))
        .send()
        .await
        .expect("move sent");
    expect_json(response, StatusCode::OK).await;

    let spans = trace_when(receiver, &trace_id, |spans| {
        [
            is_gateway_server as fn(&ReceivedSpan) -> bool,
            is_gateway_client,
            is_crm_server,
            is_store,
            is_relay,
            is_consumer,
        ]
        .iter()
        .all(|is| spans.iter().any(is))
    })
    .await;

    let edge = find(&spans, is_gateway_server).expect("gateway server span");
    assert_eq!(
        edge.parent_span_id, caller_span,
        "the caller's span is the parent"
    );
    assert_eq!(edge.name, "POST /v1/opportunities/{id}:moveStage");
    assert_eq!(edge.attr("http.request.method"), Some("POST"));
    assert_eq!(
        edge.attr("http.route"),
        Some("/v1/opportunities/{id}:moveStage")
    );
    assert_eq!(edge.attr("http.response.status_code"), Some("200"));
    assert_eq!(edge.attr("tenant.id"), Some(tenant.tenant_id.as_str()));

    let client = find(&spans, is_gateway_client).expect("gateway client span");
    assert_eq!(client.parent_span_id, edge.span_id);
    assert_eq!(client.name, MOVE_STAGE);
    assert_eq!(client.attr("rpc.grpc.status_code"), Some("0"));

    let server = find(&spans, is_crm_server).expect("crm server span");
    assert_eq!(server.parent_span_id, client.span_id);
    assert_eq!(server.attr("rpc.system"), Some("grpc"));
    assert_eq!(
        server.attr("rpc.service"),
        Some("salescompass.crm.v1.OpportunityService")
    );
    assert_eq!(server.attr("rpc.method"), Some("MoveStage"));
    assert_eq!(server.attr("rpc.grpc.status_code"), Some("0"));
    assert_eq!(server.attr("tenant.id"), Some(tenant.tenant_id.as_str()));

    let store = find(&spans, |s| is_store(s) && descends_from(&spans, s, server))
        .expect("a store span under the crm server span");
    assert!(
        store
            .attr("db.operation.name")
            .is_some_and(|op| !op.is_empty())
    );
    let outbox = find(&spans, |s| s.name.starts_with("events.outbox.enqueue"));
    assert!(
        outbox.is_some_and(|s| descends_from(&spans, s, server)),
        "the outbox write is under the crm server span"
    );

    // The win is one of the move's events: its publish span continues the request's trace and
    // is the parent of the commissions consumer's span.
    let consumer = find(&spans, is_consumer).expect("commissions consumer span");
    let relay = find(&spans, |s| s.span_id == consumer.parent_span_id)
        .expect("the consumer's parent is in the trace");
    assert!(
        is_relay(relay),
        "the consumer's parent is a publish span: {relay:?}"
    );
    assert_eq!(relay.attr("event_type"), Some("crm.opportunity.won"));
    assert!(
        descends_from(&spans, relay, server),
        "the publish continues the request's trace"
    );

    // The caller's trace is the only one: no other trace holds this request's spans.
    let elsewhere = receiver.spans(|s| {
        s.trace_id != trace_id && is_crm_server(s) && s.attr("tenant.id") == Some(&tenant.tenant_id)
    });
    assert!(
        elsewhere.is_empty(),
        "MoveStage spans in other traces: {elsewhere:?}"
    );

    // An error body names its trace, and that trace shows the error.
    let missing = uuid::Uuid::now_v7();
    let response = p
        .authed(Method::GET, &format!("/v1/opportunities/{missing}"), token)
        .send()
        .await
        .expect("get sent");
    let problem = expect_problem(response, StatusCode::NOT_FOUND).await;
    let error_trace = problem["traceId"].as_str().expect("trace id").to_owned();
    let spans = trace_when(receiver, &error_trace, |spans| {
        spans.iter().any(is_gateway_server) && spans.iter().any(|s| s.status_code == STATUS_ERROR)
    })
    .await;
    let edge = find(&spans, is_gateway_server).expect("gateway server span");
    assert_eq!(edge.attr("http.response.status_code"), Some("404"));
    assert!(
        edge.parent_span_id.is_empty(),
        "no caller context: a new trace"
    );
    let failed = find(&spans, |s| s.status_code == STATUS_ERROR).expect("error span");
    assert_eq!(failed.attr("rpc.grpc.status_code"), Some("5"), "NOT_FOUND");
}
