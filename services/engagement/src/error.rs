//! The engagement service's errors: the shared service error type, mapped once to gRPC statuses.

pub use service_errors::{Error, Result};
