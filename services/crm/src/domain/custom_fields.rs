//! Custom fields: per tenant and record type, definitions of extra keys a record may carry, and
//! the validation of a record's values against them. Values are kept as JSON (text and picklist
//! choices as strings, dates as `YYYY-MM-DD` strings, numbers and booleans as such), the shape
//! they are stored in.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::violations::{FieldViolation, Violations};
use super::visibility::RecordKind;
use super::{day, text};

pub const MAX_KEY_LEN: usize = 63;
pub const MAX_LABEL_LEN: usize = 100;
/// Longest text value when a definition sets no `max_length`, and the highest it may set.
pub const MAX_TEXT_LEN: u32 = 2_000;
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
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Bool => "bool",
            FieldType::Picklist => "picklist",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            FieldType::Text,
            FieldType::Number,
            FieldType::Date,
            FieldType::Bool,
            FieldType::Picklist,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

/// What one key holds and which values it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: Uuid,
    pub kind: RecordKind,
    pub spec: DefinitionSpec,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionSpec {
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    /// Picklist choices.
    pub options: Vec<String>,
    /// Text only.
    pub max_length: Option<u32>,
    /// Number only, inclusive.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A definition as a client sends it, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawDefinition {
    pub key: String,
    pub label: String,
    pub field_type: Option<FieldType>,
    pub required: bool,
    pub options: Vec<String>,
    pub max_length: Option<i64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
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

impl DefinitionSpec {
    /// Validates a definition; violations name fields under `prefix`.
    pub fn parse(raw: RawDefinition, prefix: &str) -> Result<Self, Vec<FieldViolation>> {
        let mut v = Violations::new();
        let field = |name: &str| format!("{prefix}{name}");
        let key = v.check(&field("key"), parse_key(&raw.key));
        let label = v.check(&field("label"), text::required(&raw.label, MAX_LABEL_LEN));
        let field_type = v.check(&field("type"), raw.field_type.ok_or("is required"));
        let mut options = Vec::new();
        if field_type == Some(FieldType::Picklist) {
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
        v.finish()?;
        let (Some(key), Some(label), Some(field_type)) = (key, label, field_type) else {
            return Err(vec![FieldViolation::new(prefix, "is invalid")]);
        };
        let number = field_type == FieldType::Number;
        Ok(Self {
            key,
            label,
            field_type,
            required: raw.required,
            options,
            max_length,
            min: raw.min.filter(|_| number),
            max: raw.max.filter(|_| number),
        })
    }

    /// The stored form of `value` for this field, or why it does not fit.
    fn value(&self, value: &Value) -> Result<Value, String> {
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
            (FieldType::Text, _) => Err("must be a string".to_owned()),
            (FieldType::Number, _) => Err("must be a number".to_owned()),
            (FieldType::Date, _) => Err("must be a date string YYYY-MM-DD".to_owned()),
            (FieldType::Bool, _) => Err("must be true or false".to_owned()),
            (FieldType::Picklist, _) => Err("must be one of the picklist options".to_owned()),
        }
    }
}

/// Checks a record's complete set of custom values against its type's definitions: every key
/// defined, every value of its field's type and within its limits, every required field present.
/// `null` and empty strings mean "no value". Violations are named `<prefix><key>`.
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
        if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
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
            kind: RecordKind::Lead,
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
}
