//! Web domains of accounts: lowercase host names without scheme or path.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must be a bare domain such as acme.com, without scheme or path")]
    NotBare,
    #[error("is not a valid domain name")]
    Syntax,
}

const MAX_LEN: usize = 253;

/// A domain such as `acme.com`, lowercased; the empty string means "not set".
pub fn parse_optional(raw: &str) -> Result<String, DomainError> {
    let domain = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return Ok(domain);
    }
    if domain.contains("://") || domain.contains('/') {
        return Err(DomainError::NotBare);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let valid = domain.len() <= MAX_LEN
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(domain)
    } else {
        Err(DomainError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_validates() {
        assert_eq!(parse_optional(" Acme.COM. "), Ok("acme.com".to_owned()));
        assert_eq!(parse_optional(""), Ok(String::new()));
        assert_eq!(
            parse_optional("https://acme.com"),
            Err(DomainError::NotBare)
        );
        assert_eq!(parse_optional("acme"), Err(DomainError::Syntax));
        assert_eq!(parse_optional("ac me.com"), Err(DomainError::Syntax));
    }
}
