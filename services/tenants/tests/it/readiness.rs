//! Readiness follows the database: a TCP proxy in front of Postgres is cut off and restored, and
//! `/readyz` and gRPC health flip with it while `/healthz` stays up.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Forwards TCP connections to Postgres while open; when cut, drops every forwarded connection
/// and closes each new one at once (the client sees the database go away).
struct PgProxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl PgProxy {
    async fn start(open: bool, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let addr = listener.local_addr().expect("proxy addr");
        let (state, _) = watch::channel(open);
        let open = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*state.borrow() {
                    drop(client);
                    continue;
                }
                tokio::spawn(forward(client, upstream, state.subscribe()));
            }
        });
        Self { addr, open, accept }
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn restore(&self) {
        self.open.send_replace(true);
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url has a scheme");
        let (credentials, rest) = rest.rsplit_once('@').map_or(("", rest), |(c, r)| (c, r));
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        let at = if credentials.is_empty() { "" } else { "@" };
        format!("{scheme}://{credentials}{at}{}{path}", self.addr)
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn forward(mut client: TcpStream, upstream: SocketAddr, mut open: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = open.wait_for(|open| !*open) => {}
    }
}

/// The Postgres address of the test database URL.
fn upstream(url: &str) -> SocketAddr {
    let rest = url.split_once("://").expect("scheme").1;
    let host = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = host.split('/').next().expect("host");
    let host = host.replace("localhost", "127.0.0.1");
    let host = if host.contains(':') {
        host
    } else {
        format!("{host}:5432")
    };
    host.parse().expect("the test database is at an IP address")
}

/// Status line and body of a GET on the admin port; `None` when the port does not answer.
async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

async fn health(channel: &Channel, service: &str) -> Option<ServingStatus> {
    let reply = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    ServingStatus::try_from(reply.into_inner().status).ok()
}

const SERVICE: &str = "salescompass.tenants.v1.TenantService";

/// Polls until `/readyz` answers `status` and gRPC health (the server's and one service's)
/// answers `serving`, checking on the way that `/healthz` stays 200.
async fn wait_for(admin: SocketAddr, channel: &Channel, status: u16, serving: ServingStatus) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let alive = get(admin, "/healthz").await;
        assert_eq!(alive.map(|(s, _)| s), Some(200), "liveness stays up");
        let ready = get(admin, "/readyz").await;
        let overall = health(channel, "").await;
        let service = health(channel, SERVICE).await;
        if ready.as_ref().map(|(s, _)| *s) == Some(status)
            && overall == Some(serving)
            && service == Some(serving)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "want /readyz {status} and health {serving:?}; have {ready:?}, {overall:?}, {service:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fast probes, so the test sees each flip within a fraction of a second.
fn fast_probes(settings: &mut tenants::Settings) {
    settings.server.readiness_interval_ms = 200;
    settings.server.readiness_timeout_ms = 500;
}

#[tokio::test]
async fn readiness_follows_the_database_away_and_back() {
    let (mut settings, schema) = tenants::testing::test_settings();
    let proxy = PgProxy::start(true, upstream(&settings.database.url)).await;
    settings.database.url = proxy.url_for(&settings.database.url);
    fast_probes(&mut settings);
    let svc = tenants::testing::spawn_with(settings, schema).await;
    let channel = svc.channel().await;

    wait_for(svc.admin_addr, &channel, 200, ServingStatus::Serving).await;
    let (_, body) = get(svc.admin_addr, "/readyz").await.expect("answers");
    assert_eq!(body, "ready\ndatabase: up\n");

    proxy.cut();
    wait_for(svc.admin_addr, &channel, 503, ServingStatus::NotServing).await;
    let (_, body) = get(svc.admin_addr, "/readyz").await.expect("answers");
    assert!(body.starts_with("not ready\ndatabase: down ("), "{body}");
    assert!(!body.contains("postgres://"), "no URL in the body: {body}");

    proxy.restore();
    wait_for(svc.admin_addr, &channel, 200, ServingStatus::Serving).await;
}

#[tokio::test]
async fn a_service_started_without_its_database_waits_for_it() {
    let (mut settings, schema) = tenants::testing::test_settings();
    let proxy = PgProxy::start(false, upstream(&settings.database.url)).await;
    settings.database.url = proxy.url_for(&settings.database.url);
    fast_probes(&mut settings);
    // The admin address must be known before the build returns: the build itself waits (it
    // migrates at start, once the database is there).
    let free = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let admin = free.local_addr().expect("addr");
    drop(free);
    settings.server.admin_listen = admin;
    assert!(settings.database.migrate_on_start);

    let build = tenants::Application::build(settings.clone());
    let observe = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        // Alive and not ready while the database refuses, for more than a few retries.
        let mut answered = 0;
        while answered < 10 {
            match (get(admin, "/healthz").await, get(admin, "/readyz").await) {
                (Some((200, _)), Some((503, _))) => answered += 1,
                other => assert!(
                    tokio::time::Instant::now() < deadline,
                    "admin port should answer alive, not ready: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        proxy.restore();
    };
    let (app, ()) = tokio::join!(build, observe);
    let app = app.expect("starts once the database is there");
    let grpc = app.grpc_addr().expect("grpc addr");
    let stop = runtime::CancellationToken::new();
    let running = tokio::spawn(app.run(stop.clone()));
    let channel = Channel::from_shared(format!("http://{grpc}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    wait_for(admin, &channel, 200, ServingStatus::Serving).await;

    stop.cancel();
    running.await.expect("joins").expect("stops cleanly");
    drop(schema);
}

#[tokio::test]
async fn without_migrations_at_start_the_service_starts_at_once_and_becomes_ready_later() {
    let (mut settings, schema) = tenants::testing::test_settings();
    tenants::migrate(&settings)
        .await
        .expect("migrates directly");
    let proxy = PgProxy::start(false, upstream(&settings.database.url)).await;
    settings.database.url = proxy.url_for(&settings.database.url);
    settings.database.migrate_on_start = false;
    fast_probes(&mut settings);
    let svc = tenants::testing::spawn_with(settings, schema).await;
    let channel = svc.channel().await;

    wait_for(svc.admin_addr, &channel, 503, ServingStatus::NotServing).await;
    let (_, body) = get(svc.admin_addr, "/readyz").await.expect("answers");
    assert!(body.contains("database: down ("), "{body}");

    proxy.restore();
    wait_for(svc.admin_addr, &channel, 200, ServingStatus::Serving).await;
}
