//! Email addresses: the shared value type of the `email` lib (one rule for every service).

pub use ::email::{Email, EmailError, MAX_LEN};
