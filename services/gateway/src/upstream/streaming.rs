//! A server-streaming call: the response head is checked like a unary reply's (a refused call is
//! an error before anything is streamed), then the body is read as a sequence of gRPC frames,
//! ending with the status in the trailers. Dropping a [`MessageStream`] drops the call: over
//! HTTP/2 the stream is reset (the upstream handler's stream is dropped), in process the
//! service's response body is dropped.

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt as _;
use tonic::{Code, Status};

use super::wire;

/// Where the frames come from.
enum Source {
    Local(tonic::body::Body),
    Remote(h2::RecvStream),
}

/// One chunk of the response body.
enum Chunk {
    Data(Bytes),
    Trailers(Option<HeaderMap>),
}

pub struct MessageStream {
    source: Source,
    buffer: BytesMut,
    done: bool,
}

/// The reply head of a streaming call: an error status (non-200, or a trailers-only reply) ends
/// the call before any message.
pub fn check_head(status: StatusCode, headers: &HeaderMap) -> Result<(), Status> {
    if status != StatusCode::OK {
        return Err(wire::status_of_http(status, headers));
    }
    match wire::status_from(headers) {
        Some(status) if status.code() != Code::Ok => Err(status),
        // OK in the head: a trailers-only reply without messages; the body then is empty.
        _ => Ok(()),
    }
}

impl MessageStream {
    pub fn local(body: tonic::body::Body) -> Self {
        Self::new(Source::Local(body))
    }

    pub fn remote(body: h2::RecvStream) -> Self {
        Self::new(Source::Remote(body))
    }

    fn new(source: Source) -> Self {
        Self {
            source,
            buffer: BytesMut::new(),
            done: false,
        }
    }

    /// The next message, the status that ended the call, or `None` after a clean end.
    /// Cancel-safe: nothing is held across an await but what `self` keeps.
    pub async fn next(&mut self) -> Option<Result<Bytes, Status>> {
        loop {
            match unframe(&mut self.buffer) {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(status) => {
                    self.done = true;
                    return Some(Err(status));
                }
            }
            if self.done {
                return None;
            }
            match self.read().await {
                Ok(Chunk::Data(data)) => self.buffer.extend_from_slice(&data),
                Ok(Chunk::Trailers(trailers)) => {
                    self.done = true;
                    let status = trailers.as_ref().and_then(wire::status_from);
                    return match status {
                        Some(status) if status.code() != Code::Ok => Some(Err(status)),
                        Some(_) if self.buffer.is_empty() => None,
                        Some(_) => Some(Err(Status::internal(
                            "the upstream stream ended inside a message",
                        ))),
                        None => Some(Err(Status::unavailable(
                            "the upstream stream ended without a status",
                        ))),
                    };
                }
                Err(status) => {
                    self.done = true;
                    return Some(Err(status));
                }
            }
        }
    }

    async fn read(&mut self) -> Result<Chunk, Status> {
        match &mut self.source {
            Source::Local(body) => match body.frame().await {
                None => Ok(Chunk::Trailers(None)),
                Some(Err(status)) => Err(status),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => Ok(Chunk::Data(data)),
                    Err(frame) => Ok(Chunk::Trailers(frame.into_trailers().ok())),
                },
            },
            Source::Remote(body) => match body.data().await {
                Some(Ok(data)) => {
                    // Lets the upstream send more; the stream's window is not a buffer limit.
                    let _ = body.flow_control().release_capacity(data.len());
                    Ok(Chunk::Data(data))
                }
                Some(Err(error)) => Err(Status::unavailable(format!("upstream stream: {error}"))),
                None => body
                    .trailers()
                    .await
                    .map(Chunk::Trailers)
                    .map_err(|error| Status::unavailable(format!("upstream stream: {error}"))),
            },
        }
    }
}

/// Takes one whole message off the front of `buffer`, if there is one.
fn unframe(buffer: &mut BytesMut) -> Result<Option<Bytes>, Status> {
    if buffer.len() < 5 {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err(Status::internal("the upstream stream is compressed"));
    }
    let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if buffer.len() < 5 + len {
        return Ok(None);
    }
    buffer.advance(5);
    Ok(Some(buffer.split_to(len).freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_messages_come_off_the_front_partial_ones_wait() {
        let mut buffer = BytesMut::from(&[0, 0, 0, 0, 2, 8, 1, 0, 0, 0, 0, 3, 1][..]);
        assert_eq!(
            unframe(&mut buffer).expect("ok"),
            Some(Bytes::from_static(&[8, 1]))
        );
        assert_eq!(unframe(&mut buffer).expect("ok"), None);
        buffer.extend_from_slice(&[2, 3]);
        assert_eq!(
            unframe(&mut buffer).expect("ok"),
            Some(Bytes::from_static(&[1, 2, 3]))
        );
        assert!(buffer.is_empty());
        let mut compressed = BytesMut::from(&[1, 0, 0, 0, 0][..]);
        assert_eq!(
            unframe(&mut compressed).expect_err("compressed").code(),
            Code::Internal
        );
    }

    #[test]
    fn a_refused_call_fails_at_the_head() {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-status", http::HeaderValue::from_static("16"));
        assert_eq!(
            check_head(StatusCode::OK, &headers)
                .expect_err("refused")
                .code(),
            Code::Unauthenticated
        );
        assert!(check_head(StatusCode::OK, &HeaderMap::new()).is_ok());
        assert!(check_head(StatusCode::BAD_GATEWAY, &HeaderMap::new()).is_err());
    }
}
