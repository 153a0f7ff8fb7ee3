//! W3C trace context (`traceparent` / `tracestate`) between `tracing` spans and HTTP headers or
//! gRPC metadata. The W3C propagator is used directly rather than the global one, so the wire
//! format does not depend on what a process installed. Without an OpenTelemetry layer (tracing
//! off) nothing is injected and extraction yields an empty context.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The caller's context from `traceparent` / `tracestate`, or `None` when absent or invalid (a
/// bad header starts a new trace; it never fails the request).
pub fn remote_parent(headers: &HeaderMap) -> Option<Context> {
    let context = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    context.span().span_context().is_valid().then_some(context)
}

/// Makes `span` a child of the caller's context in `headers`, when there is a valid one.
pub fn set_remote_parent(span: &tracing::Span, headers: &HeaderMap) {
    if let Some(parent) = remote_parent(headers) {
        // Fails only for a disabled or already started span: nothing to link then.
        let _ = span.set_parent(parent);
    }
}

/// Writes `span`'s context as `traceparent` / `tracestate` into `headers` (replacing any), so
/// the callee's span becomes its child. Nothing is written for a span without a valid context.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
}

/// As [`inject`], into gRPC metadata.
pub fn inject_metadata(span: &tracing::Span, metadata: &mut tonic::metadata::MetadataMap) {
    let mut headers = HeaderMap::new();
    inject(span, &mut headers);
    for key in [TRACEPARENT, TRACESTATE] {
        if let Some(value) = headers
            .get(key)
            .and_then(|v| tonic::metadata::AsciiMetadataValue::try_from(v.as_bytes()).ok())
        {
            metadata.insert(key, value);
        }
    }
}

/// Renames `span` once what names it is known (the gateway's route). Recording `otel.name`
/// would be ignored by the OpenTelemetry layer for a span already started.
pub fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

/// The trace id of `span` as 32 lower-case hex digits, `None` without a valid context.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context
        .is_valid()
        .then(|| format!("{:032x}", span_context.trace_id()))
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with_otel<T>(f: impl FnOnce() -> T) -> T {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn a_child_span_continues_the_callers_trace_and_is_injected_as_the_next_parent() {
        with_otel(|| {
            let mut incoming = HeaderMap::new();
            incoming.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
            incoming.insert(TRACESTATE, HeaderValue::from_static("vendor=abc"));
            let span = tracing::info_span!("server");
            set_remote_parent(&span, &incoming);
            assert_eq!(
                trace_id(&span).as_deref(),
                Some("4bf92f3577b34da6a3ce929d0e0e4736")
            );

            let mut outgoing = HeaderMap::new();
            inject(&span, &mut outgoing);
            let sent = outgoing[TRACEPARENT].to_str().expect("ascii");
            assert!(
                sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
                "{sent}"
            );
            assert!(
                !sent.contains("00f067aa0ba902b7"),
                "the span's own id is the parent"
            );
            assert!(sent.ends_with("-01"));
            assert_eq!(outgoing[TRACESTATE], "vendor=abc");
        });
    }

    #[test]
    fn invalid_headers_give_no_parent() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_static(bad));
            assert!(remote_parent(&headers).is_none(), "{bad}");
        }
        assert!(remote_parent(&HeaderMap::new()).is_none());
    }

    #[test]
    fn without_an_opentelemetry_layer_nothing_is_injected() {
        let span = tracing::info_span!("plain");
        let mut headers = HeaderMap::new();
        inject(&span, &mut headers);
        assert!(headers.is_empty());
        assert_eq!(trace_id(&span), None);
    }
}
