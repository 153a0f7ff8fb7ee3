//! CSV import and export of records: business rules independent of the wire. Imports build
//! domain values row by row and create them through the import store; exports read pages through
//! the records' List store paths (so the same visibility) and write CSV from domain values.

use std::sync::Arc;

use crate::store::accounts::AccountStore;
use crate::store::contacts::ContactStore;
use crate::store::leads::LeadStore;
use crate::store::opportunities::OpportunityStore;

/// The record stores an import (duplicate checks) and an export (pages) read through.
#[derive(Clone)]
pub struct RecordStores {
    pub accounts: Arc<dyn AccountStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub leads: Arc<dyn LeadStore>,
    pub opportunities: Arc<dyn OpportunityStore>,
}

impl RecordStores {
    /// Every record store from one implementation of them all (the Postgres store).
    pub fn of<S>(store: Arc<S>) -> Self
    where
        S: AccountStore + ContactStore + LeadStore + OpportunityStore,
    {
        Self {
            accounts: store.clone(),
            contacts: store.clone(),
            leads: store.clone(),
            opportunities: store,
        }
    }
}
