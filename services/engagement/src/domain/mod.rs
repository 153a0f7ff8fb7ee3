//! Pure engagement rules, free of proto and SQL: touch kinds and their default points, the
//! scoring model with exponential decay and daily caps, states with hysteresis, touches as
//! parsed at the edge, who sees which record, and heatmap queries.

pub mod batch;
pub mod engagement;
pub mod heatmap;
pub mod kind;
pub mod record;
pub mod report;
pub mod sankey;
pub mod scoring;
pub mod state;
pub mod touch;
pub mod visibility;

pub use engagement::Engagement;
pub use kind::Kind;
pub use record::{RecordRef, RecordType};
pub use scoring::{Decayed, ScoringModel};
pub use service_errors::{FieldViolation, Violations};
pub use state::{State, Thresholds};
pub use visibility::Viewer;
