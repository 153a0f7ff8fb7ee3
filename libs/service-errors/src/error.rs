//! A service's errors, mapped once to gRPC statuses (with field violations for bad input).
//! Internal causes are logged with the request's span and never sent to the caller.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::FieldViolation;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    /// Missing, deleted, in another tenant or not visible to the caller: all look the same.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A record merged into another: NOT_FOUND naming the survivor (`into`, e.g. `leads/<id>`)
    /// in the message and a ResourceInfo detail, so clients can follow it.
    #[error("{what} was merged into {into}")]
    Merged { what: &'static str, into: String },
    #[error("{message}")]
    AlreadyExists {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    FailedPrecondition(String),
    /// The caller reaches the resource but may not do this to it (e.g. a record shared with them
    /// read-only): PERMISSION_DENIED. Missing permissions are `Auth` errors instead.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request collides with existing resources (e.g. likely duplicates of a record being
    /// created): ALREADY_EXISTS with one precondition-failure violation per resource, so REST
    /// clients get them in the problem's `errors` too.
    #[error("{message}")]
    Conflicts {
        message: String,
        conflicts: Vec<Conflict>,
    },
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("storage failure: {0}")]
    Store(#[from] sqlx::Error),
    #[error("event failure: {0}")]
    Events(events::Error),
    #[error("{0}")]
    Internal(String),
}

/// One existing resource a request collides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Why it collides, e.g. `email,phone`.
    pub kind: String,
    /// The resource, e.g. `leads/0190…`.
    pub subject: String,
    pub description: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    /// Puts field violations under `prefix` (e.g. `contact.`), for errors raised by code that
    /// knows the field but not the request message it sits in.
    pub fn prefixed(self, prefix: &str) -> Self {
        match self {
            Error::InvalidArgument(violations) => Error::InvalidArgument(
                violations
                    .into_iter()
                    .map(|v| FieldViolation::new(format!("{prefix}{}", v.field), v.description))
                    .collect(),
            ),
            other => other,
        }
    }
}

impl From<Vec<FieldViolation>> for Error {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Error::InvalidArgument(violations)
    }
}

/// A database failure while writing or reading events is a storage failure (so a pool timeout is
/// UNAVAILABLE, as for any query); anything else about events is an event failure.
impl From<events::Error> for Error {
    fn from(error: events::Error) -> Self {
        match error {
            events::Error::Database(e) => Error::Store(e),
            other => Error::Events(other),
        }
    }
}

/// Signing keys that cannot be loaded or used are an internal failure, never the caller's.
impl From<auth::token::KeyError> for Error {
    fn from(error: auth::token::KeyError) -> Self {
        Error::Internal(error.to_string())
    }
}

impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidArgument(violations) => {
                let summary = violations
                    .iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, v.description);
                }
                tonic::Status::with_error_details(Code::InvalidArgument, summary, details)
            }
            Error::NotFound(what) => tonic::Status::not_found(format!("{what} not found")),
            Error::Merged { what, into } => {
                let message = format!("{what} was merged into {into}");
                let mut details = ErrorDetails::new();
                details.set_resource_info(what, into, "", "merged into this record");
                tonic::Status::with_error_details(Code::NotFound, message, details)
            }
            Error::AlreadyExists { field, message } => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation(field, message.clone());
                tonic::Status::with_error_details(Code::AlreadyExists, message, details)
            }
            Error::FailedPrecondition(message) => tonic::Status::failed_precondition(message),
            Error::PermissionDenied(message) => tonic::Status::permission_denied(message),
            Error::Conflicts { message, conflicts } => {
                let mut details = ErrorDetails::new();
                for c in conflicts {
                    details.add_precondition_failure_violation(c.kind, c.subject, c.description);
                }
                tonic::Status::with_error_details(Code::AlreadyExists, message, details)
            }
            Error::Auth(error) => error.into(),
            Error::Store(error) => {
                if is_unavailable(&error) {
                    tracing::warn!(%error, "database unavailable");
                    tonic::Status::unavailable("storage temporarily unavailable")
                } else {
                    tracing::error!(%error, "storage failure");
                    tonic::Status::internal("internal error")
                }
            }
            Error::Events(error) => {
                tracing::error!(%error, "event failure");
                tonic::Status::internal("internal error")
            }
            Error::Internal(message) => {
                tracing::error!(error = %message, "internal failure");
                tonic::Status::internal("internal error")
            }
        }
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_carry_field_paths_into_bad_request_details() {
        let status: tonic::Status = Error::invalid("account_id", "no such account")
            .prefixed("contact.")
            .into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_error_details()
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["contact.account_id"]);
    }

    #[test]
    fn refusals_on_reachable_resources_are_permission_denied() {
        let status: tonic::Status =
            Error::PermissionDenied("the lead is shared with you read-only".into()).into();
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "the lead is shared with you read-only");
    }

    #[test]
    fn event_store_timeouts_are_unavailable_like_any_query() {
        let status: tonic::Status =
            Error::from(events::Error::Database(sqlx::Error::PoolTimedOut)).into();
        assert_eq!(status.code(), Code::Unavailable);
        let status: tonic::Status =
            Error::from(events::Error::InvalidEventType("Bad".into())).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("Bad"));
    }

    #[test]
    fn storage_errors_do_not_leak() {
        let status: tonic::Status = Error::Store(sqlx::Error::Protocol("secret".into())).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
