//! Pure rules of commissions: money arithmetic, plans, periods, the calculation engine,
//! statements and who sees what. No I/O, no proto types, no SQL.

pub mod adjustment;
pub mod audit;
pub mod conversion;
pub mod engine;
pub mod estimate;
pub mod listing;
pub mod money;
pub mod period;
pub mod plan;
pub mod quota;
pub mod quota_upload;
pub mod statement;
pub mod violations;
pub mod visibility;

pub use violations::{FieldViolation, Violations};
pub use visibility::Viewer;
