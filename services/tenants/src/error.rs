//! The tenants service's errors: the one error type every service maps to gRPC statuses
//! (`service-errors`: field violations for bad input, internal causes logged, never sent).

pub use service_errors::{Error, Result};

impl From<crate::domain::password::HashError> for Error {
    fn from(error: crate::domain::password::HashError) -> Self {
        Error::Internal(error.to_string())
    }
}
