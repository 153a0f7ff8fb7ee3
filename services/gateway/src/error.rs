//! The gateway's one error type: start-up failures and every reason a request is refused.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;

/// A field-level problem, reported to clients in the problem body's `errors` list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// JSON path of the field, in proto3 JSON (lowerCamelCase) names.
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error("invalid setting {key}: {reason}")]
    InvalidSetting { key: String, reason: String },
    #[error("invalid descriptor set: {0}")]
    Descriptors(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("idempotency store: {0}")]
    Store(String),

    #[error("no route matches {method} {path}")]
    RouteNotFound { method: Method, path: String },
    #[error("method {method} is not allowed here; allowed: {}", allowed_list(.allowed))]
    MethodNotAllowed {
        method: Method,
        allowed: Vec<Method>,
    },
    #[error("unsupported content type `{0}`; send application/json")]
    UnsupportedMediaType(String),
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    BadRequest {
        detail: String,
        violations: Vec<Violation>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("rate limit exceeded; retry in {} s", retry_after_secs(*.retry_after))]
    RateLimited { retry_after: Duration },
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInFlight,
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("upstream returned {}", .0.code())]
    Upstream(Box<tonic::Status>),
    #[error("service `{service}` is unavailable")]
    Unavailable {
        service: String,
        retry_after: Duration,
    },
    #[error("the upstream call exceeded its deadline")]
    DeadlineExceeded,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            detail: detail.into(),
            violations: Vec::new(),
        }
    }

    pub fn bad_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        let field = field.into();
        let description = description.into();
        Self::BadRequest {
            detail: format!("invalid field `{field}`: {description}"),
            violations: vec![Violation { field, description }],
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        Self::Upstream(Box::new(status))
    }
}

/// Whole seconds for `Retry-After`, never 0 so clients do not retry in a busy loop.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

fn allowed_list(allowed: &[Method]) -> String {
    allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }
}
