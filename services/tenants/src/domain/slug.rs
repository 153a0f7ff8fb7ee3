//! Tenant slugs: the handle users type at login.

use std::fmt;

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 63;

/// 3–63 characters of `a-z`, `0-9` and `-`, starting with a letter, not ending with `-`, no `--`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must be {MIN_LEN} to {MAX_LEN} characters long")]
    Length,
    #[error("may contain only lowercase letters, digits and '-'")]
    Charset,
    #[error("must start with a letter and must not end with '-' or contain '--'")]
    Shape,
}

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, SlugError> {
        if !(MIN_LEN..=MAX_LEN).contains(&raw.len()) {
            return Err(SlugError::Length);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(SlugError::Charset);
        }
        if !raw.starts_with(|c: char| c.is_ascii_lowercase())
            || raw.ends_with('-')
            || raw.contains("--")
        {
            return Err(SlugError::Shape);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for ok in ["acme", "acme-corp", "a1b", &"a".repeat(63)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_slugs_with_the_reason() {
        assert_eq!(Slug::parse("ab"), Err(SlugError::Length));
        assert_eq!(Slug::parse(&"a".repeat(64)), Err(SlugError::Length));
        assert_eq!(Slug::parse("Acme"), Err(SlugError::Charset));
        assert_eq!(Slug::parse("ac me"), Err(SlugError::Charset));
        assert_eq!(Slug::parse("1acme"), Err(SlugError::Shape));
        assert_eq!(Slug::parse("acme-"), Err(SlugError::Shape));
        assert_eq!(Slug::parse("ac--me"), Err(SlugError::Shape));
    }
}
