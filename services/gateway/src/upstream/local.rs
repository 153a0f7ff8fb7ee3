//! A unary call to a service in the same process: the same request head and framed message as
//! over HTTP/2, handed to the service's routes directly, and the reply collected into the same
//! [`Reply`] the HTTP/2 path reads, so status handling stays in one place (`wire::reply`).

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use runtime::grpc::LocalService;
use tower::ServiceExt as _;

use super::link::Reply;

/// Calls `service` with `request`'s head and `body`, and reads the whole reply.
pub async fn call(
    service: &LocalService,
    request: Request<()>,
    body: Bytes,
) -> Result<Reply, tonic::Status> {
    let request = request.map(|()| tonic::body::Body::new(Full::new(body)));
    let Ok(response) = service.clone().oneshot(request).await;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await?;
    let trailers = collected.trailers().cloned();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    })
}
