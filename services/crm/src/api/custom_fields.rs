//! CustomFieldService, and the mapping of records' custom values between proto and domain.

use std::sync::Arc;

use auth::permissions::{CRM_FIELDS_WRITE, CRM_RECORDS_READ};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::{mask_paths, parse_id, viewer};
use crate::convert::{
    conversion_targets_from_pb, custom_default_from_pb, custom_field_definition_to_pb,
    custom_field_type_from_pb, field_host_from_pb, record_kind_from_pb,
};
use crate::domain::Violations;
use crate::domain::custom_fields::{DefinitionPatch, DefinitionSpec, FieldHost, RawDefinition};
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

/// Settings UpdateCustomFieldDefinition changes.
const UPDATABLE: &[&str] = &[
    "label",
    "help_text",
    "required",
    "options",
    "max_length",
    "min",
    "max",
    "currency_code",
    "default_value",
    "conversion_targets",
];

fn parse_definition(
    r: pb::CreateCustomFieldDefinitionRequest,
) -> Result<(FieldHost, DefinitionSpec)> {
    let d = r
        .definition
        .ok_or_else(|| Error::invalid("definition", "is required"))?;
    let mut v = Violations::new();
    let kind = v.check("definition.record_type", field_host_from_pb(d.record_type));
    let lookup = if d.lookup_record_type == i32::from(pb::RecordType::Unspecified) {
        None
    } else {
        v.check(
            "definition.lookup_record_type",
            record_kind_from_pb(d.lookup_record_type),
        )
    };
    let default_value = v
        .check_all(
            custom_default_from_pb(d.default_value.as_ref(), "definition.default_value")
                .map_err(|e| vec![e]),
        )
        .flatten();
    let spec = v.check_all(DefinitionSpec::parse(
        RawDefinition {
            key: d.key,
            label: d.label,
            help_text: d.help_text,
            field_type: custom_field_type_from_pb(d.r#type),
            required: d.required,
            options: d.options,
            max_length: d.max_length.map(i64::from),
            min: d.min,
            max: d.max,
            currency_code: d.currency_code,
            lookup,
            default_value,
            conversion: conversion_targets_from_pb(d.conversion_targets.as_ref()),
        },
        "definition.",
    ));
    v.finish()?;
    match (kind, spec) {
        (Some(kind), Some(spec)) => Ok((kind, spec)),
        _ => Err(Error::invalid("definition", "is invalid")),
    }
}

fn parse_patch(r: pb::UpdateCustomFieldDefinitionRequest) -> Result<(uuid::Uuid, DefinitionPatch)> {
    // Renames alone need no mask: they rename the options in place.
    let renames_only =
        !r.option_renames.is_empty() && r.update_mask.as_ref().is_none_or(|m| m.paths.is_empty());
    let paths = if renames_only {
        Vec::new()
    } else {
        mask_paths(r.update_mask, UPDATABLE)?
    };
    let d = r
        .definition
        .ok_or_else(|| Error::invalid("definition", "is required"))?;
    let id = parse_id("definition.id", &d.id)?;
    let mut patch = DefinitionPatch {
        option_renames: r.option_renames.into_iter().collect(),
        ..DefinitionPatch::default()
    };
    for path in &paths {
        match path.as_str() {
            "label" => patch.label = Some(d.label.clone()),
            "help_text" => patch.help_text = Some(d.help_text.clone()),
            "required" => patch.required = Some(d.required),
            "options" => patch.options = Some(d.options.clone()),
            "max_length" => patch.max_length = Some(d.max_length.map(i64::from)),
            "min" => patch.min = Some(d.min),
            "max" => patch.max = Some(d.max),
            "currency_code" => patch.currency_code = Some(d.currency_code.clone()),
            "conversion_targets" => {
                patch.conversion = Some(conversion_targets_from_pb(d.conversion_targets.as_ref()))
            }
            "default_value" => {
                patch.default_value = Some(
                    custom_default_from_pb(d.default_value.as_ref(), "definition.default_value")
                        .map_err(|e| Error::InvalidArgument(vec![e]))?,
                )
            }
            // mask_paths admits only UPDATABLE.
            other => {
                return Err(Error::invalid(
                    "update_mask",
                    format!("cannot update {other:?}"),
                ));
            }
        }
    }
    Ok((id, patch))
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
            Some(field_host_from_pb(raw).map_err(|m| Error::invalid("record_type", m))?)
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
    async fn update_custom_field_definition(
        &self,
        request: Request<pb::UpdateCustomFieldDefinitionRequest>,
    ) -> Result<Response<pb::CustomFieldDefinition>, Status> {
        let viewer = viewer(&request, CRM_FIELDS_WRITE)?;
        let (id, patch) = parse_patch(request.into_inner())?;
        let definition = self
            .store
            .update_definition(viewer, id, patch)
            .await?
            .ok_or(Error::NotFound("custom field definition"))?;
        Ok(Response::new(custom_field_definition_to_pb(definition)))
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
