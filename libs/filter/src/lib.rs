//! AIP-160 filters for every List RPC: `filter` strings parsed into an AST, checked against the
//! fields a listing exposes (a static [`Field`] table), and compiled into SQL with bind
//! parameters (values never become SQL text).
//!
//! Grammar (AIP-160 subset; `OR` binds tighter than `AND`, as AIP-160 specifies):
//!
//! ```text
//! filter     := expression?
//! expression := factor (AND factor)*
//! factor     := term (OR term)*
//! term       := (NOT | -) term | '(' expression ')' | comparison
//! comparison := field op value        op: = != < <= > >= :   (":" = contains, text only)
//! value      := bare-word | "double-quoted" | 'single-quoted'
//! ```
//!
//! Keywords are upper case. Timestamps are RFC 3339 and must be quoted (they contain `:`). An
//! empty quoted value on an optional id field (`account_id = ""`) matches records without one.
//! Values must not contain control characters (PostgreSQL refuses NUL in text, and no stored
//! text holds any). Every error carries the byte position of the offending token.
//!
//! A service keeps only what is its own on top: its field tables and, when a listing has fields
//! defined at run time (e.g. the CRM's `custom.<key>`), how to type those
//! ([`Condition::Custom`], resolved with [`typed_value`] before rendering).

mod check;
mod date;
mod lexer;
mod parser;
mod sql;

pub use check::{
    CUSTOM_PREFIX, Condition, CustomCondition, Field, Kind, ResolvedCustom, Value, check,
    check_with, typed_value,
};
pub use date::{DateError, parse_date};
pub use parser::{CompareOp, Comparison, Expr, parse_expression};
pub use sql::{like_pattern, push_condition};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 2_000;
/// Deepest nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons in one filter.
pub const MAX_COMPARISONS: usize = 50;

/// A filter that cannot be used, and where: `position` is a byte offset into the filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub fn at(position: usize, message: impl Into<String>) -> Self {
        Self {
            position,
            message: message.into(),
        }
    }
}

/// Parses and checks `input` against `fields`; the empty filter is `None` (match everything).
pub fn parse(input: &str, fields: &'static [Field]) -> Result<Option<Condition>, FilterError> {
    parse_with(input, fields, false)
}

/// Like [`parse`]; with `allow_custom`, `custom.<key>` comparisons are accepted for the caller
/// to resolve against its run-time definitions.
pub fn parse_with(
    input: &str,
    fields: &'static [Field],
    allow_custom: bool,
) -> Result<Option<Condition>, FilterError> {
    match parse_expression(input)? {
        None => Ok(None),
        Some(expr) => check_with(&expr, fields, allow_custom).map(Some),
    }
}
