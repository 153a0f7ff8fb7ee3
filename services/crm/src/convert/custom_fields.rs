//! Custom field definitions and records' custom values (`google.protobuf.Value` ↔ JSON).

use std::collections::{BTreeMap, HashMap};

use prost_types::value::Kind as PbKind;
use proto::crm as pb;
use serde_json::Value;

use super::{record_kind_from_pb, record_kind_to_pb, timestamp_to_pb};
use crate::domain::FieldViolation;
use crate::domain::custom_fields::{CustomValues, Definition, FieldHost, FieldType};

/// The record types custom fields are defined for: the sales records and cases.
pub fn field_host_from_pb(raw: i32) -> Result<FieldHost, &'static str> {
    match pb::RecordType::try_from(raw) {
        Ok(pb::RecordType::Case) => Ok(FieldHost::Case),
        _ => record_kind_from_pb(raw)
            .map(FieldHost::from)
            .map_err(|_| "must be an account, contact, lead, opportunity or case"),
    }
}

pub fn field_host_to_pb(host: FieldHost) -> pb::RecordType {
    match host {
        FieldHost::Account => pb::RecordType::Account,
        FieldHost::Contact => pb::RecordType::Contact,
        FieldHost::Lead => pb::RecordType::Lead,
        FieldHost::Opportunity => pb::RecordType::Opportunity,
        FieldHost::Case => pb::RecordType::Case,
    }
}

pub fn custom_field_type_from_pb(raw: i32) -> Option<FieldType> {
    match pb::CustomFieldType::try_from(raw) {
        Ok(pb::CustomFieldType::Text) => Some(FieldType::Text),
        Ok(pb::CustomFieldType::Number) => Some(FieldType::Number),
        Ok(pb::CustomFieldType::Date) => Some(FieldType::Date),
        Ok(pb::CustomFieldType::Bool) => Some(FieldType::Bool),
        Ok(pb::CustomFieldType::Picklist) => Some(FieldType::Picklist),
        Ok(pb::CustomFieldType::MultiPicklist) => Some(FieldType::MultiPicklist),
        Ok(pb::CustomFieldType::Currency) => Some(FieldType::Currency),
        Ok(pb::CustomFieldType::Url) => Some(FieldType::Url),
        Ok(pb::CustomFieldType::Email) => Some(FieldType::Email),
        Ok(pb::CustomFieldType::Phone) => Some(FieldType::Phone),
        Ok(pb::CustomFieldType::Lookup) => Some(FieldType::Lookup),
        Ok(pb::CustomFieldType::Unspecified) | Err(_) => None,
    }
}

pub fn custom_field_type_to_pb(t: FieldType) -> pb::CustomFieldType {
    match t {
        FieldType::Text => pb::CustomFieldType::Text,
        FieldType::Number => pb::CustomFieldType::Number,
        FieldType::Date => pb::CustomFieldType::Date,
        FieldType::Bool => pb::CustomFieldType::Bool,
        FieldType::Picklist => pb::CustomFieldType::Picklist,
        FieldType::MultiPicklist => pb::CustomFieldType::MultiPicklist,
        FieldType::Currency => pb::CustomFieldType::Currency,
        FieldType::Url => pb::CustomFieldType::Url,
        FieldType::Email => pb::CustomFieldType::Email,
        FieldType::Phone => pb::CustomFieldType::Phone,
        FieldType::Lookup => pb::CustomFieldType::Lookup,
    }
}

pub fn custom_field_definition_to_pb(d: Definition) -> pb::CustomFieldDefinition {
    let s = d.spec;
    pb::CustomFieldDefinition {
        id: d.id.to_string(),
        record_type: field_host_to_pb(d.kind).into(),
        key: s.key,
        label: s.label,
        r#type: custom_field_type_to_pb(s.field_type).into(),
        required: s.required,
        options: s.options,
        max_length: s.max_length.and_then(|n| i32::try_from(n).ok()),
        min: s.min,
        max: s.max,
        create_time: Some(timestamp_to_pb(d.created_at)),
        help_text: s.help_text,
        default_value: s.default_value.map(json_to_pb),
        lookup_record_type: s
            .lookup
            .map_or(pb::RecordType::Unspecified, record_kind_to_pb)
            .into(),
        currency_code: s.currency_code.unwrap_or_default(),
        conversion_targets: (!s.conversion.is_empty()).then(|| pb::LeadConversionTargets {
            account_key: s.conversion.account.unwrap_or_default(),
            contact_key: s.conversion.contact.unwrap_or_default(),
            opportunity_key: s.conversion.opportunity.unwrap_or_default(),
        }),
    }
}

/// Conversion target keys as sent (account, contact, opportunity); empty for none.
pub fn conversion_targets_from_pb(targets: Option<&pb::LeadConversionTargets>) -> [String; 3] {
    targets.map_or_else(Default::default, |t| {
        [
            t.account_key.clone(),
            t.contact_key.clone(),
            t.opportunity_key.clone(),
        ]
    })
}

/// A definition's default as sent: `None` when unset or null.
pub fn custom_default_from_pb(
    value: Option<&prost_types::Value>,
    field: &str,
) -> Result<Option<Value>, FieldViolation> {
    match value.map(json_from_pb) {
        None => Ok(None),
        Some(Some(Value::Null)) => Ok(None),
        Some(Some(v)) => Ok(Some(v)),
        Some(None) => Err(FieldViolation::new(field, "must be a finite number")),
    }
}

/// A proto value as JSON; `None` for a number JSON cannot hold (NaN, infinities).
fn json_from_pb(value: &prost_types::Value) -> Option<Value> {
    Some(match &value.kind {
        None | Some(PbKind::NullValue(_)) => Value::Null,
        Some(PbKind::BoolValue(b)) => Value::Bool(*b),
        Some(PbKind::NumberValue(n)) => Value::Number(serde_json::Number::from_f64(*n)?),
        Some(PbKind::StringValue(s)) => Value::String(s.clone()),
        Some(PbKind::ListValue(list)) => Value::Array(
            list.values
                .iter()
                .map(json_from_pb)
                .collect::<Option<_>>()?,
        ),
        Some(PbKind::StructValue(st)) => Value::Object(
            st.fields
                .iter()
                .map(|(k, v)| Some((k.clone(), json_from_pb(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

fn json_to_pb(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => PbKind::NullValue(0),
        Value::Bool(b) => PbKind::BoolValue(b),
        Value::Number(n) => PbKind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => PbKind::StringValue(s),
        Value::Array(items) => PbKind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(json_to_pb).collect(),
        }),
        Value::Object(fields) => PbKind::StructValue(prost_types::Struct {
            fields: fields
                .into_iter()
                .map(|(k, v)| (k, json_to_pb(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A request's custom values, not yet checked against the definitions (the store does that in
/// the write's transaction). Violations are named `<prefix><key>`.
pub fn custom_values_from_pb(
    values: &HashMap<String, prost_types::Value>,
    prefix: &str,
) -> Result<CustomValues, Vec<FieldViolation>> {
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for (key, value) in values {
        match json_from_pb(value) {
            Some(v) => {
                out.insert(key.clone(), v);
            }
            None => bad.push(FieldViolation::new(
                format!("{prefix}{key}"),
                "must be a finite number",
            )),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

pub fn custom_values_to_pb(values: CustomValues) -> HashMap<String, prost_types::Value> {
    values
        .into_iter()
        .map(|(k, v)| (k, json_to_pb(v)))
        .collect()
}
