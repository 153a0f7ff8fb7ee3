//! Buckets in Redis, shared by every gateway replica: one script call per check (GCRA, see
//! `gcra.lua`), keys that expire when their bucket is full again.
//!
//! Redis is optional at run time: a check that fails or takes longer than
//! `gateway.rate_limit.redis_timeout_ms` is answered by the replica's local buckets, and for the
//! next `redis_retry_ms` every check is, so an outage costs each request no wait. A warning is
//! logged when that starts (and at most every [`WARNING_INTERVAL`] while it lasts), and an info
//! line when Redis answers again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::Quotas;

/// Reminders while Redis stays unreachable.
const WARNING_INTERVAL: Duration = Duration::from_secs(30);
const MICROS: f64 = 1_000_000.0;
/// The bucket check, run by Redis.
const GCRA: &str = include_str!("gcra.lua");

/// What the script decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(Quotas),
    Limited {
        quotas: Quotas,
        retry_after: Duration,
    },
}

/// Why Redis gave no decision; the caller then uses its local buckets.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    #[error("unexpected script reply {0:?}")]
    Reply(Vec<i64>),
}

pub struct SharedBuckets {
    connection: ConnectionManager,
    /// The script's SHA-1 as Redis reported it when loading it, for `EVALSHA`.
    script_sha: OnceLock<String>,
    prefix: String,
    timeout: Duration,
    health: Health,
}

impl SharedBuckets {
    /// Connects lazily, so a gateway whose Redis is down still starts (with local buckets).
    pub fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        retry: Duration,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // The limiter's own connection: a multi-megabyte idempotent response being stored on the
        // idempotency store's connection must not delay the check in front of every request.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(250))))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(retry);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            connection,
            script_sha: OnceLock::new(),
            prefix: prefix.to_owned(),
            timeout,
            health: Health::new(retry),
        })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether checks currently go to Redis (false while the local buckets stand in).
    #[cfg(test)]
    pub fn available(&self) -> bool {
        self.health.available()
    }

    /// Takes one token from `key`'s bucket (`per_second`, `burst`), or from the limit stored at
    /// `override_key` when there is one. `None` when Redis could not decide.
    pub async fn check(
        &self,
        key: &str,
        per_second: f64,
        burst: u32,
        override_key: Option<&str>,
    ) -> Option<Decision> {
        if !self.health.available() {
            return None;
        }
        match self.run(key, per_second, burst, override_key).await {
            Ok(decision) => {
                self.health.succeeded();
                Some(decision)
            }
            Err(error) => {
                self.health.failed(&error);
                None
            }
        }
    }

    async fn run(
        &self,
        key: &str,
        per_second: f64,
        burst: u32,
        override_key: Option<&str>,
    ) -> Result<Decision, SharedError> {
        let interval_us = (MICROS / per_second.max(f64::MIN_POSITIVE)).max(1.0);
        let keys: &[&str] = match override_key {
            Some(override_key) => &[key, override_key],
            None => &[key],
        };
        let reply = tokio::time::timeout(self.timeout, self.eval(keys, interval_us, burst))
            .await
            .map_err(|_| SharedError::TimedOut(self.timeout))??;
        decision(&reply).ok_or(SharedError::Reply(reply))
    }

    /// `EVALSHA` of the loaded script: one round trip. The first call loads it, and a Redis
    /// that lost it (restart, `SCRIPT FLUSH`) gets it again with `EVAL`.
    async fn eval(
        &self,
        keys: &[&str],
        interval_us: f64,
        burst: u32,
    ) -> Result<Vec<i64>, redis::RedisError> {
        let mut connection = self.connection.clone();
        let sha = match self.script_sha.get() {
            Some(sha) => sha,
            None => {
                let sha: String = redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(GCRA)
                    .query_async(&mut connection)
                    .await?;
                self.script_sha.get_or_init(|| sha)
            }
        };
        let reply = redis::cmd("EVALSHA")
            .arg(sha)
            .arg(keys.len())
            .arg(keys)
            .arg(interval_us)
            .arg(burst)
            .query_async(&mut connection)
            .await;
        match reply {
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                redis::cmd("EVAL")
                    .arg(GCRA)
                    .arg(keys.len())
                    .arg(keys)
                    .arg(interval_us)
                    .arg(burst)
                    .query_async(&mut connection)
                    .await
            }
            reply => reply,
        }
    }
}

/// `{allowed, burst, remaining, retry_after_us, reset_us, interval_us}` as quotas.
fn decision(reply: &[i64]) -> Option<Decision> {
    let &[allowed, burst, remaining, retry_us, reset_us, interval_us] = reply else {
        return None;
    };
    let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    let burst = u32::try_from(burst).ok()?;
    let quotas = Quotas {
        limit: burst,
        remaining: u32::try_from(remaining).unwrap_or(0).min(burst),
        reset: micros(reset_us),
        window: micros(interval_us) * burst,
    };
    Some(match allowed {
        1 => Decision::Allowed(quotas),
        _ => Decision::Limited {
            quotas,
            retry_after: micros(retry_us),
        },
    })
}

/// Whether Redis is being used, and the warnings when it is not.
struct Health {
    started: Instant,
    retry: Duration,
    /// Microseconds since `started` before which Redis is not tried again.
    down_until: AtomicU64,
    degraded: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

impl Health {
    fn new(retry: Duration) -> Self {
        Self {
            started: Instant::now(),
            retry,
            down_until: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            last_warning: Mutex::new(None),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn available(&self) -> bool {
        self.down_until.load(Ordering::Relaxed) <= self.now()
    }

    fn succeeded(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limits: Redis answers again, buckets are shared across replicas");
        }
    }

    fn failed(&self, error: &SharedError) {
        let retry = u64::try_from(self.retry.as_micros()).unwrap_or(u64::MAX);
        self.down_until
            .store(self.now().saturating_add(retry), Ordering::Relaxed);
        self.degraded.store(true, Ordering::Relaxed);
        let Ok(mut last) = self.last_warning.lock() else {
            return;
        };
        if last.is_none_or(|at| at.elapsed() >= WARNING_INTERVAL) {
            *last = Some(Instant::now());
            tracing::warn!(
                %error,
                retry_ms = self.retry.as_millis(),
                "rate limits: Redis unreachable, this replica limits with its local buckets \
                 (each replica then allows the full limit)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_quotas() {
        let allowed = decision(&[1, 10, 7, 0, 3_000_000, 1_000_000]).expect("reply");
        assert_eq!(
            allowed,
            Decision::Allowed(Quotas {
                limit: 10,
                remaining: 7,
                reset: Duration::from_secs(3),
                window: Duration::from_secs(10),
            })
        );
        let limited = decision(&[0, 10, 0, 250_000, 250_000, 1_000_000]).expect("reply");
        assert!(matches!(
            limited,
            Decision::Limited { retry_after, .. } if retry_after == Duration::from_millis(250)
        ));
        assert!(decision(&[1, 2]).is_none());
    }

    #[test]
    fn a_failure_sends_checks_to_the_local_buckets_until_the_retry_time() {
        let health = Health::new(Duration::from_secs(3600));
        assert!(health.available());
        health.failed(&SharedError::TimedOut(Duration::from_millis(1)));
        assert!(!health.available());
        assert!(health.degraded.load(Ordering::Relaxed));
        health.succeeded();
        assert!(!health.degraded.load(Ordering::Relaxed));

        let health = Health::new(Duration::ZERO);
        health.failed(&SharedError::TimedOut(Duration::from_millis(1)));
        assert!(health.available(), "tried again once the retry time passed");
    }
}
