//! Pure rules of the tenants service: parsed value types and decisions, no I/O.

pub mod audit;
pub mod email;
pub mod exchange_rate;
pub mod filter;
pub mod lockout;
pub mod password;
pub mod role;
pub mod service_account;
pub mod settings;
pub mod slug;
pub mod tenant;
pub mod user;
pub mod violations;

pub use email::Email;
pub use slug::Slug;
pub use violations::{FieldViolation, Violations};
