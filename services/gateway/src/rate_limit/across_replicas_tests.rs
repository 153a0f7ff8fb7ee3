//! The shared buckets against the real Redis (`REDIS_URL`, default 127.0.0.1:6379): each test
//! uses its own key prefix, so tests run in parallel with each other and with other suites.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::tenant_limits::{TenantLimit, TenantLimitOverrides};
use super::*;
use crate::settings::ClassLimits;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7));
const DEADLINE: Duration = Duration::from_secs(20);

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique_prefix() -> String {
    format!("test:ratelimit:{}", uuid::Uuid::now_v7())
}

/// Tenant and client buckets of `burst` tokens that refill too slowly to matter in a test.
fn settings(prefix: &str, burst: u32) -> RateLimitSettings {
    let class = ClassLimits {
        tenant_per_second: 0.001,
        tenant_burst: burst,
        client_per_second: 0.001,
        client_burst: burst,
    };
    RateLimitSettings {
        enabled: true,
        login_methods: Vec::new(),
        default: class,
        login: class,
        shared: true,
        redis_prefix: prefix.to_owned(),
        redis_timeout_ms: 500,
        redis_retry_ms: 20,
        tenants: HashMap::new(),
    }
}

fn limiter(settings: &RateLimitSettings, url: &str) -> RateLimits {
    let shared = SharedBuckets::connect(
        url,
        &settings.redis_prefix,
        Duration::from_millis(settings.redis_timeout_ms),
        Duration::from_millis(settings.redis_retry_ms),
    )
    .expect("redis url");
    RateLimits::new(settings).with_shared(shared)
}

fn is_shared(limits: &RateLimits) -> bool {
    limits.shared.as_ref().is_some_and(SharedBuckets::available)
}

async fn remaining(limits: &RateLimits, tenant: &str) -> Result<u32, Limited> {
    limits
        .check_tenant(RouteClass::Default, tenant)
        .await
        .map(|quotas| quotas.expect("enabled").remaining)
}

#[tokio::test]
async fn two_replicas_on_one_redis_share_one_budget() {
    let settings = settings(&unique_prefix(), 3);
    let first = limiter(&settings, &redis_url());
    let second = limiter(&settings, &redis_url());

    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(remaining(&first, "t1").await.expect("within the burst"));
    }
    assert_eq!(seen, [2, 1, 0]);
    let limited = remaining(&second, "t1")
        .await
        .expect_err("the first replica spent the tenant's budget");
    assert!(limited.retry_after > Duration::ZERO, "{limited:?}");
    assert_eq!(limited.quotas.limit, 3);
    assert_eq!(
        remaining(&second, "t2").await.ok(),
        Some(2),
        "t2 is untouched"
    );
    assert!(is_shared(&first) && is_shared(&second));

    for _ in 0..3 {
        first
            .check_client(RouteClass::Default, CLIENT)
            .await
            .expect("within the burst");
    }
    assert!(
        second
            .check_client(RouteClass::Default, CLIENT)
            .await
            .is_err(),
        "client buckets are shared too"
    );
    assert!(
        second.check_client(RouteClass::Login, CLIENT).await.is_ok(),
        "each class has its own buckets"
    );
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_local_buckets_limiting_without_failing_requests() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let limits = limiter(&settings(&unique_prefix(), 2), &format!("redis://{closed}"));

    assert_eq!(remaining(&limits, "t1").await.ok(), Some(1));
    assert!(!is_shared(&limits), "the failure was noticed");
    assert_eq!(remaining(&limits, "t1").await.ok(), Some(0));
    assert!(
        remaining(&limits, "t1").await.is_err(),
        "the local bucket still limits"
    );
}

#[tokio::test]
async fn buckets_are_shared_again_once_redis_answers() {
    let settings = settings(&unique_prefix(), 1);
    let proxy = PausableProxy::start(&redis_url()).await;
    let through_proxy = limiter(&settings, &format!("redis://{}", proxy.addr));
    let direct = limiter(&settings, &redis_url());

    // Shared: what `direct` spent is gone for `through_proxy` as well.
    remaining(&direct, "before").await.expect("first token");
    assert!(remaining(&through_proxy, "before").await.is_err());

    proxy.pause();
    assert!(
        remaining(&through_proxy, "during").await.is_ok(),
        "the local bucket answers; the request is not failed"
    );
    assert!(remaining(&through_proxy, "during").await.is_err());

    proxy.resume();
    // Each round uses a fresh tenant whose shared token `direct` spends first: only a shared
    // check can refuse it (its local bucket is full).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for round in 0.. {
        let tenant = format!("after-{round}");
        remaining(&direct, &tenant).await.expect("first token");
        if remaining(&through_proxy, &tenant).await.is_err() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never shared again");
        tokio::task::yield_now().await;
    }
    assert!(is_shared(&through_proxy));
}

#[tokio::test]
async fn a_tenant_limit_in_redis_replaces_the_configured_one_on_every_replica() {
    let mut settings = settings(&unique_prefix(), 2);
    settings.tenants.insert(
        "configured".to_owned(),
        TenantLimit {
            per_second: 0.001,
            burst: 4,
        },
    );
    let first = limiter(&settings, &redis_url());
    let second = limiter(&settings, &redis_url());
    let connection = redis::Client::open(redis_url())
        .expect("url")
        .get_connection_manager()
        .await
        .expect("redis");
    let overrides = TenantLimitOverrides::new(connection, &settings.redis_prefix);

    assert_eq!(remaining(&first, "configured").await.ok(), Some(3));
    assert_eq!(remaining(&first, "plain").await.ok(), Some(1));

    let plan = TenantLimit {
        per_second: 0.001,
        burst: 6,
    };
    overrides.set("plain", plan).await.expect("set");
    assert_eq!(overrides.get("plain").await.expect("get"), Some(plan));
    // The tenant spent one token of the default 2; the plan's bucket of 6 holds 4 more.
    let mut seen = Vec::new();
    for limits in [&second, &first, &second, &first] {
        seen.push(remaining(limits, "plain").await.expect("within the plan"));
    }
    assert_eq!(seen, [4, 3, 2, 1]);

    overrides.clear("plain").await.expect("clear");
    assert!(
        remaining(&second, "plain").await.is_err(),
        "back to the configured burst of 2"
    );
    assert!(matches!(
        overrides
            .set(
                "plain",
                TenantLimit {
                    per_second: 1.0,
                    burst: 0
                }
            )
            .await,
        Err(tenant_limits::OverrideError::Invalid)
    ));
}

#[tokio::test]
async fn a_configured_tenant_limit_applies_to_the_local_buckets_too() {
    let mut settings = settings("unused", 1);
    // Tokens carry tenant ids in lowercase; a setting may not.
    settings.tenants.insert(
        "BIG".to_owned(),
        TenantLimit {
            per_second: 0.001,
            burst: 3,
        },
    );
    let limits = RateLimits::new(&settings);
    for expected in [2, 1, 0] {
        assert_eq!(remaining(&limits, "big").await.ok(), Some(expected));
    }
    assert!(remaining(&limits, "big").await.is_err());
    assert_eq!(remaining(&limits, "small").await.ok(), Some(0));
    assert!(
        limits
            .check_tenant(RouteClass::Login, "big")
            .await
            .expect("login bucket")
            .is_some_and(|q| q.limit == 1),
        "the login class keeps its own limit"
    );
}

/// A TCP relay to Redis that can drop its connections and refuse new ones, as an outage would.
struct PausableProxy {
    addr: SocketAddr,
    paused: Arc<AtomicBool>,
    /// Cancelled to cut the open connections.
    connections: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl PausableProxy {
    async fn start(redis_url: &str) -> Self {
        let target = redis::Client::open(redis_url)
            .expect("url")
            .get_connection_info()
            .addr()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let proxy = Self {
            addr: listener.local_addr().expect("address"),
            paused: Arc::new(AtomicBool::new(false)),
            connections: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        let (paused, connections, stop) = (
            proxy.paused.clone(),
            proxy.connections.clone(),
            proxy.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut inbound, _)) = accepted else {
                    continue;
                };
                if paused.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let cut = connections.lock().expect("lock").clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        () = cut.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    }
                });
            }
        });
        proxy
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let mut connections = self.connections.lock().expect("lock");
        connections.cancel();
        *connections = CancellationToken::new();
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}

impl Drop for PausableProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Ok(connections) = self.connections.lock() {
            connections.cancel();
        }
    }
}
