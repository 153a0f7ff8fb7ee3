//! AIP-160 filters: `filter` strings parsed into an AST, checked against the fields a listing
//! exposes, and compiled into SQL with bind parameters (values never become SQL text).
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
//! Every error carries the byte position of the offending token.

mod check;
pub mod custom;
mod lexer;
mod parser;
mod sql;

pub use check::{
    CUSTOM_PREFIX, Condition, CustomCondition, Field, Kind, ResolvedCustom, Value, check,
    check_with,
};
pub use parser::{CompareOp, Comparison, Expr, parse_expression};
pub use sql::push_condition;

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
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
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

/// Like [`parse`]; with `allow_custom`, `custom.<key>` comparisons are accepted for the store to
/// resolve against the tenant's definitions ([`custom::resolve`]).
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
