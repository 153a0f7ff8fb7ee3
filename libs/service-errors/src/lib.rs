//! What every service shares about failing: one error type mapped to gRPC
//! statuses (field violations in `BadRequest` details, internal causes logged, never sent), and
//! the collector that lets one response name every bad field.

mod error;
mod violations;

pub use error::{Conflict, Error, Result};
pub use violations::{FieldViolation, Violations};
