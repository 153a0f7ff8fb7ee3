//! Postgres access shared by every service: one schema and one non-owner role per service,
//! embedded migrations, transactions scoped to a tenant for row-level security, and opaque
//! page tokens for AIP-158 paging.

pub mod page;
pub mod pool;
pub mod pool_metrics;
pub mod session;
pub mod tenant_tx;
pub mod transaction;

pub use page::{PageSize, PageToken, PageTokenError};
pub use pool::{DatabaseSettings, PingError, connect, migrate, ping, pinger};
pub use session::{SessionTx, Sessions};
pub use tenant_tx::begin_for_tenant;
pub use transaction::{begin, begin_with};

/// Errors of the database plumbing (not of a service's queries).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid database setting {key}: {reason}")]
    Setting { key: &'static str, reason: String },
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Error {
    /// The database could not be reached (refused, reset, timed out, or still starting up), so
    /// a start-up step may succeed when retried; a bad setting or a failing migration cannot.
    pub fn is_unavailable(&self) -> bool {
        let sqlx = match self {
            Error::Sqlx(error) => error,
            Error::Migrate(sqlx::migrate::MigrateError::Execute(error)) => error,
            Error::Migrate(_) | Error::Setting { .. } => return false,
        };
        match sqlx {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
            // 57P03 cannot_connect_now: the server is starting up or shutting down.
            sqlx::Error::Database(db) => db.code().as_deref() == Some("57P03"),
            _ => false,
        }
    }
}

/// Postgres SQLSTATE for a unique violation; stores map it to ALREADY_EXISTS.
pub const UNIQUE_VIOLATION: &str = "23505";
/// Postgres SQLSTATE for a foreign-key violation; stores map it to NOT_FOUND / INVALID_ARGUMENT.
pub const FOREIGN_KEY_VIOLATION: &str = "23503";

/// The constraint name when `error` is a unique violation.
pub fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            Some(db.constraint().unwrap_or_default())
        }
        _ => None,
    }
}

/// The constraint name when `error` is a foreign-key violation.
pub fn foreign_key_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(FOREIGN_KEY_VIOLATION) => {
            Some(db.constraint().unwrap_or_default())
        }
        _ => None,
    }
}
