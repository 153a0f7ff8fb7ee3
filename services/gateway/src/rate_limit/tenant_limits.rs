//! Per-tenant limits of the default route class: a tenant's plan may allow more (or less) than
//! `gateway.rate_limit.default.tenant_*`.
//!
//! Two sources, the later winning: the `gateway.rate_limit.tenants` setting (tenant id → rate and
//! burst, read at start), and an override in Redis at [`override_key`], which the shared bucket
//! script reads in the same round trip as the bucket itself. The Redis override is what the
//! billing service sets from the plan ([`TenantLimitOverrides`]): every replica sees it on the
//! tenant's next request, with no restart, no fan-out to replicas and no extra round trip.

use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// A tenant's token bucket: `per_second` tokens refill it, up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TenantLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl TenantLimit {
    pub fn is_valid(&self) -> bool {
        self.per_second.is_finite() && self.per_second > 0.0 && self.burst > 0
    }
}

/// The Redis key holding `tenant`'s override (JSON [`TenantLimit`]). The braces are a Redis
/// Cluster hash tag that puts it in the slot of the tenant's bucket, which the script reads with
/// it.
pub fn override_key(prefix: &str, tenant: &str) -> String {
    format!("{prefix}:override:{{{tenant}}}")
}

#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    #[error("a tenant limit needs a positive rate and burst")]
    Invalid,
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unreadable override: {0}")]
    Unreadable(#[from] serde_json::Error),
}

/// Sets, reads and clears tenants' limit overrides in Redis; what the billing service will drive
/// from a tenant's plan. Depends only on Redis and the key format, so it can move to a library
/// of its own when the billing service needs it.
#[derive(Clone)]
pub struct TenantLimitOverrides {
    connection: ConnectionManager,
    prefix: String,
}

impl TenantLimitOverrides {
    /// `prefix` is the gateways' `gateway.rate_limit.redis_prefix`.
    pub fn new(connection: ConnectionManager, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
        }
    }

    /// Applies from each gateway's next check of the tenant; its bucket keeps the tokens it has.
    pub async fn set(&self, tenant: &str, limit: TenantLimit) -> Result<(), OverrideError> {
        if !limit.is_valid() {
            return Err(OverrideError::Invalid);
        }
        let value = serde_json::to_string(&limit)?;
        let _: () = self
            .connection
            .clone()
            .set(override_key(&self.prefix, tenant), value)
            .await?;
        Ok(())
    }

    pub async fn get(&self, tenant: &str) -> Result<Option<TenantLimit>, OverrideError> {
        let value: Option<String> = self
            .connection
            .clone()
            .get(override_key(&self.prefix, tenant))
            .await?;
        Ok(value.map(|v| serde_json::from_str(&v)).transpose()?)
    }

    /// Back to the configured limit.
    pub async fn clear(&self, tenant: &str) -> Result<(), OverrideError> {
        let _: i64 = self
            .connection
            .clone()
            .del(override_key(&self.prefix, tenant))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_key_shares_the_tenants_cluster_slot() {
        assert_eq!(override_key("p", "t1"), "p:override:{t1}");
    }

    #[test]
    fn only_positive_limits_are_valid() {
        let ok = TenantLimit {
            per_second: 0.5,
            burst: 1,
        };
        assert!(ok.is_valid());
        assert!(!TenantLimit { burst: 0, ..ok }.is_valid());
        assert!(
            !TenantLimit {
                per_second: 0.0,
                ..ok
            }
            .is_valid()
        );
        assert!(
            !TenantLimit {
                per_second: f64::NAN,
                ..ok
            }
            .is_valid()
        );
    }
}
