//! Tenant settings: time zone, currency, fiscal year and locale.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub timezone: String,
    pub currency_code: String,
    pub fiscal_year_start_month: u32,
    pub locale: String,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            timezone: "UTC".to_owned(),
            currency_code: "USD".to_owned(),
            fiscal_year_start_month: 1,
            locale: "en-US".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("is not an IANA time zone (e.g. Europe/Berlin)")]
    Timezone,
    #[error("is not an ISO 4217 currency code (e.g. EUR)")]
    Currency,
    #[error("must be a month between 1 and 12")]
    FiscalMonth,
    #[error("is not a BCP 47 locale (e.g. en-US)")]
    Locale,
}

pub fn parse_timezone(raw: &str) -> Result<String, SettingsError> {
    chrono_tz::Tz::from_str(raw)
        .map(|tz| tz.name().to_owned())
        .map_err(|_| SettingsError::Timezone)
}

pub fn parse_currency(raw: &str) -> Result<String, SettingsError> {
    iso_currency::Currency::from_code(raw)
        .map(|c| c.code().to_owned())
        .ok_or(SettingsError::Currency)
}

pub fn parse_fiscal_month(raw: i32) -> Result<u32, SettingsError> {
    u32::try_from(raw)
        .ok()
        .filter(|m| (1..=12).contains(m))
        .ok_or(SettingsError::FiscalMonth)
}

/// `language[-Script][-REGION]`: 2–3 letter language, optional 4-letter script, optional
/// 2-letter or 3-digit region — the tags browsers send.
pub fn parse_locale(raw: &str) -> Result<String, SettingsError> {
    let mut parts = raw.split('-');
    let language = parts.next().unwrap_or_default();
    if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(SettingsError::Locale);
    }
    let mut canonical = language.to_ascii_lowercase();
    let mut rest: Vec<&str> = parts.collect();
    if let Some(script) = rest.first().copied()
        && script.len() == 4
        && script.chars().all(|c| c.is_ascii_alphabetic())
    {
        canonical.push('-');
        canonical.push_str(&script[..1].to_ascii_uppercase());
        canonical.push_str(&script[1..].to_ascii_lowercase());
        rest.remove(0);
    }
    match rest.as_slice() {
        [] => {}
        [region]
            if (region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic()))
                || (region.len() == 3 && region.chars().all(|c| c.is_ascii_digit())) =>
        {
            canonical.push('-');
            canonical.push_str(&region.to_ascii_uppercase());
        }
        _ => return Err(SettingsError::Locale),
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_settings_are_canonicalised() {
        assert_eq!(
            parse_timezone("Europe/Berlin").as_deref(),
            Ok("Europe/Berlin")
        );
        assert_eq!(parse_currency("EUR").as_deref(), Ok("EUR"));
        assert_eq!(parse_fiscal_month(4), Ok(4));
        assert_eq!(parse_locale("en-us").as_deref(), Ok("en-US"));
        assert_eq!(parse_locale("zh-hant-TW").as_deref(), Ok("zh-Hant-TW"));
        assert_eq!(parse_locale("es-419").as_deref(), Ok("es-419"));
        assert_eq!(parse_locale("de").as_deref(), Ok("de"));
    }

    #[test]
    fn invalid_settings_are_rejected() {
        assert_eq!(parse_timezone("Mars/Olympus"), Err(SettingsError::Timezone));
        assert_eq!(parse_currency("XYZ1"), Err(SettingsError::Currency));
        assert_eq!(parse_currency("ABC"), Err(SettingsError::Currency));
        assert_eq!(parse_fiscal_month(0), Err(SettingsError::FiscalMonth));
        assert_eq!(parse_fiscal_month(13), Err(SettingsError::FiscalMonth));
        assert_eq!(parse_locale("english"), Err(SettingsError::Locale));
        assert_eq!(parse_locale("en-USA-x"), Err(SettingsError::Locale));
    }
}
