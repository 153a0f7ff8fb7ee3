//! Field-level validation results, collected so one response names every bad field.

pub use service_errors::{FieldViolation, Violations};
