//! A backend started after the gateway connected gets calls: services close connections at their
//! maximum age (GOAWAY), and the gateway reopens them through the load balancer, which may pick
//! the new backend. The balancer here relays each new TCP connection to the next backend in
//! turn, as a Kubernetes ClusterIP does (at random there).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use runtime::grpc::{GrpcServer, GrpcServices};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::server::NamedService;

use super::Upstreams;
use crate::error::Error;

const NEWER: &str = "backend-b";
const DEADLINE: Duration = Duration::from_secs(20);

/// A service that only names a backend: health reports its name as serving, so a health check
/// for that name tells which backend answered.
macro_rules! named_backend {
    ($ty:ident, $name:expr) => {
        #[derive(Clone)]
        struct $ty;
        impl NamedService for $ty {
            const NAME: &'static str = $name;
        }
        impl tower::Service<http::Request<tonic::body::Body>> for $ty {
            type Response = http::Response<tonic::body::Body>;
            type Error = std::convert::Infallible;
            type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
            fn poll_ready(
                &mut self,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Result<(), Self::Error>> {
                std::task::Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
                std::future::ready(Ok(tonic::Status::unimplemented($name).into_http()))
            }
        }
    };
}
named_backend!(OlderBackend, "backend-a");
named_backend!(NewerBackend, NEWER);

/// A gRPC server (health, reflection and `services`) with a one-second connection age.
async fn backend(name: &str, services: GrpcServices, stop: &CancellationToken) -> SocketAddr {
    let settings: runtime::config::ServerSettings = serde_json::from_value(serde_json::json!({
        "grpc_listen": "127.0.0.1:0",
        "admin_listen": "127.0.0.1:0",
        "max_connection_age_secs": 1,
        "shutdown_grace_secs": 1,
    }))
    .expect("server settings");
    let server = GrpcServer::bind(name, &settings).await.expect("bind");
    let addr = server.grpc_addr().expect("address");
    let stop = stop.clone();
    tokio::spawn(async move { server.serve(services, stop).await });
    addr
}

/// Relays each accepted connection to the next of `backends`, round-robin.
async fn balancer(backends: Arc<Mutex<Vec<SocketAddr>>>, stop: &CancellationToken) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let stop = stop.clone();
    tokio::spawn(async move {
        for turn in 0usize.. {
            let Ok((mut inbound, _)) = (tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            }) else {
                continue;
            };
            let target = {
                let backends = backends.lock().expect("lock");
                backends[turn % backends.len()]
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    () = stop.cancelled() => {}
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                }
            });
        }
    });
    addr
}

fn health_check(service: &str) -> DynamicMessage {
    let pool = DescriptorPool::decode(tonic_health::pb::FILE_DESCRIPTOR_SET).expect("descriptors");
    let descriptor = pool
        .get_message_by_name("grpc.health.v1.HealthCheckRequest")
        .expect("message");
    let mut message = DynamicMessage::new(descriptor);
    message.set_field_by_name("service", Value::String(service.to_owned()));
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_started_later_serves_calls_once_older_connections_reach_their_age() {
    let stop = CancellationToken::new();
    let _stop_all = stop.clone().drop_guard();
    let backends = Arc::new(Mutex::new(vec![
        backend(
            OlderBackend::NAME,
            GrpcServices::new().add_service(OlderBackend),
            &stop,
        )
        .await,
    ]));
    let address = balancer(backends.clone(), &stop).await;
    let upstreams = Upstreams::new(
        &HashMap::from([("health".to_owned(), format!("http://{address}"))]),
        2,
        Duration::from_secs(1),
    )
    .expect("upstreams");
    let check = || {
        upstreams.unary(
            "health",
            PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            health_check(NEWER),
            MetadataMap::new(),
            Duration::from_secs(5),
        )
    };
    for _ in 0..2 {
        let answer = check().await;
        assert!(
            matches!(answer, Err(Error::Upstream(ref status)) if status.code() == tonic::Code::NotFound),
            "only the first backend is up: {answer:?}"
        );
    }

    let newer = backend(NEWER, GrpcServices::new().add_service(NewerBackend), &stop).await;
    backends.lock().expect("lock").push(newer);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut older = 0;
    loop {
        match check().await {
            Ok(_) => break,
            Err(Error::Upstream(status)) if status.code() == tonic::Code::NotFound => older += 1,
            // A connection reaching its age must cost no call a 503.
            Err(error) => panic!("call failed while connections were recycled: {error:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new backend got no call in {DEADLINE:?} ({older} went to the first)"
        );
        tokio::task::yield_now().await;
    }
}
