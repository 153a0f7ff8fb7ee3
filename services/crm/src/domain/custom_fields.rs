//! Custom fields: per tenant and record type, definitions of extra keys a record may carry, and
//! the validation of a record's values against them. Values are kept as JSON, the shape they are
//! stored in: text, picklist choices, URLs, emails, phones and lookups (record ids) as strings,
//! dates as `YYYY-MM-DD` strings, multi-select choices as an array of strings in the order of the
//! options, money as `{"currency_code", "units", "nanos"}`, numbers and booleans as such.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::money::Money;
use super::phone::PhoneE164;
use super::violations::{FieldViolation, Violations};
use super::visibility::RecordKind;
use super::{day, email, text};

pub const MAX_KEY_LEN: usize = 63;
pub const MAX_LABEL_LEN: usize = 100;
pub const MAX_HELP_TEXT_LEN: usize = 500;
/// Longest text value when a definition sets no `max_length`, and the highest it may set.
pub const MAX_TEXT_LEN: u32 = 2_000;
pub const MAX_URL_LEN: usize = 2_000;
pub const MAX_OPTIONS: usize = 200;
/// Definitions per tenant and record type.
pub const MAX_DEFINITIONS: usize = 100;

/// A record's custom values by key, validated.
pub type CustomValues = BTreeMap<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Date,
    Bool,
    Picklist,
    /// Any number of the options.
    MultiPicklist,
    Currency,
    Url,
    Email,
    /// E.164.
    Phone,
    /// The id of another record of the tenant, of the definition's `lookup` kind.
    Lookup,
}

impl FieldType {
    pub const ALL: [FieldType; 11] = [
        FieldType::Text,
        FieldType::Number,
        FieldType::Date,
        FieldType::Bool,
        FieldType::Picklist,
        FieldType::MultiPicklist,
        FieldType::Currency,
        FieldType::Url,
        FieldType::Email,
        FieldType::Phone,
        FieldType::Lookup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Bool => "bool",
            FieldType::Picklist => "picklist",
            FieldType::MultiPicklist => "multi_picklist",
            FieldType::Currency => "currency",
            FieldType::Url => "url",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Lookup => "lookup",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    fn has_options(self) -> bool {
        matches!(self, FieldType::Picklist | FieldType::MultiPicklist)
    }
}

/// The record types custom fields are defined for: the sales records, and support cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldHost {
    Account,
    Contact,
    Lead,
    Opportunity,
    Case,
}

impl FieldHost {
    pub const ALL: [FieldHost; 5] = [
        FieldHost::Account,
        FieldHost::Contact,
        FieldHost::Lead,
        FieldHost::Opportunity,
        FieldHost::Case,
    ];

    /// As stored in `custom_field_definitions.record_type`.
    pub fn name(self) -> &'static str {
        match self {
            FieldHost::Account => "account",
            FieldHost::Contact => "contact",
            FieldHost::Lead => "lead",
            FieldHost::Opportunity => "opportunity",
            FieldHost::Case => "case",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.name() == name)
    }
}

impl From<RecordKind> for FieldHost {
    fn from(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Account => FieldHost::Account,
            RecordKind::Contact => FieldHost::Contact,
            RecordKind::Lead => FieldHost::Lead,
            RecordKind::Opportunity => FieldHost::Opportunity,
        }
    }
}

/// What one key holds and which values it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub kind: FieldHost,
    pub spec: DefinitionSpec,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionSpec {
    pub key: String,
    pub label: String,
    /// Shown beside the field in forms; may be empty.
    pub help_text: String,
    pub field_type: FieldType,
    pub required: bool,
    /// Picklist and multi-select choices.
    pub options: Vec<String>,
    /// Text only.
    pub max_length: Option<u32>,
    /// Number only, inclusive.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Currency only: the one currency values must be in; any when `None`.
    pub currency_code: Option<String>,
    /// Lookup only: the kind of record the value names.
    pub lookup: Option<RecordKind>,
    /// Stored form of the value a new record gets when it is created without one.
    pub default_value: Option<Value>,
    /// Lead fields only: where a lead conversion copies the value.
    pub conversion: ConversionTargets,
}

/// The custom fields (keys) of the account, contact and opportunity a lead conversion creates
/// that take a lead field's value. Set by the tenant per lead field; checked against the
/// target definitions by the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversionTargets {
    pub account: Option<String>,
    pub contact: Option<String>,
    pub opportunity: Option<String>,
}

impl ConversionTargets {
    pub fn is_empty(&self) -> bool {
        self.targets().next().is_none()
    }

    /// (host, key) of each target set.
    pub fn targets(&self) -> impl Iterator<Item = (FieldHost, &str)> {
        [
            (FieldHost::Account, &self.account),
            (FieldHost::Contact, &self.contact),
            (FieldHost::Opportunity, &self.opportunity),
        ]
        .into_iter()
        .filter_map(|(host, key)| Some((host, key.as_deref()?)))
    }
}

/// A definition as a client sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawDefinition {
    pub key: String,
    pub label: String,
    pub help_text: String,
    pub field_type: Option<FieldType>,
    pub required: bool,
    pub options: Vec<String>,
    pub max_length: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub currency_code: String,
    pub lookup: Option<RecordKind>,
    /// `None` and JSON null both mean no default.
    pub default_value: Option<Value>,
    /// Target keys; empty strings mean none.
    pub conversion: [String; 3],
}

impl From<&DefinitionSpec> for RawDefinition {
    fn from(s: &DefinitionSpec) -> Self {
        Self {
            key: s.key.clone(),
            label: s.label.clone(),
            help_text: s.help_text.clone(),
            field_type: Some(s.field_type),
            required: s.required,
            options: s.options.clone(),
            max_length: s.max_length.map(i64::from),
            min: s.min,
            max: s.max,
            currency_code: s.currency_code.clone().unwrap_or_default(),
            lookup: s.lookup,
            default_value: s.default_value.clone(),
            conversion: [
                s.conversion.account.clone().unwrap_or_default(),
                s.conversion.contact.clone().unwrap_or_default(),
                s.conversion.opportunity.clone().unwrap_or_default(),
            ],
        }
    }
}

/// Keys are stable API names: `custom.<key>` in filters, `custom_fields.<key>` in errors.
fn parse_key(raw: &str) -> Result<String, String> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_KEY_LEN
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "must be 1 to {MAX_KEY_LEN} characters of a-z, 0-9 and _, starting with a letter"
        ))
    }
}

/// An absolute http(s) URL with a host, without spaces.
fn parse_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a URL with a host and without spaces".to_owned());
    }
    if url.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    Ok(url.to_owned())
}

/// A whole number from JSON: a number without fraction or a string of digits (int64 travels
/// as a string in proto JSON).
fn json_i64(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Money from `{"currency_code", "units", "nanos"}` (`currencyCode` accepted too).
fn parse_money(value: &Value) -> Result<Money, String> {
    let Value::Object(fields) = value else {
        return Err("must be an object with currency_code, units and nanos".to_owned());
    };
    let code = fields
        .get("currency_code")
        .or_else(|| fields.get("currencyCode"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let units = match fields.get("units") {
        None => 0,
        some => json_i64(some).ok_or("units must be a whole number")?,
    };
    let nanos = match fields.get("nanos") {
        None => 0,
        some => json_i64(some)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or("nanos must be a whole number between -999999999 and 999999999")?,
    };
    Money::parse(code, units, nanos).map_err(|e| format!("{}: {e}", e.field()))
}

fn money_json(money: Money) -> Value {
    serde_json::json!({
        "currency_code": money.currency_code(),
        "units": money.units(),
        "nanos": money.nanos(),
    })
}

/// Whether a value stands for "no value": null, a blank string or an empty list.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

impl DefinitionSpec {
    /// Validates a definition; violations name fields under `prefix`.
    pub fn parse(raw: RawDefinition, prefix: &str) -> Result<Self, Vec<FieldViolation>> {
        let mut v = Violations::new();
        let field = |name: &str| format!("{prefix}{name}");
        let key = v.check(&field("key"), parse_key(&raw.key));
        let label = v.check(&field("label"), text::required(&raw.label, MAX_LABEL_LEN));
        let help_text = v
            .check(
                &field("help_text"),
                text::optional(&raw.help_text, MAX_HELP_TEXT_LEN),
            )
            .unwrap_or_default();
        let field_type = v.check(&field("type"), raw.field_type.ok_or("is required"));
        let mut options = Vec::new();
        if field_type.is_some_and(FieldType::has_options) {
            if raw.options.is_empty() || raw.options.len() > MAX_OPTIONS {
                v.add(
                    field("options"),
                    format!("a picklist needs 1 to {MAX_OPTIONS} options"),
                );
            }
            for (i, option) in raw.options.iter().enumerate() {
                let name = field(&format!("options[{i}]"));
                if let Some(option) = v.check(&name, text::required(option, MAX_LABEL_LEN)) {
                    if options.contains(&option) {
                        v.add(name, "repeats an earlier option");
                    } else {
                        options.push(option);
                    }
                }
            }
        } else if !raw.options.is_empty() {
            v.add(field("options"), "only a picklist has options");
        }
        let max_length = match (field_type, raw.max_length) {
            (_, None) => None,
            (Some(FieldType::Text), Some(n)) => v.check(
                &field("max_length"),
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_TEXT_LEN).contains(n))
                    .ok_or(format!("must be between 1 and {MAX_TEXT_LEN}")),
            ),
            (_, Some(_)) => {
                v.add(
                    field("max_length"),
                    "only a text field has a maximum length",
                );
                None
            }
        };
        for (name, bound) in [("min", raw.min), ("max", raw.max)] {
            if bound.is_some() && field_type != Some(FieldType::Number) {
                v.add(field(name), "only a number field has bounds");
            } else if bound.is_some_and(|b| !b.is_finite()) {
                v.add(field(name), "must be a finite number");
            }
        }
        if let (Some(min), Some(max)) = (raw.min, raw.max)
            && min > max
        {
            v.add(field("max"), "must not be below min");
        }
        let code = raw.currency_code.trim().to_ascii_uppercase();
        let currency_code = match (field_type, code.is_empty()) {
            (_, true) => None,
            (Some(FieldType::Currency), false) => v.check(
                &field("currency_code"),
                Money::parse(&code, 0, 0)
                    .map(|m| m.currency_code().to_owned())
                    .map_err(|e| e.to_string()),
            ),
            (_, false) => {
                v.add(
                    field("currency_code"),
                    "only a currency field has a currency",
                );
                None
            }
        };
        let lookup = match (field_type, raw.lookup) {
            (Some(FieldType::Lookup), None) => {
                v.add(
                    field("lookup_record_type"),
                    "a lookup names the record type it points to",
                );
                None
            }
            (Some(FieldType::Lookup), some) => some,
            (_, Some(_)) => {
                v.add(
                    field("lookup_record_type"),
                    "only a lookup field points to a record type",
                );
                None
            }
            (_, None) => None,
        };
        let mut targets = [None, None, None];
        for (i, (name, raw_key)) in ["account_key", "contact_key", "opportunity_key"]
            .iter()
            .zip(&raw.conversion)
            .enumerate()
        {
            let raw_key = raw_key.trim();
            if !raw_key.is_empty() {
                targets[i] = v.check(
                    &field(&format!("conversion_targets.{name}")),
                    parse_key(raw_key),
                );
            }
        }
        let [account, contact, opportunity] = targets;
        let conversion = ConversionTargets {
            account,
            contact,
            opportunity,
        };
        v.finish()?;
        let (Some(key), Some(label), Some(field_type)) = (key, label, field_type) else {
            return Err(vec![FieldViolation::new(prefix, "is invalid")]);
        };
        let number = field_type == FieldType::Number;
        let mut spec = Self {
            key,
            label,
            help_text,
            field_type,
            required: raw.required,
            options,
            max_length,
            min: raw.min.filter(|_| number),
            max: raw.max.filter(|_| number),
            currency_code,
            lookup,
            default_value: None,
            conversion,
        };
        match raw.default_value.filter(|d| !is_empty(d)) {
            // A lookup's default would point every new record at one record, which another
            // tenant or a deletion could make dangling; not offered.
            Some(_) if field_type == FieldType::Lookup => Err(vec![FieldViolation::new(
                field("default_value"),
                "a lookup field has no default",
            )]),
            Some(default) => match spec.value(&default) {
                Ok(stored) => {
                    spec.default_value = Some(stored);
                    Ok(spec)
                }
                Err(message) => Err(vec![FieldViolation::new(field("default_value"), message)]),
            },
            None => Ok(spec),
        }
    }

    /// The stored form of `value` for this field, or why it does not fit. `value` is not empty
    /// (see [`is_empty`]).
    pub fn value(&self, value: &Value) -> Result<Value, String> {
        match (self.field_type, value) {
            (FieldType::Text, Value::String(s)) => {
                let max = self.max_length.unwrap_or(MAX_TEXT_LEN) as usize;
                text::optional(s, max)
                    .map(Value::String)
                    .map_err(|e| e.to_string())
            }
            (FieldType::Number, Value::Number(n)) => {
                let x = n.as_f64().ok_or("must be a number")?;
                if self.min.is_some_and(|min| x < min) {
                    return Err(format!("must be at least {}", self.min.unwrap_or_default()));
                }
                if self.max.is_some_and(|max| x > max) {
                    return Err(format!("must be at most {}", self.max.unwrap_or_default()));
                }
                Ok(Value::Number(n.clone()))
            }
            (FieldType::Date, Value::String(s)) => day::parse(s)
                .map(|d| Value::String(d.to_string()))
                .map_err(|e| e.to_string()),
            (FieldType::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
            (FieldType::Picklist, Value::String(s)) => {
                if self.options.contains(s) {
                    Ok(Value::String(s.clone()))
                } else {
                    Err(format!("must be one of {}", self.options.join(", ")))
                }
            }
            (FieldType::MultiPicklist, Value::Array(items)) => {
                let mut chosen = Vec::with_capacity(items.len());
                for item in items {
                    match item.as_str() {
                        Some(s) if self.options.iter().any(|o| o == s) => chosen.push(s),
                        _ => {
                            return Err(format!("must be a list of {}", self.options.join(", ")));
                        }
                    }
                }
                // Options order, each once: equal choices are stored equal.
                Ok(Value::Array(
                    self.options
                        .iter()
                        .filter(|o| chosen.contains(&o.as_str()))
                        .map(|o| Value::String(o.clone()))
                        .collect(),
                ))
            }
            (FieldType::Currency, value) => {
                let money = parse_money(value)?;
                match &self.currency_code {
                    Some(code) if code != money.currency_code() => {
                        Err(format!("must be in {code}"))
                    }
                    _ => Ok(money_json(money)),
                }
            }
            (FieldType::Url, Value::String(s)) => parse_url(s).map(Value::String),
            (FieldType::Email, Value::String(s)) => email::Email::parse(s)
                .map(|e| Value::String(e.into_inner()))
                .map_err(|e| e.to_string()),
            (FieldType::Phone, Value::String(s)) => PhoneE164::parse(s)
                .map(|p| Value::String(p.into_inner()))
                .map_err(|e| e.to_string()),
            (FieldType::Lookup, Value::String(s)) => Uuid::parse_str(s.trim())
                .map(|id| Value::String(id.to_string()))
                .map_err(|_| "must be a record id".to_owned()),
            (FieldType::Text, _) => Err("must be a string".to_owned()),
            (FieldType::Number, _) => Err("must be a number".to_owned()),
            (FieldType::Date, _) => Err("must be a date string YYYY-MM-DD".to_owned()),
            (FieldType::Bool, _) => Err("must be true or false".to_owned()),
            (FieldType::Picklist, _) => Err("must be one of the picklist options".to_owned()),
            (FieldType::MultiPicklist, _) => {
                Err("must be a list of the picklist options".to_owned())
            }
            (FieldType::Url, _) => Err("must be a URL string".to_owned()),
            (FieldType::Email, _) => Err("must be an email address string".to_owned()),
            (FieldType::Phone, _) => Err("must be a phone number string".to_owned()),
            (FieldType::Lookup, _) => Err("must be a record id string".to_owned()),
        }
    }

    /// Lookup only: the record id a stored value names.
    pub fn lookup_target(&self, stored: &Value) -> Option<(RecordKind, Uuid)> {
        let kind = self
            .lookup
            .filter(|_| self.field_type == FieldType::Lookup)?;
        Some((kind, Uuid::parse_str(stored.as_str()?).ok()?))
    }
}

/// A change of a definition's settings; `None` leaves a setting as it is. Key, type and lookup
/// record type never change: stored values and filters depend on them.
#[derive(Debug, Clone, Default)]
pub struct DefinitionPatch {
    pub label: Option<String>,
    pub help_text: Option<String>,
    pub required: Option<bool>,
    /// The complete new option list.
    pub options: Option<Vec<String>>,
    /// Old option → new name; stored values are renamed with it.
    pub option_renames: BTreeMap<String, String>,
    pub max_length: Option<Option<i64>>,
    pub min: Option<Option<f64>>,
    pub max: Option<Option<f64>>,
    pub currency_code: Option<String>,
    pub default_value: Option<Option<Value>>,
    /// Account, contact and opportunity keys; empty strings clear.
    pub conversion: Option<[String; 3]>,
}

/// A definition after a patch, and how stored values carry over to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub spec: DefinitionSpec,
    pub option_renames: BTreeMap<String, String>,
}

impl Revision {
    /// `current` with `patch` applied and checked as a whole; violations are named under
    /// `prefix` (renames as `option_renames`).
    pub fn new(
        current: &DefinitionSpec,
        patch: DefinitionPatch,
        prefix: &str,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut raw = RawDefinition::from(current);
        let renames = patch.option_renames;
        let mut v = Violations::new();
        if !renames.is_empty() && !current.field_type.has_options() {
            v.add("option_renames", "only a picklist has options");
        }
        raw.options = match patch.options {
            Some(options) => options,
            // Renames alone rename in place.
            None => raw
                .options
                .into_iter()
                .map(|o| renames.get(&o).cloned().unwrap_or(o))
                .collect(),
        };
        for (from, to) in &renames {
            let name = format!("option_renames[{from}]");
            if !current.options.contains(from) {
                v.add(name, "is not an option of the field");
            } else if !raw.options.contains(to) {
                v.add(
                    name,
                    format!("renames to {to:?}, which is not among the options"),
                );
            } else if from != to && raw.options.contains(from) {
                v.add(name, "a renamed option cannot stay among the options");
            }
        }
        raw.label = patch.label.unwrap_or(raw.label);
        raw.help_text = patch.help_text.unwrap_or(raw.help_text);
        raw.required = patch.required.unwrap_or(raw.required);
        raw.max_length = patch.max_length.unwrap_or(raw.max_length);
        raw.min = patch.min.unwrap_or(raw.min);
        raw.max = patch.max.unwrap_or(raw.max);
        raw.currency_code = patch.currency_code.unwrap_or(raw.currency_code);
        raw.conversion = patch.conversion.unwrap_or(raw.conversion);
        // A default of a renamed option follows the rename.
        raw.default_value = match patch.default_value {
            Some(default) => default,
            None => raw.default_value.map(|d| rename_value(&d, &renames)),
        };
        let spec = v.check_all(DefinitionSpec::parse(raw, prefix));
        v.finish()?;
        let Some(spec) = spec else {
            return Err(vec![FieldViolation::new(prefix, "is invalid")]);
        };
        Ok(Self {
            spec,
            option_renames: renames,
        })
    }

    /// A stored value as it reads after the revision, or why the revised field refuses it.
    pub fn carry(&self, stored: &Value) -> Result<Value, String> {
        self.spec.value(&rename_value(stored, &self.option_renames))
    }
}

/// `value` with renamed picklist choices (a string or a list of strings).
fn rename_value(value: &Value, renames: &BTreeMap<String, String>) -> Value {
    let rename = |v: &Value| match v.as_str().and_then(|s| renames.get(s)) {
        Some(to) => Value::String(to.clone()),
        None => v.clone(),
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(rename).collect()),
        other => rename(other),
    }
}

/// `values` of a new record with the defaults of the fields it leaves empty.
pub fn with_defaults(definitions: &[Definition], values: &CustomValues) -> CustomValues {
    let mut out = values.clone();
    for d in definitions {
        if let Some(default) = &d.spec.default_value
            && out.get(&d.spec.key).is_none_or(is_empty)
        {
            out.insert(d.spec.key.clone(), default.clone());
        }
    }
    out
}

/// The custom values a lead conversion gives the `host` record it creates: each lead value
/// whose field names a target of that record type, under the target's key (unchecked; the
/// store validates them against the target's definitions).
pub fn converted_values(
    lead_definitions: &[Definition],
    lead_values: &CustomValues,
    host: FieldHost,
) -> CustomValues {
    lead_definitions
        .iter()
        .filter_map(|d| {
            let (_, target) = d.spec.conversion.targets().find(|(h, _)| *h == host)?;
            let value = lead_values.get(&d.spec.key)?;
            Some((target.to_owned(), value.clone()))
        })
        .collect()
}

/// CSV cells (text) as the JSON values of their fields' types: numbers, booleans
/// (`true`/`false`, `yes`/`no`, `1`/`0`), `;`-separated multi-select choices and money as
/// `1200.50 EUR` (the forms an export writes). Cells that do not parse stay text, so validation
/// names them; keys without a definition are left for validation to refuse.
pub fn from_csv(definitions: &[Definition], values: &CustomValues) -> CustomValues {
    values
        .iter()
        .map(|(key, value)| {
            let typed = match (definitions.iter().find(|d| &d.spec.key == key), value) {
                (Some(d), Value::String(cell)) => csv_value(d.spec.field_type, cell.trim()),
                _ => None,
            };
            (key.clone(), typed.unwrap_or_else(|| value.clone()))
        })
        .collect()
}

fn csv_value(field_type: FieldType, cell: &str) -> Option<Value> {
    match field_type {
        FieldType::Number => match cell.parse::<i64>() {
            Ok(whole) => Some(Value::from(whole)),
            Err(_) => cell
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number),
        },
        FieldType::Bool => match cell.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(Value::Bool(true)),
            "false" | "no" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::MultiPicklist => Some(Value::Array(
            cell.split(';')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| Value::String(c.to_owned()))
                .collect(),
        )),
        FieldType::Currency => {
            let (amount, code) = cell.rsplit_once(' ')?;
            let (units, nanos) = parse_decimal(amount.trim())?;
            Some(serde_json::json!({
                "currency_code": code.trim().to_ascii_uppercase(),
                "units": units,
                "nanos": nanos,
            }))
        }
        _ => None,
    }
}

/// `-12.5` → (-12, -500000000), exactly; at most nine decimals.
fn parse_decimal(raw: &str) -> Option<(i64, i32)> {
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || fraction.len() > 9
        || !whole
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let units: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let nanos: i32 = format!("{fraction:0<9}").parse().ok()?;
    Some(if negative {
        (-units, -nanos)
    } else {
        (units, nanos)
    })
}

/// A stored value as a CSV cell, in the forms [`from_csv`] reads.
pub fn to_csv(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(to_csv).collect::<Vec<_>>().join(";"),
        Value::Object(fields) if fields.contains_key("currency_code") => {
            let units = json_i64(fields.get("units")).unwrap_or_default();
            let nanos = json_i64(fields.get("nanos")).unwrap_or_default();
            let code = fields
                .get("currency_code")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!("{} {code}", decimal(units, nanos))
        }
        // Whole numbers without a fraction (gRPC clients send every number as a double).
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// `units.nanos` as an exact decimal, e.g. `12000.5`.
fn decimal(units: i64, nanos: i64) -> String {
    if nanos == 0 {
        return units.to_string();
    }
    let sign = if units < 0 || nanos < 0 { "-" } else { "" };
    let fraction = format!("{:09}", nanos.unsigned_abs());
    format!(
        "{sign}{}.{}",
        units.unsigned_abs(),
        fraction.trim_end_matches('0')
    )
}

/// Checks a record's complete set of custom values against its type's definitions: every key
/// defined, every value of its field's type and within its limits, every required field present.
/// `null`, empty strings and empty lists mean "no value". Violations are named `<prefix><key>`.
/// Lookups are checked for form only; that the record exists is the store's to check.
pub fn validate(
    definitions: &[Definition],
    values: &BTreeMap<String, Value>,
    prefix: &str,
) -> Result<CustomValues, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let mut valid = CustomValues::new();
    for (key, value) in values {
        let Some(definition) = definitions.iter().find(|d| &d.spec.key == key) else {
            v.add(
                format!("{prefix}{key}"),
                "is not a custom field of this record type",
            );
            continue;
        };
        if is_empty(value) {
            continue;
        }
        if let Some(value) = v.check(&format!("{prefix}{key}"), definition.spec.value(value)) {
            valid.insert(key.clone(), value);
        }
    }
    for definition in definitions {
        if definition.spec.required
            && !valid.contains_key(&definition.spec.key)
            && !v_has(&v, &format!("{prefix}{}", definition.spec.key))
        {
            v.add(format!("{prefix}{}", definition.spec.key), "is required");
        }
    }
    v.finish()?;
    Ok(valid)
}

fn v_has(v: &Violations, field: &str) -> bool {
    v.fields().any(|f| f == field)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn definition(
        key: &str,
        field_type: FieldType,
        tweak: impl FnOnce(&mut RawDefinition),
    ) -> Definition {
        let mut raw = RawDefinition {
            key: key.to_owned(),
            label: key.to_uppercase(),
            field_type: Some(field_type),
            ..RawDefinition::default()
        };
        tweak(&mut raw);
        Definition {
            id: Uuid::now_v7(),
            kind: FieldHost::Lead,
            spec: DefinitionSpec::parse(raw, "").expect("valid definition"),
            created_at: Utc::now(),
        }
    }

    fn fields(violations: Vec<FieldViolation>) -> Vec<String> {
        violations.into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn definitions_are_checked_per_type() {
        let bad = RawDefinition {
            key: "Tier!".into(),
            label: String::new(),
            field_type: Some(FieldType::Bool),
            options: vec!["a".into()],
            max_length: Some(10),
            min: Some(1.0),
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(bad, "definition.").expect_err("invalid")),
            [
                "definition.key",
                "definition.label",
                "definition.options",
                "definition.max_length",
                "definition.min"
            ]
        );
        let picklist = RawDefinition {
            key: "tier".into(),
            label: "Tier".into(),
            field_type: Some(FieldType::Picklist),
            options: vec!["gold".into(), "gold".into()],
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(picklist, "").expect_err("invalid")),
            ["options[1]"]
        );
        let bounds = RawDefinition {
            key: "seats".into(),
            label: "Seats".into(),
            field_type: Some(FieldType::Number),
            min: Some(10.0),
            max: Some(1.0),
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(bounds, "").expect_err("invalid")),
            ["max"]
        );
    }

    #[test]
    fn values_are_typed_bounded_and_required() {
        let definitions = [
            definition("region", FieldType::Text, |d| d.max_length = Some(5)),
            definition("seats", FieldType::Number, |d| {
                d.min = Some(1.0);
                d.max = Some(500.0);
                d.required = true;
            }),
            definition("renewal", FieldType::Date, |_| {}),
            definition("vip", FieldType::Bool, |_| {}),
            definition("tier", FieldType::Picklist, |d| {
                d.options = vec!["gold".into(), "silver".into()]
            }),
        ];
        let good: BTreeMap<String, Value> = [
            ("region", json!(" EMEA ")),
            ("seats", json!(12)),
            ("renewal", json!("2027-01-31")),
            ("vip", json!(true)),
            ("tier", json!("gold")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let valid = validate(&definitions, &good, "custom_fields.").expect("valid");
        assert_eq!(valid["region"], json!("EMEA"));
        assert_eq!(valid.len(), 5);

        let bad: BTreeMap<String, Value> = [
            ("region", json!("EUROPE")),
            ("seats", json!(0)),
            ("renewal", json!("31/01/2027")),
            ("vip", json!("yes")),
            ("tier", json!("bronze")),
            ("colour", json!("red")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(
            fields(validate(&definitions, &bad, "custom_fields.").expect_err("invalid")),
            [
                "custom_fields.colour",
                "custom_fields.region",
                "custom_fields.renewal",
                "custom_fields.seats",
                "custom_fields.tier",
                "custom_fields.vip"
            ]
        );
        let missing: BTreeMap<String, Value> =
            [("seats".to_owned(), Value::Null)].into_iter().collect();
        assert_eq!(
            fields(validate(&definitions, &missing, "custom_fields.").expect_err("invalid")),
            ["custom_fields.seats"]
        );
    }

    fn map(items: &[(&str, Value)]) -> BTreeMap<String, Value> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn new_types_store_normalised_values() {
        let definitions = [
            definition("tags", FieldType::MultiPicklist, |d| {
                d.options = vec!["a".into(), "b".into(), "c".into()]
            }),
            definition("budget", FieldType::Currency, |d| {
                d.currency_code = "eur".into()
            }),
            definition("site", FieldType::Url, |_| {}),
            definition("billing", FieldType::Email, |_| {}),
            definition("hotline", FieldType::Phone, |_| {}),
            definition("partner", FieldType::Lookup, |d| {
                d.lookup = Some(RecordKind::Account)
            }),
        ];
        let id = Uuid::now_v7();
        let good = map(&[
            ("tags", json!(["c", "a", "c"])),
            (
                "budget",
                json!({"currencyCode": "EUR", "units": "1200", "nanos": 500_000_000}),
            ),
            ("site", json!(" https://acme.example/path ")),
            ("billing", json!("Billing@Acme.example")),
            ("hotline", json!("+49 (30) 123-456")),
            ("partner", json!(id.to_string())),
        ]);
        let valid = validate(&definitions, &good, "").expect("valid");
        assert_eq!(valid["tags"], json!(["a", "c"]));
        assert_eq!(
            valid["budget"],
            json!({"currency_code": "EUR", "units": 1200, "nanos": 500_000_000})
        );
        assert_eq!(valid["site"], json!("https://acme.example/path"));
        assert_eq!(valid["hotline"], json!("+4930123456"));
        assert_eq!(
            definitions[5].spec.lookup_target(&valid["partner"]),
            Some((RecordKind::Account, id))
        );

        let bad = map(&[
            ("tags", json!(["a", "z"])),
            ("budget", json!({"currency_code": "USD", "units": 1})),
            ("site", json!("acme.example")),
            ("billing", json!("not-an-email")),
            ("hotline", json!("030 123456")),
            ("partner", json!("acme")),
        ]);
        assert_eq!(
            fields(validate(&definitions, &bad, "").expect_err("invalid")),
            ["billing", "budget", "hotline", "partner", "site", "tags"]
        );
        // An empty list is no value.
        assert!(
            validate(&definitions, &map(&[("tags", json!([]))]), "")
                .expect("valid")
                .is_empty()
        );
    }

    #[test]
    fn definitions_of_new_types_are_checked() {
        let lookup = RawDefinition {
            key: "partner".into(),
            label: "Partner".into(),
            field_type: Some(FieldType::Lookup),
            default_value: Some(json!("x")),
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(lookup, "").expect_err("invalid")),
            ["lookup_record_type"]
        );
        let money = RawDefinition {
            key: "budget".into(),
            label: "Budget".into(),
            field_type: Some(FieldType::Currency),
            currency_code: "XYZ".into(),
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(money, "").expect_err("invalid")),
            ["currency_code"]
        );
        let default = RawDefinition {
            key: "tier".into(),
            label: "Tier".into(),
            field_type: Some(FieldType::Picklist),
            options: vec!["gold".into()],
            default_value: Some(json!("bronze")),
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(default, "definition.").expect_err("invalid")),
            ["definition.default_value"]
        );
    }

    #[test]
    fn defaults_fill_only_empty_fields() {
        let definitions = [
            definition("tier", FieldType::Picklist, |d| {
                d.options = vec!["gold".into(), "silver".into()];
                d.default_value = Some(json!("silver"));
                d.required = true;
            }),
            definition("seats", FieldType::Number, |d| {
                d.default_value = Some(json!(5))
            }),
        ];
        let values = with_defaults(&definitions, &map(&[("tier", json!("gold"))]));
        assert_eq!(values, map(&[("tier", json!("gold")), ("seats", json!(5))]));
        let values = with_defaults(&definitions, &map(&[("tier", Value::Null)]));
        assert_eq!(values["tier"], json!("silver"));
        assert!(validate(&definitions, &values, "").is_ok());
    }

    #[test]
    fn revisions_rename_and_refuse() {
        let tier = definition("tier", FieldType::Picklist, |d| {
            d.options = vec!["gold".into(), "silver".into(), "bronze".into()];
            d.default_value = Some(json!("silver"));
        });
        let renamed = Revision::new(
            &tier.spec,
            DefinitionPatch {
                option_renames: [("silver".to_owned(), "platinum".to_owned())].into(),
                ..DefinitionPatch::default()
            },
            "definition.",
        )
        .expect("valid");
        assert_eq!(renamed.spec.options, ["gold", "platinum", "bronze"]);
        assert_eq!(renamed.spec.default_value, Some(json!("platinum")));
        assert_eq!(renamed.carry(&json!("silver")), Ok(json!("platinum")));
        assert_eq!(renamed.carry(&json!("gold")), Ok(json!("gold")));

        let retired = Revision::new(
            &tier.spec,
            DefinitionPatch {
                options: Some(vec!["gold".into(), "silver".into()]),
                ..DefinitionPatch::default()
            },
            "definition.",
        )
        .expect("valid");
        assert!(retired.carry(&json!("bronze")).is_err());
        assert_eq!(retired.carry(&json!("gold")), Ok(json!("gold")));

        let bad = Revision::new(
            &tier.spec,
            DefinitionPatch {
                options: Some(vec!["gold".into(), "silver".into()]),
                option_renames: [
                    ("bronze".to_owned(), "copper".to_owned()),
                    ("tin".to_owned(), "gold".to_owned()),
                ]
                .into(),
                label: Some(String::new()),
                ..DefinitionPatch::default()
            },
            "definition.",
        )
        .expect_err("invalid");
        assert_eq!(
            fields(bad),
            [
                "option_renames[bronze]",
                "option_renames[tin]",
                "definition.label"
            ]
        );

        let seats = definition("seats", FieldType::Number, |_| {});
        let bounded = Revision::new(
            &seats.spec,
            DefinitionPatch {
                max: Some(Some(10.0)),
                ..DefinitionPatch::default()
            },
            "",
        )
        .expect("valid");
        assert!(bounded.carry(&json!(11)).is_err());
        assert_eq!(bounded.carry(&json!(10)), Ok(json!(10)));
    }

    #[test]
    fn csv_cells_round_trip() {
        let definitions = [
            definition("seats", FieldType::Number, |_| {}),
            definition("vip", FieldType::Bool, |_| {}),
            definition("tags", FieldType::MultiPicklist, |d| {
                d.options = vec!["a".into(), "b".into()]
            }),
            definition("budget", FieldType::Currency, |_| {}),
            definition("note", FieldType::Text, |_| {}),
        ];
        let cells = map(&[
            ("seats", json!("12")),
            ("vip", json!("Yes")),
            ("tags", json!("b; a")),
            ("budget", json!("-1200.05 eur")),
            ("note", json!("12")),
            ("unknown", json!("x")),
        ]);
        let typed = from_csv(&definitions, &cells);
        assert_eq!(typed["seats"], json!(12));
        assert_eq!(to_csv(&json!(12.0)), "12");
        assert_eq!(to_csv(&json!(2.5)), "2.5");
        assert_eq!(typed["vip"], json!(true));
        assert_eq!(typed["tags"], json!(["b", "a"]));
        assert_eq!(
            typed["budget"],
            json!({"currency_code": "EUR", "units": -1200, "nanos": -50_000_000})
        );
        assert_eq!(typed["note"], json!("12"));
        assert_eq!(typed["unknown"], json!("x"));
        let stored = validate(
            &definitions[..4],
            &from_csv(
                &definitions,
                &map(&[("budget", json!("-1200.05 EUR")), ("tags", json!("b;a"))]),
            ),
            "",
        )
        .expect("valid");
        assert_eq!(to_csv(&stored["budget"]), "-1200.05 EUR");
        assert_eq!(to_csv(&stored["tags"]), "a;b");
        assert_eq!(to_csv(&json!(true)), "true");
        assert!(from_csv(&definitions, &map(&[("seats", json!("many"))]))["seats"].is_string());
    }

    #[test]
    fn conversion_targets_carry_lead_values() {
        let definitions = [
            definition("budget", FieldType::Number, |d| {
                d.conversion = ["".into(), "".into(), "deal_budget".into()]
            }),
            definition("segment", FieldType::Text, |d| {
                d.conversion = ["segment".into(), "segment".into(), "".into()]
            }),
            definition("note", FieldType::Text, |_| {}),
        ];
        let values = map(&[
            ("budget", json!(10)),
            ("segment", json!("smb")),
            ("note", json!("x")),
        ]);
        assert_eq!(
            converted_values(&definitions, &values, FieldHost::Opportunity),
            map(&[("deal_budget", json!(10))])
        );
        assert_eq!(
            converted_values(&definitions, &values, FieldHost::Account),
            map(&[("segment", json!("smb"))])
        );
        let bad = RawDefinition {
            key: "x".into(),
            label: "X".into(),
            field_type: Some(FieldType::Text),
            conversion: ["Bad Key".into(), "".into(), "".into()],
            ..RawDefinition::default()
        };
        assert_eq!(
            fields(DefinitionSpec::parse(bad, "").expect_err("invalid")),
            ["conversion_targets.account_key"]
        );
    }
}
