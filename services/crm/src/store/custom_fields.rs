//! Custom field definitions, and reading and writing the custom values of records.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Row};
use uuid::Uuid;

use super::tenant_config::TenantConfig;
use super::{PgStore, Tx, now, publish};
use crate::domain::custom_fields::{
    CustomValues, Definition, DefinitionSpec, FieldType, MAX_DEFINITIONS, validate,
};
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::Change;
use crate::events::custom_fields::definition_changed;
use crate::filter::custom;
use crate::listing::ListQuery;

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CustomFieldStore: Send + Sync + 'static {
    async fn create_definition(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        spec: DefinitionSpec,
    ) -> Result<Definition>;
    /// Oldest first; every record type when `kind` is `None`.
    async fn definitions(
        &self,
        viewer: Viewer,
        kind: Option<RecordKind>,
    ) -> Result<Vec<Definition>>;
    async fn delete_definition(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

const COLUMNS: &str = "id, record_type, key, label, field_type, required, options, max_length, \
    min_value, max_value, created_at";

fn kind_name(kind: RecordKind) -> &'static str {
    kind.name()
}

fn parse_kind(name: &str) -> Result<RecordKind> {
    [
        RecordKind::Account,
        RecordKind::Contact,
        RecordKind::Lead,
        RecordKind::Opportunity,
    ]
    .into_iter()
    .find(|k| k.name() == name)
    .ok_or_else(|| Error::Internal(format!("unknown custom field record type {name}")))
}

fn from_row(row: &PgRow) -> Result<Definition> {
    let record_type: String = row.try_get("record_type")?;
    let field_type: String = row.try_get("field_type")?;
    let max_length: Option<i32> = row.try_get("max_length")?;
    Ok(Definition {
        id: row.try_get("id")?,
        kind: parse_kind(&record_type)?,
        spec: DefinitionSpec {
            key: row.try_get("key")?,
            label: row.try_get("label")?,
            field_type: FieldType::parse(&field_type).ok_or_else(|| {
                Error::Internal(format!("unknown custom field type {field_type}"))
            })?,
            required: row.try_get("required")?,
            options: row.try_get("options")?,
            max_length: max_length.and_then(|n| u32::try_from(n).ok()),
            min: row.try_get("min_value")?,
            max: row.try_get("max_value")?,
        },
        created_at: row.try_get("created_at")?,
    })
}

/// The definitions of `kind` records, in the caller's transaction.
pub(crate) async fn definitions_of(tx: &mut Tx, kind: RecordKind) -> Result<Vec<Definition>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM custom_field_definitions WHERE record_type = $1
         ORDER BY created_at, id"
    )))
    .bind(kind_name(kind))
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// `values` checked against the definitions of `kind` records; violations are named
/// `custom_fields.<key>`.
pub(crate) async fn checked(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    kind: RecordKind,
    values: &CustomValues,
) -> Result<CustomValues> {
    let definitions = config.definitions(tx, kind).await?;
    Ok(validate(&definitions, values, "custom_fields.")?)
}

/// Types the `custom.<key>` comparisons of the query's filter with the definitions of `kind`.
pub(crate) async fn resolve_filter(
    tx: &mut Tx,
    kind: RecordKind,
    column: &str,
    mut query: ListQuery,
) -> Result<ListQuery> {
    let Some(filter) = query.filter.as_mut() else {
        return Ok(query);
    };
    if !custom::mentions_custom(filter) {
        return Ok(query);
    }
    let definitions = definitions_of(tx, kind).await?;
    custom::resolve(filter, &definitions, column)
        .map_err(|e| Error::invalid("filter", e.to_string()))?;
    Ok(query)
}

/// Custom values as stored (a jsonb object), bound as text and cast by the statement.
pub(crate) fn to_json(values: &CustomValues) -> Result<String> {
    serde_json::to_string(values).map_err(|e| Error::Internal(format!("custom fields: {e}")))
}

/// Reads the `custom_fields` column, selected as `custom_fields::text`.
pub(crate) fn from_json(row: &PgRow) -> Result<CustomValues> {
    from_json_at(row, row.try_column("custom_fields")?.ordinal())
}

/// [`from_json`] with the column's position already known.
pub(crate) fn from_json_at(row: &PgRow, index: usize) -> Result<CustomValues> {
    let text: &str = row.try_get(index)?;
    serde_json::from_str(text).map_err(|e| Error::Internal(format!("custom fields: {e}")))
}

#[async_trait]
impl CustomFieldStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_custom_field", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_custom_field", tenant_id = %viewer.tenant_id))]
    async fn create_definition(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        spec: DefinitionSpec,
    ) -> Result<Definition> {
        let mut tx = self.tx(viewer).await?;
        if definitions_of(&mut tx, kind).await?.len() >= MAX_DEFINITIONS {
            return Err(Error::FailedPrecondition(format!(
                "a record type has at most {MAX_DEFINITIONS} custom fields"
            )));
        }
        let definition = Definition {
            id: Uuid::now_v7(),
            kind,
            spec,
            created_at: now(),
        };
        let s = &definition.spec;
        sqlx::query(
            "INSERT INTO custom_field_definitions (id, tenant_id, record_type, key, label,
                 field_type, required, options, max_length, min_value, max_value, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(definition.id)
        .bind(viewer.tenant_id)
        .bind(kind_name(kind))
        .bind(&s.key)
        .bind(&s.label)
        .bind(s.field_type.as_str())
        .bind(s.required)
        .bind(&s.options)
        .bind(s.max_length.and_then(|n| i32::try_from(n).ok()))
        .bind(s.min)
        .bind(s.max)
        .bind(definition.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|error| match db::unique_violation(&error) {
            Some("custom_field_definitions_key_key") => Error::AlreadyExists {
                field: "definition.key",
                message: "this record type already has a custom field with this key".to_owned(),
            },
            _ => Error::Store(error),
        })?;
        publish(
            &mut tx,
            &[definition_changed(
                viewer.tenant_id,
                Change::Created,
                &definition,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(definition)
    }

    async fn definitions(
        &self,
        viewer: Viewer,
        kind: Option<RecordKind>,
    ) -> Result<Vec<Definition>> {
        let mut tx = self.tx(viewer).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM custom_field_definitions
             WHERE $1::text IS NULL OR record_type = $1
             ORDER BY created_at, id"
        )))
        .bind(kind.map(kind_name))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(from_row).collect()
    }

    #[tracing::instrument(name = "crm.postgres.delete_custom_field", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_custom_field", tenant_id = %viewer.tenant_id))]
    async fn delete_definition(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM custom_field_definitions WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(definition) = row.as_ref().map(from_row).transpose()? else {
            return Ok(false);
        };
        // The key's values go with it: they would otherwise fail the next update's validation.
        let table = match definition.kind {
            RecordKind::Account => "accounts",
            RecordKind::Contact => "contacts",
            RecordKind::Lead => "leads",
            RecordKind::Opportunity => "opportunities",
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET custom_fields = custom_fields - $1 WHERE custom_fields ? $1"
        )))
        .bind(&definition.spec.key)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[definition_changed(
                viewer.tenant_id,
                Change::Deleted,
                &definition,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
