//! Search requests and results: what a query may be, which record types it covers and how deep
//! it pages.

use uuid::Uuid;

use super::visibility::RecordKind;

/// Longest query accepted, in characters.
pub const MAX_QUERY_LEN: usize = 200;
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
/// Deepest result served. Ranks are floats recomputed on every call, so search pages by offset
/// rather than by keyset; the bound keeps a deep page from scanning without limit.
pub const MAX_OFFSET: u32 = 1_000;
/// Lowest `word_similarity` of the query to a record's name for a fuzzy match (pg_trgm's default
/// of 0.6 misses single typos in short names such as "Globx").
pub const FUZZY_THRESHOLD: f64 = 0.5;

/// Every record type search covers, in the order results of equal rank are listed.
pub const ALL_KINDS: [RecordKind; 4] = [
    RecordKind::Account,
    RecordKind::Contact,
    RecordKind::Lead,
    RecordKind::Opportunity,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Trimmed, non-empty web-search text.
    pub text: String,
    /// Non-empty, without duplicates.
    pub kinds: Vec<RecordKind>,
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub kind: RecordKind,
    pub id: Uuid,
    pub title: String,
    pub snippet: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hits {
    pub hits: Vec<Hit>,
    /// Set when more results follow this page.
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("is required")]
    Empty,
    #[error("must be at most {MAX_QUERY_LEN} characters")]
    TooLong,
    #[error("must not contain control characters")]
    Control,
}

/// The query text, trimmed.
pub fn parse_text(raw: &str) -> Result<String, QueryError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(QueryError::Empty);
    }
    if text.chars().count() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    if text.chars().any(char::is_control) {
        return Err(QueryError::Control);
    }
    Ok(text.to_owned())
}

/// A page size within `1..=MAX_PAGE_SIZE`; 0 means the default.
pub fn parse_page_size(raw: i32) -> Result<u32, String> {
    match u32::try_from(raw) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(format!("must be between 0 and {MAX_PAGE_SIZE}")),
    }
}

/// The requested kinds (empty: all) restricted to those the caller may read. Asking explicitly
/// for a kind the caller may not read is refused rather than silently dropped.
pub fn kinds(
    requested: &[RecordKind],
    readable: impl Fn(RecordKind) -> bool,
) -> Result<Vec<RecordKind>, RecordKind> {
    if requested.is_empty() {
        return Ok(ALL_KINDS.into_iter().filter(|k| readable(*k)).collect());
    }
    let mut kinds = Vec::new();
    for kind in ALL_KINDS {
        if requested.contains(&kind) {
            if !readable(kind) {
                return Err(kind);
            }
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_trimmed_and_bounded() {
        assert_eq!(parse_text("  acme  ").as_deref(), Ok("acme"));
        assert_eq!(parse_text("   "), Err(QueryError::Empty));
        assert_eq!(parse_text(&"x".repeat(201)), Err(QueryError::TooLong));
        assert_eq!(parse_text("a\u{0}b"), Err(QueryError::Control));
    }

    #[test]
    fn page_sizes_default_and_are_capped() {
        assert_eq!(parse_page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(parse_page_size(100), Ok(100));
        assert!(parse_page_size(101).is_err());
        assert!(parse_page_size(-1).is_err());
    }

    #[test]
    fn kinds_default_to_the_readable_ones_and_refuse_others() {
        let no_deals = |k: RecordKind| matches!(k, RecordKind::Account | RecordKind::Contact);
        assert_eq!(
            kinds(&[], no_deals),
            Ok(vec![RecordKind::Account, RecordKind::Contact])
        );
        assert_eq!(
            kinds(&[RecordKind::Lead, RecordKind::Lead], |_| true),
            Ok(vec![RecordKind::Lead])
        );
        assert_eq!(
            kinds(&[RecordKind::Contact, RecordKind::Lead], no_deals),
            Err(RecordKind::Lead)
        );
    }
}
