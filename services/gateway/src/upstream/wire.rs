//! The gRPC-over-HTTP/2 framing of a unary call: request headers, the length-prefixed message,
//! and the status from the trailers (or from the headers of a trailers-only reply).

use std::time::Duration;

use base64::Engine as _;
use bytes::{BufMut as _, Bytes, BytesMut};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, Version, header};
use percent_encoding::percent_decode;
use prost::Message as _;
use prost_reflect::DynamicMessage;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::link::Reply;

const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";
const GRPC_DETAILS: &str = "grpc-status-details-bin";
/// The largest value `grpc-timeout` carries: eight digits.
const MAX_TIMEOUT_MILLIS: u128 = 99_999_999;

/// The authority of an `http://host:port` upstream URL (plaintext HTTP/2 inside the cluster).
pub fn authority(url: &str) -> Result<Authority, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err("must start with http:// (upstreams speak plaintext HTTP/2)".to_owned());
    }
    let authority = uri.authority().ok_or("has no host")?.clone();
    if authority.port_u16().is_none() {
        return Err("needs a port, e.g. http://crm:50051".to_owned());
    }
    Ok(authority)
}

/// The request head: POST to the method path with the gRPC headers, the deadline as
/// `grpc-timeout`, and the forwarded metadata.
pub fn request(
    authority: &Authority,
    path: PathAndQuery,
    metadata: MetadataMap,
    timeout: Duration,
) -> Result<Request<()>, http::Error> {
    let uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority.clone())
        .path_and_query(path)
        .build()?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .version(Version::HTTP_2)
        .body(())?;
    let headers = request.headers_mut();
    *headers = metadata.into_headers();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    let millis = timeout.as_millis().min(MAX_TIMEOUT_MILLIS);
    let mut value = itoa::Buffer::new().format(millis).to_owned();
    value.push('m');
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("grpc-timeout", value);
    }
    Ok(request)
}

/// The message with gRPC's prefix: no compression, then its length as four big-endian bytes.
pub fn frame(message: &DynamicMessage) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer of the exact encoded length cannot run out of room.
    message.encode_raw(&mut buf);
    buf.freeze()
}

/// The reply's message, or the status it carries.
pub fn reply(reply: Reply) -> Result<Bytes, Status> {
    if reply.status != StatusCode::OK {
        return Err(status_of_http(reply.status, &reply.headers));
    }
    // A trailers-only reply carries its status in the headers.
    let status_headers = match &reply.trailers {
        Some(trailers) if trailers.contains_key(GRPC_STATUS) => trailers,
        _ => &reply.headers,
    };
    let status = status_from(status_headers)
        .unwrap_or_else(|| Status::internal("the upstream reply has no grpc-status"));
    if status.code() != Code::Ok {
        return Err(status);
    }
    unframe(reply.body)
}

fn unframe(mut body: Bytes) -> Result<Bytes, Status> {
    if body.len() < 5 {
        return Err(Status::internal("the upstream reply has no message"));
    }
    if body[0] != 0 {
        return Err(Status::internal("the upstream reply is compressed"));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() != 5 + len {
        return Err(Status::internal(
            "the upstream reply is not exactly one message",
        ));
    }
    Ok(body.split_off(5))
}

/// `grpc-status`, `grpc-message` (percent-encoded) and the binary details, if a status is there.
pub(super) fn status_from(headers: &HeaderMap) -> Option<Status> {
    let code = Code::from_bytes(headers.get(GRPC_STATUS)?.as_bytes());
    let message = headers
        .get(GRPC_MESSAGE)
        .map(|v| {
            percent_decode(v.as_bytes())
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let details = headers
        .get(GRPC_DETAILS)
        .and_then(|v| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(trim_padding(v.as_bytes()))
                .ok()
        })
        .map(Bytes::from)
        .unwrap_or_default();
    Some(Status::with_details(code, message, details))
}

fn trim_padding(value: &[u8]) -> &[u8] {
    let end = value.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
    &value[..end]
}

/// A non-200 reply from something that is not a gRPC server (a proxy, a restarting pod): the
/// gRPC spec's mapping of HTTP statuses.
pub(super) fn status_of_http(status: StatusCode, headers: &HeaderMap) -> Status {
    if let Some(grpc) = status_from(headers) {
        return grpc;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    };
    Status::new(code, format!("upstream answered HTTP {status}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(
        headers: &[(&'static str, &str)],
        body: &[u8],
        trailers: Option<&[(&'static str, &str)]>,
    ) -> Reply {
        let map = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_str(value).expect("header"));
            }
            map
        };
        Reply {
            status: StatusCode::OK,
            headers: map(headers),
            body: Bytes::copy_from_slice(body),
            trailers: trailers.map(map),
        }
    }

    #[test]
    fn a_framed_message_is_returned_without_its_prefix() {
        let ok = reply(&[], &[0, 0, 0, 0, 2, 8, 1], Some(&[(GRPC_STATUS, "0")]));
        assert_eq!(super::reply(ok).expect("ok"), Bytes::from_static(&[8, 1]));
    }

    #[test]
    fn a_trailers_only_error_keeps_its_code_message_and_details() {
        // "bad" base64 is "YmFk"; servers may send it with or without padding.
        let failed = reply(
            &[
                (GRPC_STATUS, "3"),
                (GRPC_MESSAGE, "email%20is%20invalid"),
                (GRPC_DETAILS, "YmFk"),
            ],
            &[],
            None,
        );
        let status = super::reply(failed).expect_err("error");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "email is invalid");
        assert_eq!(status.details(), b"bad");
    }

    #[test]
    fn garbage_details_are_dropped_not_a_panic() {
        let failed = reply(&[], &[], Some(&[(GRPC_STATUS, "5"), (GRPC_DETAILS, "%%%")]));
        let status = super::reply(failed).expect_err("error");
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.details().is_empty());
    }

    #[test]
    fn truncated_or_compressed_replies_are_internal_errors() {
        for body in [&[0, 0, 0, 0, 9, 1][..], &[1, 0, 0, 0, 1, 1], &[0, 0]] {
            let bad = reply(&[], body, Some(&[(GRPC_STATUS, "0")]));
            assert_eq!(super::reply(bad).expect_err("bad").code(), Code::Internal);
        }
    }

    #[test]
    fn a_reply_without_a_status_is_an_error() {
        let bad = reply(&[], &[0, 0, 0, 0, 0], None);
        assert_eq!(super::reply(bad).expect_err("bad").code(), Code::Internal);
    }

    #[test]
    fn a_proxy_outage_reads_as_unavailable() {
        let mut outage = reply(&[], b"<html>", None);
        outage.status = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(
            super::reply(outage).expect_err("down").code(),
            Code::Unavailable
        );
    }

    #[test]
    fn the_deadline_travels_as_grpc_timeout_in_milliseconds() {
        let authority = authority("http://crm:50051").expect("url");
        let mut metadata = MetadataMap::new();
        metadata.insert("x-request-id", "r1".parse().expect("ascii"));
        let head = request(
            &authority,
            PathAndQuery::from_static("/salescompass.crm.v1.LeadService/GetLead"),
            metadata,
            Duration::from_millis(1500),
        )
        .expect("request");
        assert_eq!(head.headers()["grpc-timeout"], "1500m");
        assert_eq!(head.headers()["content-type"], "application/grpc");
        assert_eq!(head.headers()["te"], "trailers");
        assert_eq!(head.headers()["x-request-id"], "r1");
        assert_eq!(
            head.uri(),
            "http://crm:50051/salescompass.crm.v1.LeadService/GetLead"
        );
    }

    #[test]
    fn upstream_urls_must_be_plain_http_with_a_port() {
        assert!(authority("http://127.0.0.1:50051").is_ok());
        assert!(authority("https://crm:50051").is_err());
        assert!(authority("http://crm").is_err());
        assert!(authority("crm:50051").is_err());
    }
}
