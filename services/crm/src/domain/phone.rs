//! Phone numbers in E.164 (`+` and 7–15 digits, no leading zero in the country code).

use std::fmt;

pub const MIN_DIGITS: usize = 7;
pub const MAX_DIGITS: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneE164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is required")]
    Empty,
    #[error("must start with + and the country code (E.164, e.g. +4930123456)")]
    NoCountryCode,
    #[error("must contain only digits after + (spaces, dashes, dots and parentheses are ignored)")]
    Character,
    #[error("must have between {MIN_DIGITS} and {MAX_DIGITS} digits")]
    Length,
}

impl PhoneE164 {
    /// Accepts common separators (`+49 (30) 123-456`) and stores the bare E.164 form.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let rest = trimmed.strip_prefix('+').ok_or(PhoneError::NoCountryCode)?;
        let mut digits = String::with_capacity(MAX_DIGITS + 1);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::Character),
            }
        }
        let count = digits.len() - 1;
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&count) {
            return Err(PhoneError::Length);
        }
        if digits.as_bytes()[1] == b'0' {
            return Err(PhoneError::NoCountryCode);
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_separators_into_e164() {
        assert_eq!(
            PhoneE164::parse(" +49 (30) 123-456.78 ").map(PhoneE164::into_inner),
            Ok("+493012345678".to_owned())
        );
        assert_eq!(
            PhoneE164::parse("+14155550123").map(PhoneE164::into_inner),
            Ok("+14155550123".to_owned())
        );
    }

    #[test]
    fn rejects_numbers_that_are_not_e164() {
        assert_eq!(PhoneE164::parse(""), Err(PhoneError::Empty));
        assert_eq!(
            PhoneE164::parse("030 123456"),
            Err(PhoneError::NoCountryCode)
        );
        assert_eq!(
            PhoneE164::parse("+0301234567"),
            Err(PhoneError::NoCountryCode)
        );
        assert_eq!(
            PhoneE164::parse("+49 30 CALL-ME"),
            Err(PhoneError::Character)
        );
        assert_eq!(PhoneE164::parse("+123"), Err(PhoneError::Length));
        assert_eq!(
            PhoneE164::parse("+1234567890123456"),
            Err(PhoneError::Length)
        );
    }
}
