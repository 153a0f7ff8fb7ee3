//! CustomFieldService, and the mapping of records' custom values between proto and domain.

use std::sync::Arc;

use auth::permissions::{CRM_FIELDS_WRITE, CRM_RECORDS_READ};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::{parse_id, viewer};
use crate::convert::{
    custom_field_definition_to_pb, custom_field_type_from_pb, record_kind_from_pb,
};
use crate::domain::FieldViolation;
use crate::domain::custom_fields::{DefinitionSpec, RawDefinition};
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

fn parse_definition(
    r: pb::CreateCustomFieldDefinitionRequest,
) -> Result<(RecordKind, DefinitionSpec)> {
    let d = r
        .definition
        .ok_or_else(|| Error::invalid("definition", "is required"))?;
    let kind = record_kind_from_pb(d.record_type);
    let spec = DefinitionSpec::parse(
        RawDefinition {
            key: d.key,
            label: d.label,
            field_type: custom_field_type_from_pb(d.r#type),
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
        Ok(Response::new(custom_field_definition_to_pb(definition)))
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
            Some(record_kind_from_pb(raw).map_err(|m| Error::invalid("record_type", m))?)
        };
        let definitions = self.store.definitions(viewer, kind).await?;
        Ok(Response::new(pb::ListCustomFieldDefinitionsResponse {
            definitions: definitions
                .into_iter()
                .map(custom_field_definition_to_pb)
                .collect(),
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
