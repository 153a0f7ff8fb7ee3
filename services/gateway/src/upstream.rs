//! HTTP/2 connections to the services, a few per upstream name, and the generic unary gRPC call.
//!
//! The call is written on the `h2` crate directly rather than through a tonic `Channel`: a unary
//! request is one HEADERS and one DATA frame, and queueing both before the connection task runs
//! sends them in one write. Through tonic's buffer task and hyper's body pipe the DATA frame
//! waited for flow-control capacity and left in a second write, which woke the service twice.

mod link;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery};
use prost_reflect::DynamicMessage;
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::error::Error;
use link::Link;

/// Lazily connected upstreams; a service that is down yields 503, not a failed start.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pools: HashMap<String, Arc<Pool>>,
    retry_after: Duration,
}

/// Several HTTP/2 connections to one upstream. All streams of one connection go through the one
/// task that drives it; spreading calls over a few connections lets them run on every core and
/// keeps one connection's stream limit or flow-control window from queueing the others.
#[derive(Debug)]
struct Pool {
    authority: Authority,
    links: Vec<Link>,
    next: AtomicUsize,
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
        Ok(Self { pools, retry_after })
    }

    pub fn has(&self, service: &str) -> bool {
        self.pools.contains_key(service)
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
        let pool = self.pools.get(service).ok_or_else(unavailable)?;
        let request = wire::request(&pool.authority, path, metadata, timeout)
            .map_err(|e| Error::Internal(format!("build upstream request: {e}")))?;
        let body = wire::frame(&message);
        let call = async {
            match pool.pick().call(request, body).await {
                Ok(reply) => wire::reply(reply).map_err(|status| match status.code() {
                    Code::Unavailable => unavailable(),
                    _ => Error::from(status),
                }),
                Err(error) => {
                    tracing::debug!(%error, service, "upstream call failed");
                    Err(unavailable())
                }
            }
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Error::DeadlineExceeded)?
    }
}
