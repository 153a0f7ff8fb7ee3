//! The gRPC server every service runs: health (`grpc.health.v1`), reflection (v1 and v1alpha, so
//! grpcurl works), per-request timeout, per-connection concurrency limit, tracing and metrics
//! layers, a maximum connection age (so clients reconnect and reach pods started after them),
//! readiness that follows the service's dependencies (health reports NOT_SERVING while the
//! database is down), and the shutdown sequence: readiness off → drain delay → stop accepting →
//! grace period for in-flight calls.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tower::ServiceExt as _;

use crate::Error;
use crate::admin::{AdminServer, Readiness};
use crate::config::ServerSettings;
use crate::grpc_trace::GrpcTraceLayer;
use crate::metrics::GrpcMetricsLayer;
use crate::readiness::{Dependency, check, probe};

/// The gRPC services a server routes, each added together with the name health reports it
/// under: a service cannot be routed yet unknown to health, or reported without a route.
#[derive(Clone, Default)]
pub struct GrpcServices {
    routes: Routes,
    names: Vec<&'static str>,
}

impl GrpcServices {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `/<S::NAME>/*` to `service` and reports `S::NAME` SERVING while the server runs.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes = self.routes.add_service(service);
        self
    }

    /// The fully qualified gRPC service names, in the order they were added.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }

    /// These services for a caller in the same process; see [`local_service`].
    pub fn local_service(&self) -> LocalService {
        local_service(self.component(), self.routes.clone())
    }

    /// The component these services belong to, for metrics: `<name>` in the first service's
    /// package `salescompass.<name>.v1`, the package the gateway routes to that component.
    fn component(&self) -> &str {
        self.names
            .first()
            .and_then(|name| name.strip_prefix("salescompass."))
            .and_then(|rest| rest.split('.').next())
            .unwrap_or("unknown")
    }
}

/// A service's gRPC listener, bound but not yet serving, and its admin port, already answering
/// (`/healthz` 200, `/readyz` 503 until [`GrpcServer::serve`] runs and the dependencies are up),
/// so a service waiting for its database at start is seen alive and not ready.
pub struct GrpcServer {
    name: String,
    settings: ServerSettings,
    listener: TcpListener,
    admin_addr: SocketAddr,
    admin: JoinHandle<Result<(), Error>>,
    // Stops the admin port when the server is dropped without serving (a failed start).
    admin_stop: DropGuard,
    readiness: Readiness,
    dependencies: Vec<Dependency>,
}

impl GrpcServer {
    /// Binds both listeners (port 0 picks a free port; see the `*_addr` methods) and starts
    /// answering on the admin port.
    pub async fn bind(name: &str, settings: &ServerSettings) -> Result<Self, Error> {
        let addr = settings.grpc_listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let readiness = Readiness::default();
        let admin = AdminServer::bind(settings.admin_listen, readiness.clone())
            .await?
            .for_component(name);
        let admin_addr = admin.local_addr()?;
        let admin_stop = CancellationToken::new();
        let admin = tokio::spawn(admin.serve(admin_stop.clone()));
        Ok(Self {
            name: name.to_owned(),
            settings: settings.clone(),
            listener,
            admin_addr,
            admin,
            admin_stop: admin_stop.drop_guard(),
            readiness,
            dependencies: Vec::new(),
        })
    }

    /// Makes readiness (`/readyz` and gRPC health) require `dependency`, probed in the
    /// background while the server runs.
    pub fn require(&mut self, dependency: Dependency) {
        self.readiness.require(dependency.name());
        self.dependencies.push(dependency);
    }

    /// The server's readiness, for background work that waits for a dependency
    /// ([`Readiness::until_up`]).
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    pub fn grpc_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    pub fn admin_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.admin_addr)
    }

    /// Serves `services` until `shutdown` is cancelled, then drains. Health reports each of
    /// them (and the server as a whole, `""`) SERVING while ready (every required dependency
    /// answered its last probe), NOT_SERVING otherwise and from the start of the drain.
    pub async fn serve(
        self,
        services: GrpcServices,
        shutdown: CancellationToken,
    ) -> Result<(), Error> {
        let GrpcServices {
            routes,
            names: service_names,
        } = services;
        let grpc_addr = self.grpc_addr()?;
        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let routes = routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        // Each dependency is checked once before the first call is served, so health answers
        // the truth from the first call on; the probes then keep checking in the background.
        let timing = self.settings.readiness_timing();
        for dependency in &self.dependencies {
            let status = check(dependency, timing).await;
            self.readiness.report(dependency.name(), status);
        }
        let probes_stop = CancellationToken::new();
        for dependency in self.dependencies {
            let readiness = self.readiness.clone();
            tokio::spawn(probe(readiness, dependency, timing, probes_stop.clone()));
        }
        self.readiness.set_ready(true);
        // Subscribed before the first report, so no change between the two is missed.
        let changes = self.readiness.changes();
        let ready = self.readiness.is_ready();
        report_health(&health_reporter, &service_names, ready).await;
        let follower = tokio::spawn(follow_readiness(
            self.readiness.clone(),
            changes,
            ready,
            health_reporter.clone(),
            service_names.clone(),
        ));

        let stop_accepting = CancellationToken::new();
        let server = builder(&self.settings)
            // The span is outside the metrics layer, so metrics are recorded inside the span.
            .layer(GrpcTraceLayer)
            .layer(GrpcMetricsLayer::new(&self.name))
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                // Without TCP_NODELAY a response that spans several segments waits on the
                // client's delayed ACK (~40 ms per list call).
                TcpIncoming::from(self.listener)
                    .with_nodelay(Some(true))
                    .with_keepalive(Some(Duration::from_secs(60))),
                stop_accepting.clone().cancelled_owned(),
            );
        let mut server = tokio::spawn(server);

        tracing::info!(service = %self.name, %grpc_addr, "grpc server serving");

        let early = tokio::select! {
            _ = shutdown.cancelled() => None,
            result = &mut server => Some(result),
        };
        self.readiness.set_ready(false);
        follower.abort();
        probes_stop.cancel();
        let result = match early {
            Some(result) => flatten(result),
            None => {
                report_health(&health_reporter, &service_names, false).await;
                tokio::time::sleep(Duration::from_secs(self.settings.drain_delay_secs)).await;
                stop_accepting.cancel();
                let grace = Duration::from_secs(self.settings.shutdown_grace_secs);
                match tokio::time::timeout(grace, &mut server).await {
                    Ok(result) => flatten(result),
                    Err(_) => {
                        tracing::warn!(service = %self.name, "in-flight calls outlived the grace period");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        drop(self.admin_stop);
        match self.admin.await {
            Ok(Err(error)) => tracing::warn!(%error, "admin server stopped with an error"),
            Err(error) => tracing::warn!(%error, "admin server task failed"),
            Ok(Ok(())) => {}
        }
        tracing::info!(service = %self.name, "grpc server stopped");
        result
    }
}

/// Sets every service's health status (and the server's, `""`).
async fn report_health(
    reporter: &tonic_health::server::HealthReporter,
    names: &[&'static str],
    ready: bool,
) {
    let status = if ready {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    for name in names.iter().copied().chain([""]) {
        reporter.set_service_status(name, status).await;
    }
}

/// Keeps gRPC health equal to readiness: a dependency going down or coming back flips every
/// service's status, as `/readyz` flips.
async fn follow_readiness(
    readiness: Readiness,
    mut changes: tokio::sync::watch::Receiver<crate::readiness::State>,
    mut reported: bool,
    reporter: tonic_health::server::HealthReporter,
    names: Vec<&'static str>,
) {
    while changes.changed().await.is_ok() {
        let ready = readiness.is_ready();
        if ready != reported {
            report_health(&reporter, &names, ready).await;
            reported = ready;
        }
    }
}

/// The server's transport settings. The age limit is set without tonic's
/// `max_connection_age_grace`: with it, tonic 0.14 skips the graceful GOAWAY and only cuts the
/// connection after age + grace, failing its in-flight calls. Without it, the connection is shut
/// down gracefully at its age, and the request timeout bounds how long its last calls run.
fn builder(settings: &ServerSettings) -> Server {
    let builder = Server::builder()
        .timeout(Duration::from_secs(settings.request_timeout_secs))
        .concurrency_limit_per_connection(settings.concurrency_limit);
    match settings.max_connection_age() {
        Some(age) => builder.max_connection_age(age),
        None => builder,
    }
}

/// A service's routes behind the same tracing and metrics layers as its server, for a caller in
/// the same process: the single-binary launcher's gateway calls its co-located services this
/// way, without HTTP/2 or a socket. Errors are gRPC statuses in the response, never `Err`.
pub type LocalService = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    std::convert::Infallible,
>;

/// `routes` of `component` as a [`LocalService`]. The server's per-connection concurrency limit has no
/// connection to apply to, and its request timeout is the caller's deadline here: the gateway
/// drops a call that outlives its route's timeout, as the server drops a call over its own.
pub fn local_service(component: &str, routes: Routes) -> LocalService {
    let service = tower::ServiceBuilder::new()
        .layer(GrpcTraceLayer)
        .layer(GrpcMetricsLayer::new(component))
        .service(routes)
        // Identity: names the request body type, which the layers leave generic, for the box.
        .map_request(|request: http::Request<tonic::body::Body>| request)
        .map_response(|response: http::Response<_>| response.map(tonic::body::Body::new));
    LocalService::new(service)
}

fn flatten(
    result: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), Error> {
    match result {
        Ok(inner) => Ok(inner?),
        Err(join) => Err(Error::Io(std::io::Error::other(join))),
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};

    use tonic::transport::Channel;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus as Reported;
    use tonic_health::pb::health_client::HealthClient;
    use tower::Service;

    use super::*;

    /// Answers every call with ALREADY_EXISTS, a status the router's fallback never gives.
    macro_rules! fake_service {
        ($ty:ident, $name:literal) => {
            #[derive(Clone)]
            struct $ty;
            impl NamedService for $ty {
                const NAME: &'static str = $name;
            }
            impl Service<http::Request<tonic::body::Body>> for $ty {
                type Response = http::Response<tonic::body::Body>;
                type Error = Infallible;
                type Future = Ready<Result<Self::Response, Infallible>>;
                fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                    Poll::Ready(Ok(()))
                }
                fn call(&mut self, _: http::Request<tonic::body::Body>) -> Self::Future {
                    ready(Ok(tonic::Status::already_exists($name).into_http()))
                }
            }
        };
    }
    fake_service!(Alpha, "test.v1.Alpha");
    fake_service!(Beta, "test.v1.Beta");

    fn settings() -> ServerSettings {
        ServerSettings {
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            request_timeout_secs: 5,
            concurrency_limit: 8,
            drain_delay_secs: 0,
            shutdown_grace_secs: 1,
            max_connection_age_secs: 0,
            readiness_interval_ms: 2000,
            readiness_timeout_ms: 1000,
        }
    }

    async fn grpc_status_of_call(services: &GrpcServices, service: &str) -> Option<String> {
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("/{service}/Call"))
            .header("content-type", "application/grpc")
            .body(tonic::body::Body::empty())
            .ok()?;
        let response = services.local_service().call(request).await.ok()?;
        let status = response.headers().get("grpc-status")?;
        status.to_str().ok().map(str::to_owned)
    }

    #[tokio::test]
    async fn every_added_service_is_routed_and_reported_serving() {
        let services = GrpcServices::new().add_service(Alpha).add_service(Beta);
        assert_eq!(services.names(), ["test.v1.Alpha", "test.v1.Beta"]);

        let server = GrpcServer::bind("test", &settings()).await.expect("binds");
        let addr = server.grpc_addr().expect("bound");
        let stop = CancellationToken::new();
        let serving = tokio::spawn(server.serve(services.clone(), stop.clone()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connects");
        let mut health = HealthClient::new(channel);

        for name in services.names() {
            let reply = health
                .check(HealthCheckRequest {
                    service: (*name).to_owned(),
                })
                .await
                .expect("known to health")
                .into_inner();
            assert_eq!(reply.status(), Reported::Serving, "{name}");
            let code = tonic::Code::AlreadyExists as i32;
            assert_eq!(
                grpc_status_of_call(&services, name).await,
                Some(code.to_string()),
                "{name} is routed to its service"
            );
        }
        let unknown = health
            .check(HealthCheckRequest {
                service: "test.v1.Gamma".to_owned(),
            })
            .await
            .expect_err("a service never added is unknown");
        assert_eq!(unknown.code(), tonic::Code::NotFound);
        let unimplemented = tonic::Code::Unimplemented as i32;
        assert_eq!(
            grpc_status_of_call(&services, "test.v1.Gamma").await,
            Some(unimplemented.to_string())
        );

        stop.cancel();
        serving.await.expect("joins").expect("stops cleanly");
    }

    /// Status line and body of a GET on the admin port.
    async fn admin_get(addr: SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("reads");
        let status = response
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned());
        (status, body.unwrap_or_default())
    }

    async fn health_of(health: &mut HealthClient<Channel>, service: &str) -> Reported {
        health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("known to health")
            .into_inner()
            .status()
    }

    #[tokio::test]
    async fn health_and_readyz_follow_a_dependency_and_liveness_does_not() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};

        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        let mut settings = settings();
        settings.readiness_interval_ms = 20;
        let mut server = GrpcServer::bind("test", &settings).await.expect("binds");
        server.require(Dependency::new("database", move || {
            let up = flag.load(Ordering::SeqCst);
            async move { if up { Ok(()) } else { Err("unreachable") } }
        }));
        let (grpc, admin) = (
            server.grpc_addr().expect("grpc"),
            server.admin_addr().expect("admin"),
        );
        // The admin port answers before the server serves: alive, not ready.
        assert_eq!(admin_get(admin, "/healthz").await.0, 200);
        let (status, body) = admin_get(admin, "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (503, "not ready (starting or draining)\ndatabase: pending\n")
        );

        let services = GrpcServices::new().add_service(Alpha);
        let stop = CancellationToken::new();
        let serving = tokio::spawn(server.serve(services, stop.clone()));
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .expect("uri")
            .connect()
            .await
            .expect("connects");
        let mut health = HealthClient::new(channel);
        // Checked once before the first call is served.
        assert_eq!(
            health_of(&mut health, "test.v1.Alpha").await,
            Reported::Serving
        );
        assert_eq!(
            admin_get(admin, "/readyz").await,
            (200, "ready\ndatabase: up\n".to_owned())
        );

        for (dependency_up, want, readyz) in [
            (false, Reported::NotServing, 503),
            (true, Reported::Serving, 200),
        ] {
            up.store(dependency_up, Ordering::SeqCst);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                let overall = health_of(&mut health, "").await;
                let service = health_of(&mut health, "test.v1.Alpha").await;
                let ready = admin_get(admin, "/readyz").await.0;
                if (overall, service, ready) == (want, want, readyz) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{overall:?} {service:?} {ready}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                admin_get(admin, "/healthz").await.0,
                200,
                "liveness ignores the dependency"
            );
        }

        stop.cancel();
        serving.await.expect("joins").expect("stops cleanly");
    }
}
