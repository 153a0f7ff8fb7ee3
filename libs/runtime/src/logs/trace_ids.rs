//! `trace_id` and `span_id` on every line written inside a span, so a log search by the id in
//! an error body or a trace finds the lines of that request.

use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// The W3C ids of an OpenTelemetry span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

impl TraceIds {
    /// The span the thread is in. The OpenTelemetry layer activates a span's context when the
    /// span is entered, so this is the current `tracing` span's context. (`Span::current()`
    /// cannot be asked from inside a formatter: the dispatcher is busy with the event and
    /// answers "no span".) `None` outside a span, or without the OpenTelemetry layer.
    pub fn current() -> Option<Self> {
        let context = opentelemetry::Context::current();
        let span = context.span();
        let ids = span.span_context();
        ids.is_valid().then(|| Self {
            trace_id: ids.trace_id(),
            span_id: ids.span_id(),
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Style {
    /// `{…,"trace_id":"…","span_id":"…"}`
    Json,
    /// `… trace_id=… span_id=…`
    Text,
}

/// Wraps an event format, adding the current span's ids to each line. The inner format writes
/// into a buffer, and the ids go before its closing brace (JSON) or its newline (text).
pub struct WithTraceIds<F> {
    inner: F,
    style: Style,
}

impl<F> WithTraceIds<F> {
    pub fn json(inner: F) -> Self {
        Self {
            inner,
            style: Style::Json,
        }
    }

    pub fn text(inner: F) -> Self {
        Self {
            inner,
            style: Style::Text,
        }
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(ids) = TraceIds::current() else {
            return self.inner.format_event(ctx, writer, event);
        };
        // An event that names its own trace id (the access log's fallback) keeps a text line
        // free of a second one.
        if matches!(self.style, Style::Text)
            && event.metadata().fields().field("trace_id").is_some()
        {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut format = |line: &mut String| -> fmt::Result {
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            let at = match self.style {
                Style::Json => line.rfind('}'),
                Style::Text => line.rfind('\n'),
            }
            .unwrap_or(line.len());
            let ids = match self.style {
                Style::Json => format!(
                    r#","trace_id":"{}","span_id":"{}""#,
                    ids.trace_id, ids.span_id
                ),
                Style::Text => format!(" trace_id={} span_id={}", ids.trace_id, ids.span_id),
            };
            line.insert_str(at, &ids);
            writer.write_str(line)
        };
        // A formatter that logs while formatting finds the buffer taken and uses its own.
        LINE.with(|line| match line.try_borrow_mut() {
            Ok(mut line) => format(&mut line),
            Err(_) => format(&mut String::new()),
        })
    }
}
