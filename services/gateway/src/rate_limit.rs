//! Token-bucket rate limits per route class, keyed by tenant (from the verified token) and by
//! client address, reported in `RateLimit-*` headers (draft-ietf-httpapi-ratelimit-headers).
//!
//! With `gateway.redis_url` set the buckets live in Redis, shared by every replica (`shared.rs`);
//! the in-process buckets (governor) answer when Redis is not configured, and stand in while it is
//! unreachable. A tenant's default-class bucket may have its own limit (`tenant_limits.rs`).

#[cfg(test)]
mod across_replicas_tests;
mod shared;
pub mod tenant_limits;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderValue};

use crate::error::{Error, retry_after_secs};
use crate::settings::{ClassLimits, RateLimitSettings};
use shared::Decision;
pub use shared::SharedBuckets;
use tenant_limits::override_key;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// Route classes with their own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    Default,
    /// Login and refresh: stricter, as they are what credential stuffing targets.
    Login,
}

impl RouteClass {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Login => "login",
        }
    }
}

/// The state of the bucket closest to its limit, for the response headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    pub limit: u32,
    pub remaining: u32,
    pub reset: Duration,
    /// Seconds for an empty bucket to refill.
    pub window: Duration,
}

impl Quotas {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert(
            "ratelimit-reset",
            HeaderValue::from(self.reset.as_secs() + u64::from(self.reset.subsec_nanos() > 0)),
        );
        if let Ok(policy) = HeaderValue::from_str(&format!(
            "{};w={}",
            self.limit,
            retry_after_secs(self.window)
        )) {
            headers.insert("ratelimit-policy", policy);
        }
    }

    /// The quotas with fewer requests left, whose headers the response then carries.
    pub fn tighter(self, other: Self) -> Self {
        if other.remaining < self.remaining {
            other
        } else {
            self
        }
    }
}

/// A refused request: how long to wait, and the headers to send with the 429.
#[derive(Debug)]
pub struct Limited {
    pub quotas: Quotas,
    pub retry_after: Duration,
}

impl Limited {
    pub fn error(&self) -> Error {
        Error::RateLimited {
            retry_after: self.retry_after,
        }
    }
}

struct Bucket<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    per_second: f64,
    burst: u32,
    period: Duration,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    fn new(per_second: f64, burst: u32) -> Self {
        let period = Duration::from_secs_f64(1.0 / per_second.max(f64::MIN_POSITIVE))
            .max(Duration::from_nanos(1));
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst_nz);
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            per_second,
            burst: burst_nz.get(),
            period,
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn check(&self, key: &K) -> Result<Quotas, Limited> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Quotas {
                    limit: self.burst,
                    remaining,
                    reset: self.period * (self.burst - remaining.min(self.burst)),
                    window: self.period * self.burst,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Limited {
                    quotas: Quotas {
                        limit: self.burst,
                        remaining: 0,
                        reset: wait,
                        window: self.period * self.burst,
                    },
                    retry_after: wait,
                })
            }
        }
    }
}

struct ClassBuckets {
    tenant: Bucket<String>,
    client: Bucket<IpAddr>,
}

impl ClassBuckets {
    fn new(limits: &ClassLimits) -> Self {
        Self {
            tenant: Bucket::new(limits.tenant_per_second, limits.tenant_burst),
            client: Bucket::new(limits.client_per_second, limits.client_burst),
        }
    }
}

pub struct RateLimits {
    enabled: bool,
    login_methods: Vec<String>,
    default: ClassBuckets,
    login: ClassBuckets,
    /// Default-class buckets of the tenants with a configured limit of their own, by lowercase
    /// tenant id (as tokens carry it).
    tenant_buckets: HashMap<String, Bucket<String>>,
    /// Redis buckets shared by the replicas, when configured.
    shared: Option<SharedBuckets>,
}

impl RateLimits {
    /// In-process buckets only.
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            enabled: settings.enabled,
            login_methods: settings.login_methods.clone(),
            default: ClassBuckets::new(&settings.default),
            login: ClassBuckets::new(&settings.login),
            tenant_buckets: settings
                .tenants
                .iter()
                .map(|(tenant, l)| (tenant.to_lowercase(), Bucket::new(l.per_second, l.burst)))
                .collect(),
            shared: None,
        }
    }

    /// Shares the buckets through Redis, the local ones standing in while it is unreachable.
    pub fn with_shared(mut self, shared: SharedBuckets) -> Self {
        self.shared = Some(shared);
        self
    }

    pub fn class_of(&self, full_method: Option<&str>) -> RouteClass {
        match full_method {
            Some(m) if self.login_methods.iter().any(|l| l.eq_ignore_ascii_case(m)) => {
                RouteClass::Login
            }
            _ => RouteClass::Default,
        }
    }

    /// Takes one token from the client address's bucket; runs before any token work, so
    /// floods stay cheap.
    pub async fn check_client(
        &self,
        class: RouteClass,
        client: IpAddr,
    ) -> Result<Option<Quotas>, Limited> {
        let Some(buckets) = self.buckets(class) else {
            return Ok(None);
        };
        if let Some(shared) = &self.shared {
            let key = format!("{}:{}:client:{client}", shared.prefix(), class.name());
            let limit = &buckets.client;
            if let Some(decision) = shared
                .check(&key, limit.per_second, limit.burst, None)
                .await
            {
                return decided(decision);
            }
        }
        Ok(Some(buckets.client.check(&client)?))
    }

    /// Takes one token from the tenant's bucket, once the caller is known. In the default class
    /// the tenant's own limit applies when it has one (Redis override, else setting).
    pub async fn check_tenant(
        &self,
        class: RouteClass,
        tenant: &str,
    ) -> Result<Option<Quotas>, Limited> {
        let Some(buckets) = self.buckets(class) else {
            return Ok(None);
        };
        let own = match class {
            RouteClass::Default => self.tenant_buckets.get(tenant),
            RouteClass::Login => None,
        };
        let bucket = own.unwrap_or(&buckets.tenant);
        if let Some(shared) = &self.shared {
            let prefix = shared.prefix();
            // The hash tag keeps the bucket in its override's Redis Cluster slot.
            let key = format!("{prefix}:{}:tenant:{{{tenant}}}", class.name());
            let overridable = (class == RouteClass::Default).then(|| override_key(prefix, tenant));
            if let Some(decision) = shared
                .check(
                    &key,
                    bucket.per_second,
                    bucket.burst,
                    overridable.as_deref(),
                )
                .await
            {
                return decided(decision);
            }
        }
        Ok(Some(bucket.check(&tenant.to_owned())?))
    }

    /// The class's buckets, or `None` when limits are off.
    fn buckets(&self, class: RouteClass) -> Option<&ClassBuckets> {
        self.enabled.then_some(match class {
            RouteClass::Default => &self.default,
            RouteClass::Login => &self.login,
        })
    }

    /// Drops local buckets that are full again, so memory follows the active keys only (Redis
    /// keys expire by themselves).
    pub fn forget_idle(&self) {
        for buckets in [&self.default, &self.login] {
            buckets.tenant.forget_idle();
            buckets.client.forget_idle();
        }
        for bucket in self.tenant_buckets.values() {
            bucket.forget_idle();
        }
    }
}

fn decided(decision: Decision) -> Result<Option<Quotas>, Limited> {
    match decision {
        Decision::Allowed(quotas) => Ok(Some(quotas)),
        Decision::Limited {
            quotas,
            retry_after,
        } => Err(Limited {
            quotas,
            retry_after,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits(tenant_burst: u32, client_burst: u32) -> ClassLimits {
        ClassLimits {
            tenant_per_second: 1.0,
            tenant_burst,
            client_per_second: 1.0,
            client_burst,
        }
    }

    fn settings(default: ClassLimits, login: ClassLimits) -> RateLimitSettings {
        RateLimitSettings {
            enabled: true,
            login_methods: vec!["salescompass.tenants.v1.AuthService/Login".to_owned()],
            default,
            login,
            shared: true,
            redis_prefix: "unused".to_owned(),
            redis_timeout_ms: 50,
            redis_retry_ms: 1000,
            tenants: HashMap::new(),
        }
    }

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    #[tokio::test]
    async fn client_buckets_refuse_after_the_burst_with_a_wait() {
        let limits = RateLimits::new(&settings(limits(100, 3), limits(100, 1)));
        for expected_remaining in [2, 1, 0] {
            let quotas = limits
                .check_client(RouteClass::Default, A)
                .await
                .expect("within burst")
                .expect("enabled");
            assert_eq!(quotas.limit, 3);
            assert_eq!(quotas.remaining, expected_remaining);
        }
        let limited = limits
            .check_client(RouteClass::Default, A)
            .await
            .expect_err("over the burst");
        assert_eq!(limited.quotas.remaining, 0);
        assert!(
            limited.retry_after > Duration::ZERO && limited.retry_after <= Duration::from_secs(1)
        );
        assert!(matches!(limited.error(), Error::RateLimited { .. }));
        assert!(
            limits.check_client(RouteClass::Default, B).await.is_ok(),
            "another client has its own bucket"
        );
    }

    #[tokio::test]
    async fn a_request_checked_for_its_client_then_its_tenant_costs_the_client_one_token() {
        let limits = RateLimits::new(&settings(limits(10, 3), limits(10, 3)));
        for _ in 0..3 {
            assert!(limits.check_client(RouteClass::Default, A).await.is_ok());
            assert!(limits.check_tenant(RouteClass::Default, "t1").await.is_ok());
        }
        assert!(limits.check_client(RouteClass::Default, A).await.is_err());
    }

    #[tokio::test]
    async fn a_tenant_bucket_is_spent_by_its_tenant_alone() {
        let limits = RateLimits::new(&settings(limits(2, 100), limits(100, 100)));
        assert!(limits.check_tenant(RouteClass::Default, "t1").await.is_ok());
        assert!(limits.check_tenant(RouteClass::Default, "t1").await.is_ok());
        assert!(
            limits
                .check_tenant(RouteClass::Default, "t1")
                .await
                .is_err()
        );
        assert!(limits.check_tenant(RouteClass::Default, "t2").await.is_ok());
    }

    #[tokio::test]
    async fn login_has_its_own_stricter_class() {
        let limits = RateLimits::new(&settings(limits(100, 100), limits(100, 1)));
        assert_eq!(
            limits.class_of(Some("salescompass.tenants.v1.AuthService/Login")),
            RouteClass::Login
        );
        assert_eq!(
            limits.class_of(Some("salescompass.tenants.v1.UserService/GetUser")),
            RouteClass::Default
        );
        assert!(limits.check_client(RouteClass::Login, A).await.is_ok());
        assert!(limits.check_client(RouteClass::Login, A).await.is_err());
        assert!(
            limits.check_client(RouteClass::Default, A).await.is_ok(),
            "other routes are unaffected"
        );
    }

    #[test]
    fn headers_follow_the_ratelimit_draft() {
        let mut headers = HeaderMap::new();
        Quotas {
            limit: 10,
            remaining: 4,
            reset: Duration::from_millis(1500),
            window: Duration::from_secs(20),
        }
        .write_headers(&mut headers);
        assert_eq!(headers["ratelimit-limit"], "10");
        assert_eq!(headers["ratelimit-remaining"], "4");
        assert_eq!(headers["ratelimit-reset"], "2");
        assert_eq!(headers["ratelimit-policy"], "10;w=20");
    }

    #[tokio::test]
    async fn disabled_limits_never_refuse() {
        let mut s = settings(limits(1, 1), limits(1, 1));
        s.enabled = false;
        let limits = RateLimits::new(&s);
        for _ in 0..5 {
            assert!(matches!(
                limits.check_client(RouteClass::Default, A).await,
                Ok(None)
            ));
            assert!(matches!(
                limits.check_tenant(RouteClass::Default, "t").await,
                Ok(None)
            ));
        }
    }
}
