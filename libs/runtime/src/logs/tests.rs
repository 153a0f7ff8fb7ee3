use std::convert::Infallible;

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use testkit::logs::CapturedLogs;
use tower::ServiceExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use super::*;

/// Runs `f` with the process's fmt layer (into a buffer) and an OpenTelemetry layer without
/// exporter, as `telemetry::init` installs them; returns what was written.
fn captured(format: LogFormat, colour: bool, f: impl FnOnce()) -> String {
    let logs = CapturedLogs::new();
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer(format, colour, logs.clone()))
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::with_default(subscriber, f);
    logs.text()
}

/// The ids the OpenTelemetry layer gave `span`.
fn ids_of(span: &tracing::Span) -> (String, String) {
    let context = span.context();
    let ids = context.span().span_context().clone();
    (ids.trace_id().to_string(), ids.span_id().to_string())
}

#[test]
fn json_lines_inside_a_span_carry_its_ids_and_lines_outside_none() {
    let mut ids = None;
    let text = captured(LogFormat::Json, false, || {
        tracing::info!("before any span");
        let span = tracing::info_span!("request");
        ids = Some(ids_of(&span));
        span.in_scope(|| tracing::info!(answer = 42, "inside"));
    });
    let (trace_id, span_id) = ids.expect("span ids");
    assert_eq!(trace_id.len(), 32);
    assert_eq!(span_id.len(), 16);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].get("trace_id").is_none(), "{text}");
    assert!(lines[0].get("span_id").is_none(), "{text}");
    assert_eq!(lines[1]["trace_id"], trace_id.as_str());
    assert_eq!(lines[1]["span_id"], span_id.as_str());
    assert_eq!(lines[1]["fields"]["answer"], 42);
}

#[test]
fn text_lines_inside_a_span_carry_its_ids_and_lines_outside_none() {
    let mut ids = None;
    let text = captured(LogFormat::Pretty, false, || {
        tracing::info!("before any span");
        let outer = tracing::info_span!("outer");
        let _outer = outer.enter();
        let inner = tracing::info_span!("inner");
        ids = Some(ids_of(&inner));
        inner.in_scope(|| tracing::info!("inside"));
    });
    let (trace_id, span_id) = ids.expect("span ids");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(!lines[0].contains("trace_id"), "{text}");
    assert!(
        lines[1].ends_with(&format!(" trace_id={trace_id} span_id={span_id}")),
        "the innermost span's ids: {text}"
    );
}

#[test]
fn an_event_with_its_own_trace_id_gets_no_second_one_in_text() {
    let text = captured(LogFormat::Pretty, false, || {
        tracing::info_span!("request").in_scope(|| tracing::info!(trace_id = "abc", "access"));
    });
    assert_eq!(text.matches("trace_id=").count(), 1, "{text}");
}

#[test]
fn output_that_is_no_terminal_has_no_colours() {
    let colour = use_colour(false, None);
    assert!(!colour);
    let plain = captured(LogFormat::Pretty, colour, || {
        tracing::info_span!("request").in_scope(|| tracing::error!(field = 1, "failed"));
    });
    assert!(plain.contains("ERROR"), "{plain}");
    assert!(!plain.contains("\x1b["), "{plain:?}");
    // The same line for a terminal is coloured: the check above can fail.
    let coloured = captured(LogFormat::Pretty, true, || {
        tracing::info_span!("request").in_scope(|| tracing::error!(field = 1, "failed"));
    });
    assert!(coloured.contains("\x1b["), "{coloured:?}");
}

#[test]
fn colours_need_a_terminal_and_no_no_color() {
    assert!(use_colour(true, None));
    assert!(use_colour(true, Some("".into())));
    assert!(!use_colour(true, Some("1".into())));
    assert!(!use_colour(false, None));
}

/// Answers every call with `code` (a trailers-only gRPC response), through the servers'
/// tracing layer; returns what was logged at DEBUG and above.
async fn logged_for(code: tonic::Code) -> String {
    let logs = CapturedLogs::new();
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer(LogFormat::Pretty, false, logs.clone()))
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);
    let service = tower::ServiceBuilder::new()
        .layer(crate::grpc_trace::GrpcTraceLayer)
        .service_fn(move |_: http::Request<String>| async move {
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", (code as i32).to_string())
                .body(String::new())
                .expect("static response");
            Ok::<_, Infallible>(response)
        });
    let request = http::Request::new(String::new());
    service.oneshot(request).await.expect("infallible");
    logs.text()
}

#[tokio::test]
async fn a_client_error_is_logged_at_debug_and_ours_at_warn() {
    for code in [
        tonic::Code::Unauthenticated,
        tonic::Code::NotFound,
        tonic::Code::InvalidArgument,
        tonic::Code::AlreadyExists,
        tonic::Code::FailedPrecondition,
        tonic::Code::PermissionDenied,
        tonic::Code::ResourceExhausted,
    ] {
        let text = logged_for(code).await;
        assert!(
            text.contains("DEBUG") && text.contains("call refused"),
            "{code:?}: {text}"
        );
        assert!(
            !text.contains("ERROR") && !text.contains("WARN"),
            "{code:?}: {text}"
        );
    }
    for code in [tonic::Code::Internal, tonic::Code::Unavailable] {
        let text = logged_for(code).await;
        assert!(
            text.contains("WARN") && text.contains("call failed"),
            "{code:?}: {text}"
        );
        assert!(!text.contains("ERROR"), "{code:?}: {text}");
    }
}
