//! The rows of a CSV import: validated records to create, and the report lines of refused ones.

use super::account::AccountData;
use super::contact::NewContact;
use super::lead::LeadData;
use super::visibility::RecordKind;
use crate::error::{Error, Result};

/// One validated row of an import.
#[derive(Debug, Clone)]
pub enum ImportRow {
    Account(AccountData),
    Contact(NewContact),
    Lead(LeadData),
    /// A lead whose owner column was empty: the tenant's assignment rules choose the owner (the
    /// importer when none matches), as for a lead created without one.
    UnownedLead(LeadData),
}

impl ImportRow {
    pub fn kind(&self) -> RecordKind {
        match self {
            ImportRow::Account(_) => RecordKind::Account,
            ImportRow::Contact(_) => RecordKind::Contact,
            ImportRow::Lead(_) | ImportRow::UnownedLead(_) => RecordKind::Lead,
        }
    }
}

/// One problem of a refused row, for the import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The CSV record number (the header is 1).
    pub row: u64,
    /// The record field, e.g. `email`; empty for a row-level problem.
    pub field: String,
    pub message: String,
}

/// The report lines of a row refused with `error`; an error that is not the row's fault
/// (storage, permissions) is returned to stop the import.
pub fn row_errors(row: u64, error: Error) -> Result<Vec<RowError>> {
    let Error::InvalidArgument(violations) = error else {
        return Err(error);
    };
    Ok(violations
        .into_iter()
        .map(|v| {
            let field = ["account.", "contact.", "lead."]
                .iter()
                .find_map(|p| v.field.strip_prefix(p))
                .unwrap_or(&v.field)
                .to_owned();
            RowError {
                row,
                field,
                message: v.description,
            }
        })
        .collect())
}
