//! AIP-160 filters of the CRM's listings: the grammar, field checking and SQL rendering are the
//! shared `filter` lib (one grammar for every List); what is the CRM's own is typing
//! `custom.<key>` comparisons with the tenant's custom field definitions ([`custom`]). The field
//! tables live beside each store.

pub mod custom;

pub use ::filter::{
    CUSTOM_PREFIX, CompareOp, Comparison, Condition, CustomCondition, Expr, Field, FilterError,
    Kind, MAX_COMPARISONS, MAX_DEPTH, MAX_FILTER_LEN, ResolvedCustom, Value, check, check_with,
    parse, parse_expression, parse_with, push_condition,
};
