//! Events about custom field definitions: `crm.custom_field.created|deleted`, carrying the
//! definition.

use events::NewEvent;

use super::publish::{Change, Result};
use crate::convert::custom_field_definition_to_pb;
use crate::domain::custom_fields::Definition;

pub fn definition_changed(
    tenant_id: uuid::Uuid,
    change: Change,
    definition: &Definition,
) -> Result<NewEvent> {
    let verb = match change {
        Change::Created => "created",
        Change::Updated => "updated",
        Change::Deleted => "deleted",
    };
    NewEvent::new(
        &format!("crm.custom_field.{verb}"),
        tenant_id,
        "custom_field",
        definition.id,
        &custom_field_definition_to_pb(definition.clone()),
    )
}
