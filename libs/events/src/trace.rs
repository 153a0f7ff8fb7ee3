//! W3C trace context (`traceparent` / `tracestate`) between tracing spans, the envelope and AMQP
//! headers. Formatting is done here rather than through a global propagator so the wire format is
//! W3C whatever propagator the process installed, and works with no OpenTelemetry layer at all.

use opentelemetry::{
    Context,
    trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

const VERSION: &str = "00";

/// W3C trace context as two header values; empty strings when there is no valid context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceContext {
    pub(crate) traceparent: String,
    pub(crate) tracestate: String,
}

impl TraceContext {
    /// Context of `span` if an OpenTelemetry layer gives it one.
    pub(crate) fn of_span(span: &tracing::Span) -> Self {
        let context = span.context();
        let span_ref = context.span();
        Self::from_span_context(span_ref.span_context())
    }

    pub(crate) fn from_span_context(span_context: &SpanContext) -> Self {
        if !span_context.is_valid() {
            return Self::default();
        }
        Self {
            traceparent: format!(
                "{VERSION}-{:032x}-{:016x}-{:02x}",
                span_context.trace_id(),
                span_context.span_id(),
                span_context.trace_flags()
            ),
            tracestate: span_context.trace_state().header(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.traceparent.is_empty()
    }

    /// Parses the headers into a remote span context; `None` when absent or malformed (a bad
    /// header from another system must not fail the event, it only loses the link).
    pub(crate) fn to_span_context(&self) -> Option<SpanContext> {
        let mut parts = self.traceparent.trim().split('-');
        let (version, trace_id, span_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION
            || parts.next().is_some()
            || trace_id.len() != 32
            || span_id.len() != 16
            || flags.len() != 2
        {
            return None;
        }
        let trace_id = TraceId::from_hex(trace_id).ok()?;
        let span_id = SpanId::from_hex(span_id).ok()?;
        let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
        let state = self.tracestate.parse::<TraceState>().unwrap_or_default();
        let span_context = SpanContext::new(trace_id, span_id, flags, true, state);
        span_context.is_valid().then_some(span_context)
    }

    /// Makes `span` a child of this remote context, so producer, relay and consumer spans form
    /// one trace. A no-op without an OpenTelemetry layer or without a valid context.
    pub(crate) fn set_as_parent_of(&self, span: &tracing::Span) {
        if let Some(remote) = self.to_span_context() {
            // Fails only when the span is already started or disabled; either way nothing to link.
            let _ = span.set_parent(Context::new().with_remote_span_context(remote));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_round_trips_through_a_span_context() {
        let context = TraceContext {
            traceparent: PARENT.to_owned(),
            tracestate: "vendor=value".to_owned(),
        };
        let span_context = context.to_span_context().expect("valid traceparent");
        assert!(span_context.is_remote());
        assert!(span_context.is_sampled());
        assert_eq!(TraceContext::from_span_context(&span_context), context);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            let context = TraceContext {
                traceparent: bad.to_owned(),
                tracestate: String::new(),
            };
            assert!(context.to_span_context().is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_span_without_an_opentelemetry_layer_has_no_context() {
        let context = TraceContext::of_span(&tracing::Span::current());
        assert!(context.is_empty());
    }
}
