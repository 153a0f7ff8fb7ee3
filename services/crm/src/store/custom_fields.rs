//! Custom field definitions, and reading and writing the custom values of records.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Column as _, Row};
use uuid::Uuid;

use super::tenant_config::TenantConfig;
use super::{PgStore, Tx, now, publish};
use crate::domain::FieldViolation;
use crate::domain::custom_fields::{
    ConversionTargets, CustomValues, Definition, DefinitionPatch, DefinitionSpec, FieldHost,
    FieldType, MAX_DEFINITIONS, Revision, from_csv, validate, with_defaults,
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
        kind: FieldHost,
        spec: DefinitionSpec,
    ) -> Result<Definition>;
    /// Oldest first; every record type when `kind` is `None`.
    async fn definitions(&self, viewer: Viewer, kind: Option<FieldHost>)
    -> Result<Vec<Definition>>;
    /// `None` when there is no such definition. Refused, with the number of records, when
    /// stored values would not fit the changed definition; renamed options are renamed in the
    /// stored values in the same transaction.
    async fn update_definition(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: DefinitionPatch,
    ) -> Result<Option<Definition>>;
    async fn delete_definition(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

const COLUMNS: &str = "id, record_type, key, label, field_type, required, options, max_length, \
    min_value, max_value, created_at, help_text, currency_code, lookup_record_type, \
    default_value::text AS default_value, convert_to_account, convert_to_contact, \
    convert_to_opportunity";

fn kind_name(kind: FieldHost) -> &'static str {
    kind.name()
}

fn parse_kind(name: &str) -> Result<FieldHost> {
    FieldHost::parse(name)
        .ok_or_else(|| Error::Internal(format!("unknown custom field record type {name}")))
}

/// Lookup targets are sales records.
fn parse_lookup(name: &str) -> Result<RecordKind> {
    [
        RecordKind::Account,
        RecordKind::Contact,
        RecordKind::Lead,
        RecordKind::Opportunity,
    ]
    .into_iter()
    .find(|k| k.name() == name)
    .ok_or_else(|| Error::Internal(format!("unknown lookup record type {name}")))
}

/// The table holding `kind` records (a trusted name for SQL text).
pub(crate) fn table_of(kind: impl Into<FieldHost>) -> &'static str {
    match kind.into() {
        FieldHost::Account => "accounts",
        FieldHost::Contact => "contacts",
        FieldHost::Lead => "leads",
        FieldHost::Opportunity => "opportunities",
        FieldHost::Case => "cases",
    }
}

fn from_row(row: &PgRow) -> Result<Definition> {
    let record_type: String = row.try_get("record_type")?;
    let field_type: String = row.try_get("field_type")?;
    let max_length: Option<i32> = row.try_get("max_length")?;
    let lookup: Option<String> = row.try_get("lookup_record_type")?;
    let default_value: Option<String> = row.try_get("default_value")?;
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
            help_text: row.try_get("help_text")?,
            currency_code: row.try_get("currency_code")?,
            lookup: lookup.as_deref().map(parse_lookup).transpose()?,
            default_value: default_value
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| Error::Internal(format!("custom field default: {e}")))?,
            conversion: ConversionTargets {
                account: row.try_get("convert_to_account")?,
                contact: row.try_get("convert_to_contact")?,
                opportunity: row.try_get("convert_to_opportunity")?,
            },
        },
        created_at: row.try_get("created_at")?,
    })
}

/// The definitions of `kind` records, in the caller's transaction.
pub(crate) async fn definitions_of(tx: &mut Tx, kind: FieldHost) -> Result<Vec<Definition>> {
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
/// `custom_fields.<key>`. Lookups must name a record of the tenant.
pub(crate) async fn checked(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    kind: impl Into<FieldHost>,
    values: &CustomValues,
) -> Result<CustomValues> {
    let definitions = current_definitions(tx, config, kind).await?;
    let valid = validate(&definitions, values, "custom_fields.")?;
    check_lookups(tx, &definitions, &valid).await?;
    Ok(valid)
}

/// [`checked`] for a new record: the fields it leaves empty get their defaults first.
pub(crate) async fn checked_new(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    kind: impl Into<FieldHost>,
    values: &CustomValues,
) -> Result<CustomValues> {
    let definitions = current_definitions(tx, config, kind).await?;
    new_values(tx, &definitions, values).await
}

/// A new record's `values` checked against `definitions` (from [`current_definitions`]), with
/// defaults for the fields it leaves empty.
pub(crate) async fn new_values(
    tx: &mut Tx,
    definitions: &[Definition],
    values: &CustomValues,
) -> Result<CustomValues> {
    let valid = validate(
        definitions,
        &with_defaults(definitions, values),
        "custom_fields.",
    )?;
    check_lookups(tx, definitions, &valid).await?;
    Ok(valid)
}

/// [`new_values`] for an imported row, whose custom values are CSV cells (text).
pub(crate) async fn imported_values(
    tx: &mut Tx,
    definitions: &[Definition],
    cells: &CustomValues,
) -> Result<CustomValues> {
    new_values(tx, definitions, &from_csv(definitions, cells)).await
}

/// The definitions a write validates against. A definition update checks the stored values
/// and commits while holding the tenant's `crm_tenants` row; this write shares that row lock
/// until it commits, so either the update sees this write's values, or this write waits for
/// the update and validates against the new definitions (the version moved, so they are read
/// afresh). Tenants without definitions of `kind` skip the lock: nothing can be updated.
pub(crate) async fn current_definitions(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    kind: impl Into<FieldHost>,
) -> Result<std::sync::Arc<[Definition]>> {
    let kind = kind.into();
    let definitions = config.definitions(tx, kind).await?;
    if definitions.is_empty() {
        return Ok(definitions);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT config_version FROM crm_tenants WHERE tenant_id = $1 FOR SHARE")
            .bind(config.tenant_id())
            .fetch_optional(&mut *tx)
            .await?;
    if version == Some(config.version()) {
        Ok(definitions)
    } else {
        Ok(definitions_of(tx, kind).await?.into())
    }
}

/// Takes the shared lock of [`current_definitions`] early: an update of a record's custom values
/// takes it before the record's row lock, in the order a definition update takes both (the
/// tenant's row, then records' rows), so the two never wait on each other in a cycle.
pub(crate) async fn hold_definitions(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    kind: impl Into<FieldHost>,
) -> Result<()> {
    current_definitions(tx, config, kind).await.map(drop)
}

/// Every lookup value names a live record of its kind in the tenant (RLS hides other tenants'
/// records, so theirs are "not found" as well).
async fn check_lookups(
    tx: &mut Tx,
    definitions: &[Definition],
    values: &CustomValues,
) -> Result<()> {
    let mut violations = Vec::new();
    for definition in definitions {
        let Some((kind, id)) = values
            .get(&definition.spec.key)
            .and_then(|v| definition.spec.lookup_target(v))
        else {
            continue;
        };
        let found: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {} WHERE id = $1 AND deleted_at IS NULL)",
            table_of(kind)
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if !found {
            violations.push(FieldViolation::new(
                format!("custom_fields.{}", definition.spec.key),
                format!("no {} with id {id}", kind.name()),
            ));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.into())
    }
}

/// Types the `custom.<key>` comparisons of the query's filter with the definitions of `kind`.
pub(crate) async fn resolve_filter(
    tx: &mut Tx,
    kind: impl Into<FieldHost>,
    column: &str,
    mut query: ListQuery,
) -> Result<ListQuery> {
    let Some(filter) = query.filter.as_mut() else {
        return Ok(query);
    };
    if !custom::mentions_custom(filter) {
        return Ok(query);
    }
    let definitions = definitions_of(tx, kind.into()).await?;
    custom::resolve(filter, &definitions, column)
        .map_err(|e| Error::invalid("filter", e.to_string()))?;
    Ok(query)
}

fn default_json(spec: &DefinitionSpec) -> Result<Option<String>> {
    spec.default_value
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Internal(format!("custom field default: {e}")))
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
        kind: FieldHost,
        spec: DefinitionSpec,
    ) -> Result<Definition> {
        let mut tx = self.tx(viewer).await?;
        check_conversion(&mut tx, kind, &spec).await?;
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
                 updated_at, help_text, currency_code, lookup_record_type, default_value,
                 convert_to_account, convert_to_contact, convert_to_opportunity)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15,
                 $16::jsonb, $17, $18, $19)",
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
        .bind(&s.help_text)
        .bind(&s.currency_code)
        .bind(s.lookup.map(RecordKind::name))
        .bind(default_json(s)?)
        .bind(&s.conversion.account)
        .bind(&s.conversion.contact)
        .bind(&s.conversion.opportunity)
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
        kind: Option<FieldHost>,
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

    #[tracing::instrument(name = "crm.postgres.update_custom_field", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_custom_field", tenant_id = %viewer.tenant_id))]
    async fn update_definition(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: DefinitionPatch,
    ) -> Result<Option<Definition>> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM custom_field_definitions WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = row.as_ref().map(from_row).transpose()? else {
            return Ok(None);
        };
        let revision = Revision::new(&before.spec, patch, "definition.")?;
        check_conversion(&mut tx, before.kind, &revision.spec).await?;
        // Record writes hold this row shared while they validate and until they commit (see
        // `current_definitions`): once it is ours, every value written under the old
        // definition is committed and visible to the check below, and later writes wait.
        sqlx::query("SELECT 1 FROM crm_tenants WHERE tenant_id = $1 FOR NO KEY UPDATE")
            .bind(viewer.tenant_id)
            .execute(&mut *tx)
            .await?;
        let carried = carry_values(&mut tx, &before, &revision).await?;
        if !carried.is_empty() {
            let (ids, values): (Vec<Uuid>, Vec<String>) = carried.into_iter().unzip();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {} AS t SET custom_fields = jsonb_set(t.custom_fields, ARRAY[$1],
                     c.value::jsonb)
                 FROM unnest($2::uuid[], $3::text[]) AS c(id, value)
                 WHERE t.id = c.id",
                table_of(before.kind)
            )))
            .bind(&before.spec.key)
            .bind(&ids)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
        }
        let definition = Definition {
            spec: revision.spec,
            ..before
        };
        let s = &definition.spec;
        sqlx::query(
            "UPDATE custom_field_definitions SET label = $2, help_text = $3, required = $4,
                 options = $5, max_length = $6, min_value = $7, max_value = $8,
                 currency_code = $9, default_value = $10::jsonb, updated_at = $11,
                 convert_to_account = $12, convert_to_contact = $13, convert_to_opportunity = $14
             WHERE id = $1",
        )
        .bind(definition.id)
        .bind(&s.label)
        .bind(&s.help_text)
        .bind(s.required)
        .bind(&s.options)
        .bind(s.max_length.and_then(|n| i32::try_from(n).ok()))
        .bind(s.min)
        .bind(s.max)
        .bind(&s.currency_code)
        .bind(default_json(s)?)
        .bind(now())
        .bind(&s.conversion.account)
        .bind(&s.conversion.contact)
        .bind(&s.conversion.opportunity)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[definition_changed(
                viewer.tenant_id,
                Change::Updated,
                &definition,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(definition))
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
        let table = table_of(definition.kind);
        // Lead fields converting into this one stop doing so.
        if let Some(column) = conversion_column(definition.kind) {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE custom_field_definitions SET {column} = NULL
                 WHERE record_type = 'lead' AND {column} = $1"
            )))
            .bind(&definition.spec.key)
            .execute(&mut *tx)
            .await?;
        }
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

/// The stored values of `before`'s key that read differently after `revision` (renamed
/// options), as (record id, new value JSON). Refused, naming the setting and the number of
/// live records, when values would no longer fit or a newly required field is empty somewhere.
async fn carry_values(
    tx: &mut Tx,
    before: &Definition,
    revision: &Revision,
) -> Result<Vec<(Uuid, String)>> {
    let table = table_of(before.kind);
    let key = &before.spec.key;
    let rows: Vec<(Uuid, String, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, (custom_fields -> $1)::text, deleted_at IS NULL FROM {table}
         WHERE custom_fields ? $1"
    )))
    .bind(key)
    .fetch_all(&mut *tx)
    .await?;
    let mut changed = Vec::new();
    let mut refused = 0_usize;
    let mut example = None;
    for (id, text, live) in rows {
        let stored: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("custom fields: {e}")))?;
        match revision.carry(&stored) {
            Ok(value) if value == stored => {}
            Ok(value) => changed.push((id, to_json_value(&value)?)),
            // Deleted records are not counted (no one can fix them); their values stay.
            Err(_) if !live => {}
            Err(message) => {
                refused += 1;
                example.get_or_insert((stored, message));
            }
        }
    }
    if let Some((stored, message)) = example {
        return Err(Error::invalid(
            refused_setting(before, revision),
            format!(
                "the change would invalidate the values of {refused} record{} (e.g. {stored}: \
                 {message}); change those records first",
                if refused == 1 { "" } else { "s" }
            ),
        ));
    }
    if revision.spec.required && !before.spec.required {
        let missing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {table}
             WHERE deleted_at IS NULL AND NOT custom_fields ? $1"
        )))
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        if missing > 0 {
            return Err(Error::invalid(
                "definition.required",
                format!(
                    "{missing} record{} no value for the field; give them one first",
                    if missing == 1 { " has" } else { "s have" }
                ),
            ));
        }
    }
    Ok(changed)
}

/// The setting whose change refuses stored values, to name in the error.
fn refused_setting(before: &Definition, revision: &Revision) -> &'static str {
    let (old, new) = (&before.spec, &revision.spec);
    match new.field_type {
        FieldType::Picklist | FieldType::MultiPicklist => "definition.options",
        FieldType::Text => "definition.max_length",
        FieldType::Number if old.min != new.min => "definition.min",
        FieldType::Number => "definition.max",
        FieldType::Currency => "definition.currency_code",
        _ => "definition",
    }
}

fn to_json_value(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("custom fields: {e}")))
}

/// The definitions column holding lead fields' conversion targets of `kind`.
fn conversion_column(kind: FieldHost) -> Option<&'static str> {
    match kind {
        FieldHost::Account => Some("convert_to_account"),
        FieldHost::Contact => Some("convert_to_contact"),
        FieldHost::Opportunity => Some("convert_to_opportunity"),
        FieldHost::Lead | FieldHost::Case => None,
    }
}

/// Conversion targets are for lead fields, and name existing fields of the same type.
async fn check_conversion(tx: &mut Tx, kind: FieldHost, spec: &DefinitionSpec) -> Result<()> {
    if spec.conversion.is_empty() {
        return Ok(());
    }
    if kind != FieldHost::Lead {
        return Err(Error::invalid(
            "definition.conversion_targets",
            "only lead fields are copied by a conversion",
        ));
    }
    let mut violations = Vec::new();
    for (host, key) in spec.conversion.targets() {
        let field = format!("definition.conversion_targets.{}_key", host.name());
        let target = definitions_of(tx, host)
            .await?
            .into_iter()
            .find(|d| d.spec.key == key);
        match target {
            None => violations.push(FieldViolation::new(
                field,
                format!("{} has no custom field {key:?}", host.name()),
            )),
            Some(t) if t.spec.field_type != spec.field_type => {
                violations.push(FieldViolation::new(
                    field,
                    format!(
                        "{key:?} is a {} field; this field is {}",
                        t.spec.field_type.as_str(),
                        spec.field_type.as_str()
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.into())
    }
}
