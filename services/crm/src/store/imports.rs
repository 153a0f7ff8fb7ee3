//! Imports: rows created in batches, one transaction per batch, each row checked like its
//! Create RPC (owner, references, custom fields) before it is inserted with its created event.
//! A row that fails a check is reported and skipped; the others of the batch are kept.

use async_trait::async_trait;

use super::{
    PgStore, Tx, accounts, check_owner, check_reference, contacts, custom_fields, leads, now, scope,
};
use crate::domain::account::AccountData;
use crate::domain::contact::NewContact;
use crate::domain::custom_fields::{Definition, validate};
use crate::domain::lead::LeadData;
use crate::domain::visibility::{Access, RecordKind, Scope, Viewer};
use crate::error::{Error, Result};

/// One validated row of an import.
#[derive(Debug, Clone)]
pub enum ImportRow {
    Account(AccountData),
    Contact(NewContact),
    Lead(LeadData),
}

impl ImportRow {
    fn kind(&self) -> RecordKind {
        match self {
            ImportRow::Account(_) => RecordKind::Account,
            ImportRow::Contact(_) => RecordKind::Contact,
            ImportRow::Lead(_) => RecordKind::Lead,
        }
    }
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    /// Creates the rows (all of one record type) in one transaction; returns the rows refused,
    /// by their number, with the field violations.
    async fn import_batch(
        &self,
        viewer: Viewer,
        rows: Vec<(u64, ImportRow)>,
    ) -> Result<Vec<(u64, Error)>>;
}

/// The checks of the Create RPC that need the database; `Err(InvalidArgument)` refuses the row.
async fn check(
    tx: &mut Tx,
    viewer: Viewer,
    write: &Scope,
    definitions: &[Definition],
    row: &mut ImportRow,
) -> Result<()> {
    match row {
        ImportRow::Account(data) => {
            check_owner(tx, viewer, write, data.owner_id).await?;
            data.custom_fields = validate(definitions, &data.custom_fields, "custom_fields.")?;
        }
        ImportRow::Contact(contact) => {
            check_owner(tx, viewer, write, contact.owner_id).await?;
            if let Some(account) = contact.account_id {
                check_reference(tx, viewer, RecordKind::Account, account, "account_id").await?;
            }
            contact.custom_fields =
                validate(definitions, &contact.custom_fields, "custom_fields.")?;
        }
        ImportRow::Lead(data) => {
            check_owner(tx, viewer, write, data.owner_id).await?;
            data.custom_fields = validate(definitions, &data.custom_fields, "custom_fields.")?;
        }
    }
    Ok(())
}

#[async_trait]
impl ImportStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.import_batch", skip_all, fields(tenant_id = %viewer.tenant_id, rows = rows.len()))]
    async fn import_batch(
        &self,
        viewer: Viewer,
        rows: Vec<(u64, ImportRow)>,
    ) -> Result<Vec<(u64, Error)>> {
        let Some(kind) = rows.first().map(|(_, r)| r.kind()) else {
            return Ok(Vec::new());
        };
        let mut tx = self.tx(viewer).await?;
        let write = scope(&mut tx, viewer, kind, Access::Write).await?;
        let definitions = custom_fields::definitions_of(&mut tx, kind).await?;
        let mut refused = Vec::new();
        for (number, mut row) in rows {
            if row.kind() != kind {
                return Err(Error::Internal(
                    "an import batch mixes record types".to_owned(),
                ));
            }
            match check(&mut tx, viewer, &write, &definitions, &mut row).await {
                Ok(()) => {}
                Err(error @ Error::InvalidArgument(_)) => {
                    refused.push((number, error));
                    continue;
                }
                Err(other) => return Err(other),
            }
            match row {
                ImportRow::Account(data) => {
                    accounts::insert(&mut tx, viewer, data).await?;
                }
                ImportRow::Contact(contact) => {
                    contacts::insert(&mut tx, viewer, contact.into_data(now())).await?;
                }
                ImportRow::Lead(data) => {
                    leads::insert(&mut tx, viewer, data).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(refused)
    }
}
