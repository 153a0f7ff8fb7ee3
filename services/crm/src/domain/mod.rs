//! Pure rules of the CRM: parsed value types, records and the decisions about them. No I/O, no
//! proto types, no SQL.

pub mod account;
pub mod activity;
pub mod assignment;
pub mod business_hours;
pub mod case;
pub mod catalog;
pub mod contact;
pub mod conversion;
pub mod country;
pub mod csv;
pub mod custom_fields;
pub mod day;
pub mod duplicates;
pub mod email;
pub mod fiscal;
pub mod forecast;
pub mod history;
pub mod import_job;
pub mod import_row;
pub mod lead;
pub mod lost_reason;
pub mod merge;
pub mod money;
pub mod notification;
pub mod opportunity;
pub mod phone;
pub mod pipeline;
pub mod pipeline_edit;
pub mod pricing;
pub mod quote;
pub mod record;
pub mod record_fields;
pub mod search;
pub mod settings;
pub mod sharing;
pub mod text;
pub mod violations;
pub mod visibility;
pub mod web_domain;

pub use email::Email;
pub use money::Money;
pub use phone::PhoneE164;
pub use violations::{FieldViolation, Violations};
pub use visibility::{Access, RecordKind, Viewer};
