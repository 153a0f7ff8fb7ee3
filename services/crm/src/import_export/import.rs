//! CSV import: the header maps columns to fields, each row becomes a record checked by the same
//! rules as a Create request's body, duplicates are skipped when asked. Shared by the streaming
//! import and by import jobs.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::RecordStores;
use crate::domain::Violations;
use crate::domain::account::AccountBasics;
use crate::domain::contact::ContactBasics;
use crate::domain::custom_fields::CustomValues;
use crate::domain::import_row::{ImportRow, RowError, row_errors};
use crate::domain::lead::{LeadFields, LeadRating};
use crate::domain::record_fields;
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::listing::{ListQuery, Listing};

/// `kind` when it can be imported; violations name `record_type` (callers prefix it).
pub fn import_kind(kind: RecordKind) -> Result<RecordKind> {
    importable_fields(kind)?;
    Ok(kind)
}

/// The CSV columns an import of `kind` reads, from the record's field table.
fn importable_fields(kind: RecordKind) -> Result<Vec<&'static str>> {
    match kind {
        RecordKind::Account | RecordKind::Contact | RecordKind::Lead => {
            Ok(record_fields::table(kind).import_columns())
        }
        RecordKind::Opportunity => Err(Error::invalid(
            "record_type",
            "imports take accounts, contacts or leads",
        )),
    }
}

/// Refuses a mapping to a field that cannot be imported; violations name `column_mapping[..]`.
fn check_mapping(mapping: &HashMap<String, String>, fields: &[&str]) -> Result<()> {
    let mut violations: Vec<_> = mapping
        .iter()
        .filter(|(_, target)| !fields.contains(&target.as_str()) && custom_key(target).is_none())
        .map(|(column, target)| {
            crate::domain::FieldViolation::new(
                format!("column_mapping[{column}]"),
                format!(
                    "{target:?} is not importable; fields: {} and custom.<key> for custom fields",
                    fields.join(", ")
                ),
            )
        })
        .collect();
    if violations.is_empty() {
        return Ok(());
    }
    violations.sort_by(|a, b| a.field.cmp(&b.field));
    Err(violations.into())
}

/// The custom field key of a `custom.<key>` column target (the export's header names custom
/// columns so, and a mapping may too). Whether the key is defined is checked per row, with the
/// definitions.
fn custom_key(target: &str) -> Option<&str> {
    target
        .strip_prefix(crate::filter::CUSTOM_PREFIX)
        .filter(|key| !key.is_empty())
}

/// Which custom field each CSV column feeds (`None`: none).
fn resolve_custom_columns(
    header: &[String],
    mapping: &HashMap<String, String>,
) -> Vec<Option<String>> {
    header
        .iter()
        .map(|column| {
            let target = mapping
                .get(column.trim())
                .map_or(column.trim(), String::as_str);
            custom_key(target).map(str::to_owned)
        })
        .collect()
}

/// Which record field each CSV column feeds (`None`: ignored).
fn resolve_columns(
    header: &[String],
    mapping: &HashMap<String, String>,
    fields: &[&'static str],
) -> Vec<Option<&'static str>> {
    header
        .iter()
        .map(|column| {
            let target = mapping
                .get(column.trim())
                .map_or(column.trim(), String::as_str);
            fields.iter().copied().find(|f| *f == target)
        })
        .collect()
}

fn integer(values: &HashMap<&str, &str>, field: &'static str) -> Result<i32> {
    match values.get(field).map(|v| v.trim()) {
        None | Some("") => Ok(0),
        Some(raw) => raw
            .parse()
            .map_err(|_| Error::invalid(field, "must be a whole number")),
    }
}

fn text(values: &HashMap<&str, &str>, field: &str) -> String {
    values
        .get(field)
        .map(|v| (*v).to_owned())
        .unwrap_or_default()
}

/// `a@x.io; b@y.io` → both.
fn list(values: &HashMap<&str, &str>, single: &str, many: &str) -> Vec<String> {
    let mut items: Vec<String> = values
        .get(many)
        .map(|v| v.split(';').map(str::trim).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(one) = values.get(single) {
        items.insert(0, one.trim().to_owned());
    }
    items.retain(|i| !i.is_empty());
    items
}

/// What a row is deduplicated by, normalised.
fn dedupe_key(kind: RecordKind, values: &HashMap<&str, &str>) -> Option<String> {
    let key = match kind {
        RecordKind::Account => text(values, "domain"),
        RecordKind::Contact => list(values, "email", "emails")
            .into_iter()
            .next()
            .unwrap_or_default(),
        RecordKind::Lead => text(values, "email"),
        RecordKind::Opportunity => String::new(),
    };
    let key = key.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// A quoted filter value (the filter lexer undoes the escapes).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether a live record the viewer can see already has this email/domain (`key`, normalised).
async fn is_duplicate(
    stores: &RecordStores,
    viewer: Viewer,
    kind: RecordKind,
    key: &str,
) -> Result<bool> {
    let (listing, field): (&'static Listing, &str) = match kind {
        RecordKind::Account => (&crate::store::accounts::LISTING, "domain"),
        RecordKind::Contact => (&crate::store::contacts::LISTING, "email"),
        RecordKind::Lead => (&crate::store::leads::LISTING, "email"),
        RecordKind::Opportunity => return Ok(false),
    };
    let filter =
        crate::filter::parse_with(&format!("{field} = {}", quoted(key)), listing.fields, false)
            .map_err(|e| Error::Internal(format!("duplicate filter: {e}")))?;
    let order = listing.parse_order("").map_err(Error::Internal)?;
    let query = ListQuery {
        filter,
        order,
        after: None,
        page_size: 1,
    };
    Ok(match kind {
        RecordKind::Account => !stores
            .accounts
            .list_accounts(viewer, query)
            .await?
            .items
            .is_empty(),
        RecordKind::Contact => !stores
            .contacts
            .list_contacts(viewer, query)
            .await?
            .items
            .is_empty(),
        _ => !stores
            .leads
            .list_leads(viewer, query)
            .await?
            .items
            .is_empty(),
    })
}

/// One row as the record it creates, checked by the same rules as a Create request's body.
/// `custom` holds the row's custom columns as text; the import store types them with the
/// definitions.
fn parse_row(
    viewer: Viewer,
    kind: RecordKind,
    values: &HashMap<&str, &str>,
    custom: CustomValues,
) -> Result<ImportRow> {
    let mut v = Violations::new();
    let row = match kind {
        RecordKind::Account => {
            let employee_count = integer(values, "employee_count")?;
            let basics = AccountBasics::parse(
                &text(values, "name"),
                &text(values, "domain"),
                &text(values, "industry"),
                employee_count,
                "",
                &mut v,
            );
            let owner = v.check("owner_id", optional_id(&text(values, "owner_id")));
            basics.zip(owner).map(|(b, owner)| {
                let mut data = b.into_data(owner.unwrap_or(viewer.user_id));
                data.custom_fields = custom;
                ImportRow::Account(data)
            })
        }
        RecordKind::Contact => {
            let basics = ContactBasics::parse(
                &text(values, "first_name"),
                &text(values, "last_name"),
                &list(values, "email", "emails"),
                &list(values, "phone", "phones"),
                &text(values, "title"),
                "",
                &mut v,
            );
            let account = v.check("account_id", optional_id(&text(values, "account_id")));
            let owner = v.check("owner_id", optional_id(&text(values, "owner_id")));
            match (basics, account, owner) {
                (Some(b), Some(account), Some(owner)) => {
                    let mut contact = b.into_new(account, owner.unwrap_or(viewer.user_id));
                    contact.custom_fields = custom;
                    Some(ImportRow::Contact(contact))
                }
                _ => None,
            }
        }
        RecordKind::Lead => {
            let employee_count = integer(values, "employee_count")?;
            let (first_name, last_name, email, phone) = (
                text(values, "first_name"),
                text(values, "last_name"),
                text(values, "email"),
                text(values, "phone"),
            );
            let (company, title, source, country_code) = (
                text(values, "company"),
                text(values, "title"),
                text(values, "source"),
                text(values, "country_code"),
            );
            let basics = LeadFields {
                first_name: &first_name,
                last_name: &last_name,
                email: &email,
                phone: &phone,
                company: &company,
                title: &title,
                source: &source,
                country_code: &country_code,
                employee_count,
            }
            .parse(&mut v);
            let raw_owner = text(values, "owner_id");
            let owner = v.check("owner_id", optional_id(&raw_owner));
            // An empty owner column lets the tenant's assignment rules choose, as on create.
            let unowned = raw_owner.trim().is_empty();
            basics.zip(owner).map(|(b, owner)| {
                let data = b.into_data(
                    LeadRating::Unspecified,
                    owner.unwrap_or(viewer.user_id),
                    custom,
                );
                if unowned {
                    ImportRow::UnownedLead(data)
                } else {
                    ImportRow::Lead(data)
                }
            })
        }
        RecordKind::Opportunity => {
            return Err(Error::Internal("opportunities are not imported".to_owned()));
        }
    };
    v.finish()?;
    row.ok_or_else(|| Error::Internal("validated fields missing".to_owned()))
}

/// An optional id: empty means none.
fn optional_id(raw: &str) -> Result<Option<Uuid>, &'static str> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Uuid::parse_str(raw).map(Some).map_err(|_| "must be a UUID")
    }
}

/// What a run of CSV records became before anything is written.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Valid rows to create, with their record numbers.
    pub rows: Vec<(u64, ImportRow)>,
    /// Problems of the rows refused while parsing.
    pub errors: Vec<RowError>,
    pub rows_read: i64,
    pub skipped_duplicates: i64,
    pub rejected: i64,
}

/// Turns CSV records into validated rows: the first record is the header, blank records are
/// ignored, duplicates are skipped when asked, each row is checked by its record's create rules.
/// Used by the streaming import and by import jobs alike.
pub struct RowPreparer {
    kind: RecordKind,
    fields: Vec<&'static str>,
    mapping: HashMap<String, String>,
    skip_duplicates: bool,
    columns: Option<Vec<Option<&'static str>>>,
    /// The custom field key each column feeds, beside `columns`.
    custom_columns: Vec<Option<String>>,
    /// Dedupe keys of rows prepared but maybe not committed yet (the database does not know
    /// them): a duplicate within the file is caught here.
    pending_keys: HashSet<String>,
}

impl RowPreparer {
    /// Violations name `record_type` and `column_mapping[..]`; callers prefix them.
    pub fn new(
        kind: RecordKind,
        mapping: HashMap<String, String>,
        skip_duplicates: bool,
    ) -> Result<Self> {
        let fields = importable_fields(kind)?;
        check_mapping(&mapping, &fields)?;
        Ok(Self {
            kind,
            fields,
            mapping,
            skip_duplicates,
            columns: None,
            custom_columns: Vec::new(),
            pending_keys: HashSet::new(),
        })
    }

    /// Takes up a file whose header was read earlier.
    pub fn with_header(mut self, header: Option<&[String]>) -> Self {
        self.columns = header.map(|h| resolve_columns(h, &self.mapping, &self.fields));
        self.custom_columns = header
            .map(|h| resolve_custom_columns(h, &self.mapping))
            .unwrap_or_default();
        self
    }

    /// The rows of `records`; the first record of the file is taken as the header and returned.
    pub async fn prepare(
        &mut self,
        stores: &RecordStores,
        viewer: Viewer,
        records: Vec<(u64, Vec<String>)>,
    ) -> Result<(Prepared, Option<Vec<String>>)> {
        let mut prepared = Prepared::default();
        let mut header = None;
        for (row, record) in records {
            let Some(columns) = &self.columns else {
                self.columns = Some(resolve_columns(&record, &self.mapping, &self.fields));
                self.custom_columns = resolve_custom_columns(&record, &self.mapping);
                header = Some(record);
                continue;
            };
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            prepared.rows_read += 1;
            let values: HashMap<&str, &str> = columns
                .iter()
                .zip(record.iter())
                .filter_map(|(column, value)| column.map(|c| (c, value.as_str())))
                .collect();
            if self.skip_duplicates
                && let Some(key) = dedupe_key(self.kind, &values)
            {
                if self.pending_keys.contains(&key)
                    || is_duplicate(stores, viewer, self.kind, &key).await?
                {
                    prepared.skipped_duplicates += 1;
                    continue;
                }
                self.pending_keys.insert(key);
            }
            let custom: CustomValues = self
                .custom_columns
                .iter()
                .zip(record.iter())
                .filter_map(|(key, value)| {
                    let key = key.as_ref()?;
                    (!value.trim().is_empty())
                        .then(|| (key.clone(), serde_json::Value::String(value.clone())))
                })
                .collect();
            match parse_row(viewer, self.kind, &values, custom) {
                Ok(parsed) => prepared.rows.push((row, parsed)),
                Err(error) => {
                    prepared.rejected += 1;
                    prepared.errors.extend(row_errors(row, error)?);
                }
            }
        }
        Ok((prepared, header))
    }

    /// Rows prepared so far are committed: the database now finds their duplicates.
    pub fn committed(&mut self) {
        self.pending_keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_follow_the_mapping_then_their_own_names() {
        let header: Vec<String> = ["E-mail", "last_name", "Notes", "company"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mapping = HashMap::from([("E-mail".to_owned(), "email".to_owned())]);
        let lead_fields = importable_fields(RecordKind::Lead).expect("importable");
        let columns = resolve_columns(&header, &mapping, &lead_fields);
        assert_eq!(
            columns,
            [Some("email"), Some("last_name"), None, Some("company")]
        );
        let bad = HashMap::from([("Notes".to_owned(), "password".to_owned())]);
        let Err(Error::InvalidArgument(violations)) = check_mapping(&bad, &lead_fields) else {
            panic!("expected a violation");
        };
        assert_eq!(violations[0].field, "column_mapping[Notes]");
    }

    #[test]
    fn filter_values_are_quoted_safely() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn rows_become_records_with_every_bad_field_named() {
        let viewer = Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        };
        let good = HashMap::from([("last_name", "Lovelace"), ("email", "Ada@Example.org")]);
        let Ok(ImportRow::UnownedLead(lead)) =
            parse_row(viewer, RecordKind::Lead, &good, CustomValues::default())
        else {
            panic!("expected an unowned lead");
        };
        assert_eq!(
            (lead.email.as_str(), lead.owner_id),
            ("ada@example.org", viewer.user_id)
        );

        let bad = HashMap::from([("email", "ada@"), ("owner_id", "me")]);
        let Err(Error::InvalidArgument(violations)) =
            parse_row(viewer, RecordKind::Contact, &bad, CustomValues::default())
        else {
            panic!("expected violations");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["last_name", "emails", "owner_id"]);
    }
}
