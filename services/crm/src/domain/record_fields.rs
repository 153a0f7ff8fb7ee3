//! One field table per record kind: every field of the record's proto message, in proto order,
//! and what each allows. The update masks, the merge rules, the CSV import and export columns and
//! the List filters are derived from these tables, so adding a field is one row here plus its
//! parsing and SQL; a unit test beside the proto conversion fails when a proto field has no row.

use super::visibility::RecordKind;

/// How a merge completes a survivor's field the user did not choose to take from the loser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeFill {
    /// Text: the loser's value when the survivor's is empty.
    Blank,
    /// Counts: the loser's value when the survivor's is zero.
    Zero,
    /// Optional values: the loser's when the survivor's is unset.
    Null,
    /// Lists: the survivor's, then the loser's not already in it.
    Union,
    /// Custom fields: the loser's keys the survivor lacks.
    Keys,
    /// The survivor's, unless chosen.
    Keep,
}

/// One field of a record and what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordField {
    /// The proto field name.
    pub name: &'static str,
    /// Settable through the Update RPC's field mask.
    pub update: bool,
    /// How a merge treats it; `None`: never taken from the loser (ids, times, derived values).
    pub merge: Option<MergeFill>,
    /// The CSV import columns feeding it (contacts' `emails` also takes a single `email`).
    pub import: &'static [&'static str],
    /// The CSV export columns it fills (money is a currency and an amount column).
    pub export: &'static [&'static str],
    /// The names it is filtered by in List (a list is filtered by its elements' name).
    pub filter: &'static [&'static str],
}

/// A field that allows nothing; the builders below say what it allows.
const fn field(name: &'static str) -> RecordField {
    RecordField {
        name,
        update: false,
        merge: None,
        import: &[],
        export: &[],
        filter: &[],
    }
}

impl RecordField {
    const fn updatable(self) -> Self {
        Self {
            update: true,
            ..self
        }
    }

    const fn merged(self, fill: MergeFill) -> Self {
        Self {
            merge: Some(fill),
            ..self
        }
    }

    /// Imported from, exported to and filtered by the column of its own name.
    const fn column(self, name: &'static [&'static str]) -> Self {
        Self {
            import: name,
            export: name,
            filter: name,
            ..self
        }
    }

    const fn imported(self, columns: &'static [&'static str]) -> Self {
        Self {
            import: columns,
            ..self
        }
    }

    const fn exported(self, columns: &'static [&'static str]) -> Self {
        Self {
            export: columns,
            ..self
        }
    }

    const fn filtered(self, names: &'static [&'static str]) -> Self {
        Self {
            filter: names,
            ..self
        }
    }
}

/// The fields of one record kind.
#[derive(Debug)]
pub struct FieldTable {
    pub kind: RecordKind,
    pub fields: &'static [RecordField],
}

impl FieldTable {
    pub fn get(&self, name: &str) -> Option<&'static RecordField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The paths an Update's field mask may name.
    pub fn updatable(&self) -> Vec<&'static str> {
        self.names(|f| f.update)
    }

    /// The fields a merge may take from the loser.
    pub fn mergeable(&self) -> Vec<&'static str> {
        self.names(|f| f.merge.is_some())
    }

    /// The CSV columns an import reads.
    pub fn import_columns(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .flat_map(|f| f.import.iter().copied())
            .collect()
    }

    /// The CSV columns an export writes, in order.
    pub fn export_columns(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .flat_map(|f| f.export.iter().copied())
            .collect()
    }

    /// The names a List filter may use.
    pub fn filterable(&self) -> Vec<&'static str> {
        self.fields
            .iter()
            .flat_map(|f| f.filter.iter().copied())
            .collect()
    }

    fn names(&self, keep: impl Fn(&RecordField) -> bool) -> Vec<&'static str> {
        self.fields
            .iter()
            .filter(|f| keep(f))
            .map(|f| f.name)
            .collect()
    }
}

/// The table of `kind`.
pub fn table(kind: RecordKind) -> &'static FieldTable {
    match kind {
        RecordKind::Account => &ACCOUNTS,
        RecordKind::Contact => &CONTACTS,
        RecordKind::Lead => &LEADS,
        RecordKind::Opportunity => &OPPORTUNITIES,
    }
}

use MergeFill::{Blank, Keep, Keys, Null, Union, Zero};

const ID: RecordField = field("id").exported(&["id"]);
const OWNER_ID: RecordField = field("owner_id")
    .updatable()
    .merged(Keep)
    .column(&["owner_id"]);
const CREATE_TIME: RecordField = field("create_time")
    .exported(&["create_time"])
    .filtered(&["create_time"]);
const UPDATE_TIME: RecordField = field("update_time").filtered(&["update_time"]);
const CUSTOM_FIELDS: RecordField = field("custom_fields").updatable().merged(Keys);

pub static ACCOUNTS: FieldTable = FieldTable {
    kind: RecordKind::Account,
    fields: &[
        ID,
        field("name").updatable().merged(Keep).column(&["name"]),
        field("domain")
            .updatable()
            .merged(Blank)
            .column(&["domain"]),
        field("industry")
            .updatable()
            .merged(Blank)
            .column(&["industry"]),
        field("employee_count")
            .updatable()
            .merged(Zero)
            .column(&["employee_count"]),
        field("annual_revenue").updatable().merged(Null),
        field("billing_address").updatable().merged(Keep),
        field("shipping_address").updatable().merged(Keep),
        field("parent_account_id")
            .updatable()
            .merged(Null)
            .filtered(&["parent_account_id"]),
        OWNER_ID,
        CREATE_TIME,
        UPDATE_TIME,
        CUSTOM_FIELDS,
    ],
};

pub static CONTACTS: FieldTable = FieldTable {
    kind: RecordKind::Contact,
    fields: &[
        ID,
        field("first_name")
            .updatable()
            .merged(Blank)
            .column(&["first_name"]),
        field("last_name")
            .updatable()
            .merged(Keep)
            .column(&["last_name"]),
        field("emails")
            .updatable()
            .merged(Union)
            .imported(&["email", "emails"])
            .exported(&["emails"])
            .filtered(&["email"]),
        field("phones")
            .updatable()
            .merged(Union)
            .imported(&["phone", "phones"])
            .exported(&["phones"])
            .filtered(&["phone"]),
        field("title").updatable().merged(Blank).column(&["title"]),
        field("account_id")
            .updatable()
            .merged(Null)
            .column(&["account_id"]),
        OWNER_ID,
        field("email_consent").updatable().merged(Keep),
        field("phone_consent").updatable().merged(Keep),
        CREATE_TIME,
        UPDATE_TIME,
        CUSTOM_FIELDS,
    ],
};

pub static LEADS: FieldTable = FieldTable {
    kind: RecordKind::Lead,
    fields: &[
        ID,
        field("first_name")
            .updatable()
            .merged(Blank)
            .column(&["first_name"]),
        field("last_name")
            .updatable()
            .merged(Keep)
            .column(&["last_name"]),
        field("email").updatable().merged(Blank).column(&["email"]),
        field("phone").updatable().merged(Blank).column(&["phone"]),
        field("company")
            .updatable()
            .merged(Blank)
            .column(&["company"]),
        field("title").updatable().merged(Blank).column(&["title"]),
        field("source")
            .updatable()
            .merged(Blank)
            .column(&["source"]),
        field("country_code")
            .updatable()
            .merged(Blank)
            .column(&["country_code"]),
        field("employee_count")
            .updatable()
            .merged(Zero)
            .column(&["employee_count"]),
        // Set by the lead's life cycle, not by an import (a new lead is new, unrated, unscored).
        field("status")
            .updatable()
            .merged(Keep)
            .exported(&["status"])
            .filtered(&["status"]),
        field("rating")
            .updatable()
            .merged(Keep)
            .exported(&["rating"])
            .filtered(&["rating"]),
        field("score")
            .updatable()
            .merged(Keep)
            .exported(&["score"])
            .filtered(&["score"]),
        OWNER_ID,
        field("converted_account_id"),
        field("converted_contact_id"),
        field("converted_opportunity_id"),
        field("convert_time"),
        CREATE_TIME,
        UPDATE_TIME,
        CUSTOM_FIELDS,
    ],
};

pub static OPPORTUNITIES: FieldTable = FieldTable {
    kind: RecordKind::Opportunity,
    fields: &[
        ID,
        field("name")
            .updatable()
            .exported(&["name"])
            .filtered(&["name"]),
        field("amount")
            .updatable()
            .exported(&["amount_currency", "amount"])
            .filtered(&["amount_units", "amount_currency"]),
        field("close_date")
            .updatable()
            .exported(&["close_date"])
            .filtered(&["close_date"]),
        field("pipeline_id")
            .exported(&["pipeline_id"])
            .filtered(&["pipeline_id"]),
        field("stage_id")
            .exported(&["stage_id"])
            .filtered(&["stage_id"]),
        field("owner_id")
            .updatable()
            .exported(&["owner_id"])
            .filtered(&["owner_id"]),
        field("account_id")
            .updatable()
            .exported(&["account_id"])
            .filtered(&["account_id"]),
        field("primary_contact_id")
            .updatable()
            .filtered(&["primary_contact_id"]),
        field("lost_reason").updatable(),
        field("splits").updatable(),
        field("probability"),
        field("state").filtered(&["state"]),
        CREATE_TIME,
        UPDATE_TIME,
        field("stage_change_time"),
        field("custom_fields").updatable(),
        field("forecast_category").updatable(),
        field("effective_forecast_category"),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_are_unique_per_table() {
        for table in [&ACCOUNTS, &CONTACTS, &LEADS, &OPPORTUNITIES] {
            let mut names: Vec<_> = table.fields.iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.fields.len(), "{:?}", table.kind);
        }
    }

    #[test]
    fn every_updatable_record_field_but_the_system_ones_can_be_merged() {
        for table in [&ACCOUNTS, &CONTACTS, &LEADS] {
            assert_eq!(table.updatable(), table.mergeable(), "{:?}", table.kind);
        }
        assert!(OPPORTUNITIES.mergeable().is_empty());
    }

    #[test]
    fn exports_start_with_the_id_and_end_with_the_creation_time() {
        for table in [&ACCOUNTS, &CONTACTS, &LEADS, &OPPORTUNITIES] {
            let columns = table.export_columns();
            assert_eq!(columns.first(), Some(&"id"));
            assert_eq!(columns.last(), Some(&"create_time"));
        }
    }

    #[test]
    fn contacts_import_single_and_listed_emails_and_phones() {
        assert_eq!(
            CONTACTS.import_columns(),
            [
                "first_name",
                "last_name",
                "email",
                "emails",
                "phone",
                "phones",
                "title",
                "account_id",
                "owner_id"
            ]
        );
    }
}
