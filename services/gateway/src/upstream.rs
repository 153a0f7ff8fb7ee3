//! HTTP/2 connections to the services, a few per upstream name, and the generic unary gRPC call
//! (over one of them, or in-process to a service of the same binary: `local.rs`).
//!
//! The call is written on the `h2` crate directly rather than through a tonic `Channel`: a unary
//! request is one HEADERS and one DATA frame, and queueing both before the connection task runs
//! sends them in one write. Through tonic's buffer task and hyper's body pipe the DATA frame
//! waited for flow-control capacity and left in a second write, which woke the service twice.

mod link;
mod local;
#[cfg(test)]
mod new_backends_tests;
mod streaming;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery};
use prost_reflect::DynamicMessage;
use runtime::grpc::LocalService;
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::error::Error;
use link::Link;
pub use streaming::MessageStream;

/// Lazily connected upstreams; a service that is down yields 503, not a failed start. Services
/// in the same process (the single-binary launcher) may be called directly instead.
#[derive(Clone)]
pub struct Upstreams {
    pools: HashMap<String, Arc<Pool>>,
    local: HashMap<String, LocalService>,
    retry_after: Duration,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("pools", &self.pools)
            .field("local", &self.local.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The authority of calls to a service in the same process, which no socket ever sees.
static LOCAL_AUTHORITY: Authority = Authority::from_static("in-process");

/// Several HTTP/2 connections to one upstream. All streams of one connection go through the one
/// task that drives it; spreading calls over a few connections lets them run on every core and
/// keeps one connection's stream limit or flow-control window from queueing the others.
#[derive(Debug)]
struct Pool {
    authority: Authority,
    links: Vec<Link>,
    next: AtomicUsize,
}

/// Where one call goes.
#[derive(Clone, Copy)]
enum Target<'a> {
    Local(&'a LocalService),
    Remote(&'a Pool),
}

impl Pool {
    fn pick(&self) -> &Link {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.links.len();
        &self.links[index]
    }
}

impl Upstreams {
    /// `connections` HTTP/2 connections per upstream (at least one), to `http://host:port` URLs.
    pub fn new(
        urls: &HashMap<String, String>,
        connections: usize,
        retry_after: Duration,
    ) -> Result<Self, Error> {
        let mut pools = HashMap::new();
        for (name, url) in urls {
            let authority = wire::authority(url).map_err(|reason| Error::InvalidSetting {
                key: format!("gateway.upstreams.{name}"),
                reason,
            })?;
            let pool = Pool {
                links: (0..connections.max(1))
                    .map(|_| Link::new(authority.clone()))
                    .collect(),
                authority,
                next: AtomicUsize::new(0),
            };
            pools.insert(name.to_lowercase(), Arc::new(pool));
        }
        Ok(Self {
            pools,
            local: HashMap::new(),
            retry_after,
        })
    }

    /// Calls these services in-process rather than over their URLs (names as in `urls`).
    pub fn with_local(mut self, local: HashMap<String, LocalService>) -> Self {
        for (name, service) in local {
            let name = name.to_lowercase();
            self.pools.remove(&name);
            self.local.insert(name, service);
        }
        self
    }

    pub fn has(&self, service: &str) -> bool {
        self.pools.contains_key(service) || self.local.contains_key(service)
    }

    /// Calls `path` on `service` with a deadline and returns the encoded response message;
    /// transport failures and timeouts become 503/504 errors instead of hanging the request.
    pub async fn unary(
        &self,
        service: &str,
        path: PathAndQuery,
        message: DynamicMessage,
        metadata: MetadataMap,
        timeout: Duration,
    ) -> Result<Bytes, Error> {
        let unavailable = || Error::Unavailable {
            service: service.to_owned(),
            retry_after: self.retry_after,
        };
        let target = match self.local.get(service) {
            Some(local) => Target::Local(local),
            None => Target::Remote(self.pools.get(service).ok_or_else(unavailable)?),
        };
        let authority = match target {
            Target::Local(_) => &LOCAL_AUTHORITY,
            Target::Remote(pool) => &pool.authority,
        };
        let request = wire::request(authority, path, metadata, timeout)
            .map_err(|e| Error::Internal(format!("build upstream request: {e}")))?;
        let body = wire::frame(&message);
        let call = async {
            let reply = match target {
                Target::Local(local) => local::call(local, request, body).await.map_err(|status| {
                    tracing::debug!(%status, service, "in-process reply failed");
                }),
                Target::Remote(pool) => pool.pick().call(request, body).await.map_err(|error| {
                    tracing::debug!(%error, service, "upstream call failed");
                }),
            };
            match reply {
                Ok(reply) => wire::reply(reply).map_err(|status| match status.code() {
                    Code::Unavailable => unavailable(),
                    _ => Error::from(status),
                }),
                Err(()) => Err(unavailable()),
            }
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Error::DeadlineExceeded)?
    }

    /// Opens a server-streaming call. `open_timeout` bounds reaching the upstream and its reply
    /// head; the stream itself runs until it ends or the returned stream is dropped, so no
    /// `grpc-timeout` is sent.
    pub async fn server_stream(
        &self,
        service: &str,
        path: PathAndQuery,
        message: DynamicMessage,
        metadata: MetadataMap,
        open_timeout: Duration,
    ) -> Result<MessageStream, Error> {
        let unavailable = || Error::Unavailable {
            service: service.to_owned(),
            retry_after: self.retry_after,
        };
        let target = match self.local.get(service) {
            Some(local) => Target::Local(local),
            None => Target::Remote(self.pools.get(service).ok_or_else(unavailable)?),
        };
        let authority = match target {
            Target::Local(_) => &LOCAL_AUTHORITY,
            Target::Remote(pool) => &pool.authority,
        };
        let mut request = wire::request(authority, path, metadata, open_timeout)
            .map_err(|e| Error::Internal(format!("build upstream request: {e}")))?;
        request.headers_mut().remove("grpc-timeout");
        let body = wire::frame(&message);
        let open = async {
            let (status, headers, stream) = match target {
                Target::Local(local) => {
                    let request =
                        request.map(|()| tonic::body::Body::new(http_body_util::Full::new(body)));
                    let Ok(response) = tower::ServiceExt::oneshot(local.clone(), request).await;
                    let (parts, body) = response.into_parts();
                    (parts.status, parts.headers, MessageStream::local(body))
                }
                Target::Remote(pool) => {
                    let (parts, body) = pool.pick().open(request, body).await.map_err(|error| {
                        tracing::debug!(%error, service, "upstream stream failed to open");
                        unavailable()
                    })?;
                    (parts.status, parts.headers, MessageStream::remote(body))
                }
            };
            streaming::check_head(status, &headers).map_err(|status| match status.code() {
                Code::Unavailable => unavailable(),
                _ => Error::from(status),
            })?;
            Ok(stream)
        };
        tokio::time::timeout(open_timeout, open)
            .await
            .map_err(|_| Error::DeadlineExceeded)?
    }
}
