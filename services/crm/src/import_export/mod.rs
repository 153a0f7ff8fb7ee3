//! CSV import and export of records: business rules independent of the wire. Imports build
//! domain values row by row and create them through the import store; exports read pages through
//! the records' List store paths (so the same visibility) and write CSV from domain values.

pub mod export;
pub mod import;

use std::sync::Arc;

use crate::domain::visibility::RecordKind;
use crate::listing::Listing;
use crate::store::accounts::AccountStore;
use crate::store::contacts::ContactStore;
use crate::store::custom_fields::CustomFieldStore;
use crate::store::leads::LeadStore;
use crate::store::opportunities::OpportunityStore;

/// Most row errors reported; an import of a wrong file should not answer with a million.
pub const MAX_REPORTED_ERRORS: usize = 1_000;
/// Rows per import transaction.
pub const IMPORT_BATCH: usize = 500;
/// Rows per export page (and per streamed chunk).
pub const EXPORT_PAGE_SIZE: u32 = 500;

/// The List of `kind` an export pages through (and an import checks duplicates with).
pub fn listing(kind: RecordKind) -> &'static Listing {
    match kind {
        RecordKind::Account => &crate::store::accounts::LISTING,
        RecordKind::Contact => &crate::store::contacts::LISTING,
        RecordKind::Lead => &crate::store::leads::LISTING,
        RecordKind::Opportunity => &crate::store::opportunities::LISTING,
    }
}

/// The record stores an import (duplicate checks) and an export (pages) read through.
#[derive(Clone)]
pub struct RecordStores {
    pub accounts: Arc<dyn AccountStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub leads: Arc<dyn LeadStore>,
    pub opportunities: Arc<dyn OpportunityStore>,
    /// The definitions whose values an export writes as `custom.<key>` columns.
    pub custom_fields: Arc<dyn CustomFieldStore>,
}

impl RecordStores {
    /// Every record store from one implementation of them all (the Postgres store).
    pub fn of<S>(store: Arc<S>) -> Self
    where
        S: AccountStore + ContactStore + LeadStore + OpportunityStore + CustomFieldStore,
    {
        Self {
            accounts: store.clone(),
            contacts: store.clone(),
            leads: store.clone(),
            opportunities: store.clone(),
            custom_fields: store,
        }
    }
}
