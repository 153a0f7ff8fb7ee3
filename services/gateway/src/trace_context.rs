//! Request ids and W3C trace context: taken from the request when valid, generated otherwise,
//! and forwarded to the services as gRPC metadata. With tracing on, the trace id is the one of
//! the request's server span (the caller's, or a new trace); the generated ids here stand in
//! only when the OpenTelemetry layer is off.

use http::{HeaderMap, HeaderValue};
use rand::RngCore as _;

pub const REQUEST_ID: &str = "x-request-id";
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";
const MAX_REQUEST_ID_LEN: usize = 128;

/// Identity of one request at the edge.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub trace_id: String,
    /// The gateway's own span id: the parent of the upstream call.
    pub span_id: String,
    pub sampled: bool,
    pub tracestate: Option<HeaderValue>,
}

impl RequestContext {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_valid_request_id(v))
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
        let incoming = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        let (trace_id, sampled, tracestate) = match incoming {
            Some((trace_id, sampled)) => (trace_id, sampled, headers.get(TRACESTATE).cloned()),
            // A new trace: tracestate of another trace must not be continued.
            None => (random_hex::<16>(), true, None),
        };
        Self {
            request_id,
            trace_id,
            span_id: random_hex::<8>(),
            sampled,
            tracestate,
        }
    }

    /// The trace of `span` (the request's server span) when it has one: error bodies then name
    /// the exported trace.
    pub fn within(mut self, span: &tracing::Span) -> Self {
        if let Some(trace_id) = runtime::trace_context::trace_id(span) {
            self.trace_id = trace_id;
        }
        self
    }

    /// `traceparent` for the upstream call when tracing is off: same trace, the gateway's
    /// generated span id as parent.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id,
            self.span_id,
            if self.sampled { "01" } else { "00" }
        )
    }
}

fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Parses `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; all-zero ids are invalid.
fn parse_traceparent(value: &str) -> Option<(String, bool)> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let is_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    // Version ff is forbidden; later versions may append fields, version 00 may not.
    let extra_fields = parts.next().is_some();
    if !is_hex(version, 2)
        || version == "ff"
        || (version == "00" && extra_fields)
        || !is_hex(trace_id, 32)
        || !is_hex(parent_id, 16)
        || !is_hex(flags, 2)
        || trace_id.bytes().all(|b| b == b'0')
        || parent_id.bytes().all(|b| b == b'0')
    {
        return None;
    }
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    Some((trace_id.to_owned(), sampled))
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    loop {
        rand::thread_rng().fill_bytes(&mut bytes);
        if bytes.iter().any(|b| *b != 0) {
            break;
        }
    }
    crate::idempotency::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn an_incoming_trace_is_continued_with_a_new_parent_span() {
        let ctx = RequestContext::from_headers(&headers(&[
            (
                TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (TRACESTATE, "vendor=abc"),
            (REQUEST_ID, "req-42"),
        ]));
        assert_eq!(ctx.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.request_id, "req-42");
        assert!(ctx.tracestate.is_some());
        let forwarded = ctx.traceparent();
        assert!(forwarded.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(!forwarded.contains("00f067aa0ba902b7"));
        assert!(forwarded.ends_with("-01"));
    }

    #[test]
    fn missing_or_invalid_context_is_generated() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse_traceparent(bad).is_none(), "{bad}");
        }
        let ctx = RequestContext::from_headers(&headers(&[
            (TRACEPARENT, "garbage"),
            (TRACESTATE, "vendor=abc"),
            (REQUEST_ID, "has spaces in it"),
        ]));
        assert_eq!(ctx.trace_id.len(), 32);
        assert!(ctx.tracestate.is_none());
        assert_ne!(ctx.request_id, "has spaces in it");
        assert!(uuid::Uuid::parse_str(&ctx.request_id).is_ok());
    }

    #[test]
    fn unsampled_flags_are_kept() {
        let (_, sampled) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .expect("valid");
        assert!(!sampled);
    }
}
