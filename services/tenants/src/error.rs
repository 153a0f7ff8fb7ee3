//! The tenants service's errors, mapped once to gRPC statuses (with field violations for bad
//! input). Internal causes are logged with the request's span and never sent to the caller.

use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::FieldViolation;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    AlreadyExists {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("storage failure: {0}")]
    Store(#[from] sqlx::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Error::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}

impl From<Vec<FieldViolation>> for Error {
    fn from(violations: Vec<FieldViolation>) -> Self {
        Error::InvalidArgument(violations)
    }
}

impl From<crate::domain::password::HashError> for Error {
    fn from(error: crate::domain::password::HashError) -> Self {
        Error::Internal(error.to_string())
    }
}

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
            Error::AlreadyExists { field, message } => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation(field, message.clone());
                tonic::Status::with_error_details(Code::AlreadyExists, message, details)
            }
            Error::FailedPrecondition(message) => tonic::Status::failed_precondition(message),
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
