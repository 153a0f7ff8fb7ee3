//! Server-sent events (the WHATWG `text/event-stream` format) for server-streaming RPCs
//! annotated with a `google.api.http` GET: one `data:` line of proto3 JSON per message, a
//! comment line as heartbeat while idle, and an `error` event carrying a problem+json body when
//! the call ends with an error after it started. The upstream call lives as long as the response
//! body: a client that disconnects drops the body, which drops (cancels) the upstream call.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

use crate::error::Error;
use crate::problem::{Problem, RequestInfo};
use crate::routes::Route;
use crate::transcode;
use crate::upstream::MessageStream;

pub const EVENT_STREAM: &str = "text/event-stream";

/// A heartbeat: a comment line, which event-stream clients ignore.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

pub struct EventSource {
    pub route: Arc<Route>,
    pub messages: MessageStream,
    pub heartbeat: Duration,
    pub info: RequestInfo,
    pub retry_after: Duration,
    /// Ends the stream (cleanly, as a server restart would) when the gateway shuts down.
    pub closing: tokio_util::sync::CancellationToken,
}

/// `data: <json>` and the blank line that ends the event. JSON from the transcoder has no line
/// breaks (it is compact), so one `data:` line carries it.
fn data_event(json: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(json.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(json);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

fn error_event(problem: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(problem.len() + 24);
    event.extend_from_slice(b"event: error\ndata: ");
    event.extend_from_slice(problem);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

struct State {
    source: EventSource,
    ticker: tokio::time::Interval,
    ended: bool,
}

impl State {
    /// The next piece of the body, or `None` at the end of the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        let message = tokio::select! {
            message = self.source.messages.next() => message,
            _ = self.ticker.tick() => return Some(Bytes::from_static(HEARTBEAT)),
            () = self.source.closing.cancelled() => None,
        };
        // Any message resets the idle clock.
        self.ticker.reset();
        let error = match message {
            None => {
                self.ended = true;
                return None;
            }
            Some(Ok(encoded)) => {
                match transcode::stream_message_json(&self.source.route, &encoded) {
                    Ok(json) => return Some(data_event(&json)),
                    Err(error) => error,
                }
            }
            Some(Err(status)) => Error::from(status),
        };
        self.ended = true;
        let problem = Problem::from_error(&error, self.source.retry_after);
        Some(error_event(&problem.to_json(&self.source.info)))
    }
}

pub fn response(source: EventSource) -> Response {
    let start = tokio::time::Instant::now() + source.heartbeat;
    let mut ticker = tokio::time::interval_at(start, source.heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = State {
        source,
        ticker,
        ended: false,
    };
    let body = futures::stream::unfold(state, |mut state| async move {
        let chunk = state.next().await?;
        Some((Ok::<_, Infallible>(chunk), state))
    });
    let mut response = Response::new(Body::from_stream(body));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    // Each event as it comes: not cached, not buffered by a proxy (nginx honours the header).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_data_lines_ended_by_a_blank_line() {
        assert_eq!(&data_event(br#"{"a":1}"#)[..], b"data: {\"a\":1}\n\n");
        assert_eq!(
            &error_event(br#"{"status":500}"#)[..],
            b"event: error\ndata: {\"status\":500}\n\n"
        );
        assert!(HEARTBEAT.starts_with(b":"));
    }
}
