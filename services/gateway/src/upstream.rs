//! gRPC channels to the services, a few per upstream name, and the generic unary call.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost_reflect::DynamicMessage;
use tonic::Code;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};

use crate::codec::DynamicCodec;
use crate::error::Error;

/// A connection attempt that takes longer than this counts as the service being down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Keeps idle HTTP/2 connections alive through NATs and detects dead peers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// Lazily connected channels; a service that is down yields 503, not a failed start.
#[derive(Debug, Clone)]
pub struct Upstreams {
    channels: HashMap<String, Arc<Pool>>,
    retry_after: Duration,
}

/// Several HTTP/2 connections to one upstream. All calls on one connection go through the one
/// task that drives it; spreading calls over a few connections lets them run on every core and
/// keeps one connection's stream limit or flow-control window from queueing the others.
#[derive(Debug)]
struct Pool {
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl Pool {
    fn pick(&self) -> &Channel {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        &self.channels[index]
    }
}

impl Upstreams {
    /// `connections` HTTP/2 connections per upstream (at least one).
    pub fn new(
        urls: &HashMap<String, String>,
        connections: usize,
        retry_after: Duration,
    ) -> Result<Self, Error> {
        let mut channels = HashMap::new();
        for (name, url) in urls {
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| Error::InvalidSetting {
                    key: format!("gateway.upstreams.{name}"),
                    reason: e.to_string(),
                })?
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_while_idle(true);
            // Each `connect_lazy` is its own connection; clones of one channel would share it.
            let pool = Pool {
                channels: (0..connections.max(1))
                    .map(|_| endpoint.connect_lazy())
                    .collect(),
                next: AtomicUsize::new(0),
            };
            channels.insert(name.to_lowercase(), Arc::new(pool));
        }
        Ok(Self {
            channels,
            retry_after,
        })
    }

    pub fn has(&self, service: &str) -> bool {
        self.channels.contains_key(service)
    }

    /// Calls `path` on `service` with a deadline and returns the encoded response; transport
    /// failures and timeouts become 503/504 errors instead of hanging the HTTP request.
    pub async fn unary(
        &self,
        service: &str,
        path: PathAndQuery,
        message: DynamicMessage,
        metadata: MetadataMap,
        timeout: Duration,
    ) -> Result<(MetadataMap, Bytes), Error> {
        let unavailable = || Error::Unavailable {
            service: service.to_owned(),
            retry_after: self.retry_after,
        };
        let channel = self.channels.get(service).ok_or_else(unavailable)?.pick();
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let mut request =
            tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
        request.set_timeout(timeout);
        let call = async {
            grpc.ready().await.map_err(|_| unavailable())?;
            grpc.unary(request, path, DynamicCodec)
                .await
                .map_err(|status| match status.code() {
                    Code::Unavailable => unavailable(),
                    _ => Error::from(status),
                })
        };
        let response = tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| Error::DeadlineExceeded)??;
        let (metadata, message, _) = response.into_parts();
        Ok((metadata, message))
    }
}
