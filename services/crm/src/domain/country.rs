//! ISO 3166-1 alpha-2 country codes, normalised to upper case.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is not an ISO 3166-1 alpha-2 country code (e.g. DE)")]
pub struct CountryError;

/// An assigned country code, or the empty string for "not set".
pub fn parse_optional(raw: &str) -> Result<String, CountryError> {
    let code = raw.trim().to_ascii_uppercase();
    if code.is_empty() {
        return Ok(code);
    }
    if code.len() != 2 || iso_currency::Country::from_str(&code).is_err() {
        return Err(CountryError);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_pass_in_any_case() {
        assert_eq!(parse_optional("de"), Ok("DE".to_owned()));
        assert_eq!(parse_optional(" US "), Ok("US".to_owned()));
        assert_eq!(parse_optional(""), Ok(String::new()));
        assert_eq!(parse_optional("XX"), Err(CountryError));
        assert_eq!(parse_optional("DEU"), Err(CountryError));
    }
}
