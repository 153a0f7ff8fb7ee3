//! CustomFieldService, and the mapping of records' custom values between proto and domain.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use auth::permissions::{CRM_FIELDS_WRITE, CRM_RECORDS_READ};
use prost_types::value::Kind as PbKind;
use proto::crm as pb;
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::search::{record_kind, record_type};
use super::{convert, parse_id, viewer};
use crate::domain::FieldViolation;
use crate::domain::custom_fields::{
    CustomValues, Definition, DefinitionSpec, FieldType, RawDefinition,
};
use crate::domain::visibility::RecordKind;
use crate::error::{Error, Result};
use crate::store::custom_fields::CustomFieldStore;

pub struct CustomFieldApi {
    store: Arc<dyn CustomFieldStore>,
}

impl CustomFieldApi {
    pub fn new(store: Arc<dyn CustomFieldStore>) -> Self {
        Self { store }
    }
}

fn field_type(raw: i32) -> Option<FieldType> {
    match pb::CustomFieldType::try_from(raw) {
        Ok(pb::CustomFieldType::Text) => Some(FieldType::Text),
        Ok(pb::CustomFieldType::Number) => Some(FieldType::Number),
        Ok(pb::CustomFieldType::Date) => Some(FieldType::Date),
        Ok(pb::CustomFieldType::Bool) => Some(FieldType::Bool),
        Ok(pb::CustomFieldType::Picklist) => Some(FieldType::Picklist),
        Ok(pb::CustomFieldType::Unspecified) | Err(_) => None,
    }
}

fn field_type_to_pb(t: FieldType) -> pb::CustomFieldType {
    match t {
        FieldType::Text => pb::CustomFieldType::Text,
        FieldType::Number => pb::CustomFieldType::Number,
        FieldType::Date => pb::CustomFieldType::Date,
        FieldType::Bool => pb::CustomFieldType::Bool,
        FieldType::Picklist => pb::CustomFieldType::Picklist,
    }
}

pub fn definition_to_pb(d: Definition) -> pb::CustomFieldDefinition {
    let s = d.spec;
    pb::CustomFieldDefinition {
        id: d.id.to_string(),
        record_type: record_type(d.kind).into(),
        key: s.key,
        label: s.label,
        r#type: field_type_to_pb(s.field_type).into(),
        required: s.required,
        options: s.options,
        max_length: s.max_length.and_then(|n| i32::try_from(n).ok()),
        min: s.min,
        max: s.max,
        create_time: Some(convert::timestamp(d.created_at)),
    }
}

/// A proto value as JSON; `None` for a number JSON cannot hold (NaN, infinities).
fn json(value: &prost_types::Value) -> Option<Value> {
    Some(match &value.kind {
        None | Some(PbKind::NullValue(_)) => Value::Null,
        Some(PbKind::BoolValue(b)) => Value::Bool(*b),
        Some(PbKind::NumberValue(n)) => Value::Number(serde_json::Number::from_f64(*n)?),
        Some(PbKind::StringValue(s)) => Value::String(s.clone()),
        Some(PbKind::ListValue(list)) => {
            Value::Array(list.values.iter().map(json).collect::<Option<_>>()?)
        }
        Some(PbKind::StructValue(st)) => Value::Object(
            st.fields
                .iter()
                .map(|(k, v)| Some((k.clone(), json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

fn pb_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => PbKind::NullValue(0),
        Value::Bool(b) => PbKind::BoolValue(b),
        Value::Number(n) => PbKind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => PbKind::StringValue(s),
        Value::Array(items) => PbKind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(pb_value).collect(),
        }),
        Value::Object(fields) => PbKind::StructValue(prost_types::Struct {
            fields: fields.into_iter().map(|(k, v)| (k, pb_value(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A request's custom values, not yet checked against the definitions (the store does that in
/// the write's transaction). Violations are named `<prefix><key>`.
pub fn values_from_pb(
    values: &HashMap<String, prost_types::Value>,
    prefix: &str,
) -> Result<CustomValues, Vec<FieldViolation>> {
    let mut out = BTreeMap::new();
    let mut bad = Vec::new();
    for (key, value) in values {
        match json(value) {
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

pub fn values_to_pb(values: CustomValues) -> HashMap<String, prost_types::Value> {
    values.into_iter().map(|(k, v)| (k, pb_value(v))).collect()
}

fn parse_definition(
    r: pb::CreateCustomFieldDefinitionRequest,
) -> Result<(RecordKind, DefinitionSpec)> {
    let d = r
        .definition
        .ok_or_else(|| Error::invalid("definition", "is required"))?;
    let kind = record_kind(d.record_type);
    let spec = DefinitionSpec::parse(
        RawDefinition {
            key: d.key,
            label: d.label,
            field_type: field_type(d.r#type),
            required: d.required,
            options: d.options,
            max_length: d.max_length.map(i64::from),
            min: d.min,
            max: d.max,
        },
        "definition.",
    );
    match (kind, spec) {
        (Ok(kind), Ok(spec)) => Ok((kind, spec)),
        (Err(message), spec) => {
            let mut violations = vec![FieldViolation::new("definition.record_type", message)];
            violations.extend(spec.err().unwrap_or_default());
            Err(violations.into())
        }
        (Ok(_), Err(violations)) => Err(violations.into()),
    }
}

#[tonic::async_trait]
impl pb::custom_field_service_server::CustomFieldService for CustomFieldApi {
    #[tracing::instrument(skip_all)]
    async fn create_custom_field_definition(
        &self,
        request: Request<pb::CreateCustomFieldDefinitionRequest>,
    ) -> Result<Response<pb::CustomFieldDefinition>, Status> {
        let viewer = viewer(&request, CRM_FIELDS_WRITE)?;
        let (kind, spec) = parse_definition(request.into_inner())?;
        let definition = self.store.create_definition(viewer, kind, spec).await?;
        Ok(Response::new(definition_to_pb(definition)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_custom_field_definitions(
        &self,
        request: Request<pb::ListCustomFieldDefinitionsRequest>,
    ) -> Result<Response<pb::ListCustomFieldDefinitionsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let raw = request.get_ref().record_type;
        let kind = if raw == i32::from(pb::RecordType::Unspecified) {
            None
        } else {
            Some(record_kind(raw).map_err(|m| Error::invalid("record_type", m))?)
        };
        let definitions = self.store.definitions(viewer, kind).await?;
        Ok(Response::new(pb::ListCustomFieldDefinitionsResponse {
            definitions: definitions.into_iter().map(definition_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_custom_field_definition(
        &self,
        request: Request<pb::DeleteCustomFieldDefinitionRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_FIELDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_definition(viewer, id).await? {
            return Err(Error::NotFound("custom field definition").into());
        }
        Ok(Response::new(()))
    }
}
