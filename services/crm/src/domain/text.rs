//! Free-text fields: trimmed, bounded in characters, without control characters.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is required")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
}

/// A non-empty text of at most `max` characters.
pub fn required(raw: &str, max: usize) -> Result<String, TextError> {
    let text = optional(raw, max)?;
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    Ok(text)
}

/// A text of at most `max` characters; empty means "not set".
pub fn optional(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(TextError::TooLong(max));
    }
    if text.chars().any(char::is_control) {
        return Err(TextError::Control);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_bounds() {
        assert_eq!(required("  Acme  ", 10), Ok("Acme".to_owned()));
        assert_eq!(required("   ", 10), Err(TextError::Empty));
        assert_eq!(optional("", 10), Ok(String::new()));
        assert_eq!(optional("ééééé", 5), Ok("ééééé".to_owned()));
        assert_eq!(optional("ééééé", 4), Err(TextError::TooLong(4)));
        assert_eq!(optional("a\u{0}b", 10), Err(TextError::Control));
    }
}
