//! Imports: rows created in batches, one transaction per batch, each row checked like its
//! Create RPC (owner, references, custom fields) before it is inserted with its created event.
//! A row that fails a check is reported and skipped; the others of the batch are kept.

use async_trait::async_trait;

use super::tenant_config::TenantConfig;
use super::{
    PgStore, Tx, accounts, assignment, check_owner, check_reference, contacts, custom_fields,
    leads, now, scope,
};
use crate::domain::custom_fields::Definition;
use crate::domain::import_row::ImportRow;
use crate::domain::visibility::{Access, RecordKind, Scope, Viewer};
use crate::error::{Error, Result};

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
    config: &TenantConfig<'_>,
    viewer: Viewer,
    write: &Scope,
    definitions: &[Definition],
    row: &mut ImportRow,
) -> Result<()> {
    match row {
        ImportRow::Account(data) => {
            check_owner(tx, viewer, write, data.owner_id).await?;
            data.custom_fields =
                custom_fields::imported_values(tx, definitions, &data.custom_fields).await?;
        }
        ImportRow::Contact(contact) => {
            check_owner(tx, viewer, write, contact.owner_id).await?;
            if let Some(account) = contact.account_id {
                check_reference(tx, viewer, RecordKind::Account, account, "account_id").await?;
            }
            contact.custom_fields =
                custom_fields::imported_values(tx, definitions, &contact.custom_fields).await?;
        }
        ImportRow::Lead(data) => {
            check_owner(tx, viewer, write, data.owner_id).await?;
            data.custom_fields =
                custom_fields::imported_values(tx, definitions, &data.custom_fields).await?;
        }
        ImportRow::UnownedLead(data) => {
            // An owner chosen by the tenant's rules needs no check against the importer's team.
            match assignment::assign(tx, config, data).await? {
                Some(owner_id) => data.owner_id = owner_id,
                None => check_owner(tx, viewer, write, data.owner_id).await?,
            }
            data.custom_fields =
                custom_fields::imported_values(tx, definitions, &data.custom_fields).await?;
        }
    }
    Ok(())
}

/// Creates the rows (all of one record type) in `tx`; returns the rows refused, by their number,
/// with the field violations.
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    viewer: Viewer,
    rows: Vec<(u64, ImportRow)>,
) -> Result<Vec<(u64, Error)>> {
    let Some(kind) = rows.first().map(|(_, r)| r.kind()) else {
        return Ok(Vec::new());
    };
    let write = scope(tx, viewer, kind, Access::Write).await?;
    let definitions = custom_fields::current_definitions(tx, config, kind).await?;
    let mut refused = Vec::new();
    for (number, mut row) in rows {
        if row.kind() != kind {
            return Err(Error::Internal(
                "an import batch mixes record types".to_owned(),
            ));
        }
        match check(tx, config, viewer, &write, &definitions, &mut row).await {
            Ok(()) => {}
            Err(error @ Error::InvalidArgument(_)) => {
                refused.push((number, error));
                continue;
            }
            Err(other) => return Err(other),
        }
        match row {
            ImportRow::Account(data) => {
                accounts::insert(tx, viewer, data).await?;
            }
            ImportRow::Contact(contact) => {
                contacts::insert(tx, viewer, contact.into_data(now())).await?;
            }
            ImportRow::Lead(data) | ImportRow::UnownedLead(data) => {
                leads::insert(tx, viewer, data).await?;
            }
        }
    }
    Ok(refused)
}

#[async_trait]
impl ImportStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.import_batch", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "import_batch", tenant_id = %viewer.tenant_id, rows = rows.len()))]
    async fn import_batch(
        &self,
        viewer: Viewer,
        rows: Vec<(u64, ImportRow)>,
    ) -> Result<Vec<(u64, Error)>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, config) = self.open(viewer).await?;
        let refused = insert_rows(&mut tx, &config, viewer, rows).await?;
        tx.commit().await?;
        Ok(refused)
    }
}
