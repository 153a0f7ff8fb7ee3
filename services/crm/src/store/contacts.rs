//! Contacts.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::page::{PageSql, fetch_page};
use super::{
    PgStore, Tx, check_owner, check_reassign, check_reference, custom_fields, now, publish,
    reaches, record_scope, scope,
};
use crate::domain::contact::{Consent, Contact, ContactData, ContactPatch, NewContact};
use crate::domain::duplicates::Probe;
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::Result;
use crate::events::publish::{self as events, Change};
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Contacts, as the API, the import and the export need them.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// `duplicates`: refuse the create when this probe matches existing records (`None`: the
    /// client forced it).
    async fn create_contact(
        &self,
        viewer: Viewer,
        contact: NewContact,
        duplicates: Option<Probe>,
    ) -> Result<Contact>;
    /// `None` when missing or not visible; a merged contact the viewer may read is
    /// [`Error::Merged`], naming the survivor.
    async fn contact(&self, viewer: Viewer, id: Uuid) -> Result<Option<Contact>>;
    async fn list_contacts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Contact>>;
    async fn update_contact(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ContactPatch,
    ) -> Result<Option<Contact>>;
    async fn delete_contact(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

pub static LISTING: Listing = Listing {
    resource: "contacts",
    fields: &[
        Field {
            name: "first_name",
            column: "c.first_name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "last_name",
            column: "c.last_name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "title",
            column: "c.title",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "email",
            column: "c.emails",
            kind: Kind::TextList { lowercase: true },
        },
        Field {
            name: "phone",
            column: "c.phones",
            kind: Kind::TextList { lowercase: false },
        },
        Field {
            name: "account_id",
            column: "c.account_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "owner_id",
            column: "c.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "create_time",
            column: "c.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "c.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "c.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "c.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "last_name",
            expr: "c.last_name",
            kind: KeyKind::Text,
        },
    ],
};

pub(crate) const COLUMNS: &str = "c.id, c.first_name, c.last_name, c.emails, c.phones, c.title, c.account_id, \
    c.owner_id, c.email_consent, c.email_consent_source, c.email_consent_at, \
    c.phone_consent, c.phone_consent_source, c.phone_consent_at, c.created_at, c.updated_at, \
    c.custom_fields::text AS custom_fields";

/// Where `custom.<key>` filters read.
const CUSTOM_COLUMN: &str = "c.custom_fields";

const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: "FROM contacts c",
    base: "c.deleted_at IS NULL",
    owner_column: "c.owner_id",
    id_column: "c.id",
};

pub(crate) fn from_row(row: &PgRow) -> Result<Contact> {
    Ok(Contact {
        id: row.try_get("id")?,
        data: ContactData {
            first_name: row.try_get("first_name")?,
            last_name: row.try_get("last_name")?,
            emails: row.try_get("emails")?,
            phones: row.try_get("phones")?,
            title: row.try_get("title")?,
            account_id: row.try_get("account_id")?,
            owner_id: row.try_get("owner_id")?,
            custom_fields: custom_fields::from_json(row)?,
            email_consent: Consent {
                granted: row.try_get("email_consent")?,
                source: row.try_get("email_consent_source")?,
                updated_at: row.try_get("email_consent_at")?,
            },
            phone_consent: Consent {
                granted: row.try_get("phone_consent")?,
                source: row.try_get("phone_consent_source")?,
                updated_at: row.try_get("phone_consent_at")?,
            },
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A live contact (any owner), locked for update unless only read.
async fn fetch(tx: &mut Tx, id: Uuid, access: Access) -> Result<Option<Contact>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM contacts c WHERE c.id = $1 AND c.deleted_at IS NULL{}",
        if access == Access::Read {
            ""
        } else {
            " FOR UPDATE"
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A live contact the viewer reaches for `access` by ownership, hierarchy or role; shares do
/// not count (see [`reachable`]).
pub(crate) async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Contact>> {
    let Some(contact) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let scope = scope(tx, viewer, RecordKind::Contact, access).await?;
    Ok(scope.allows(contact.data.owner_id).then_some(contact))
}

/// As [`visible`], for the contact's own RPCs: a share of it with the viewer counts too.
async fn reachable(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Contact>> {
    let Some(contact) = fetch(tx, id, access).await? else {
        return Ok(None);
    };
    let owner = contact.data.owner_id;
    let reached = reaches(tx, viewer, RecordKind::Contact, access, id, owner).await?;
    Ok(reached.then_some(contact))
}

/// Inserts a contact (references already checked) and enqueues `crm.contact.created`.
pub(crate) async fn insert(tx: &mut Tx, viewer: Viewer, data: ContactData) -> Result<Contact> {
    let at = now();
    let contact = Contact {
        id: Uuid::now_v7(),
        data,
        created_at: at,
        updated_at: at,
    };
    let d = &contact.data;
    sqlx::query(
        "INSERT INTO contacts (id, tenant_id, first_name, last_name, emails, phones, title,
             account_id, owner_id, email_consent, email_consent_source, email_consent_at,
             phone_consent, phone_consent_source, phone_consent_at, created_at, updated_at,
             custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16,
             $17::jsonb)",
    )
    .bind(contact.id)
    .bind(viewer.tenant_id)
    .bind(&d.first_name)
    .bind(&d.last_name)
    .bind(&d.emails)
    .bind(&d.phones)
    .bind(&d.title)
    .bind(d.account_id)
    .bind(d.owner_id)
    .bind(d.email_consent.granted)
    .bind(&d.email_consent.source)
    .bind(d.email_consent.updated_at)
    .bind(d.phone_consent.granted)
    .bind(&d.phone_consent.source)
    .bind(d.phone_consent.updated_at)
    .bind(at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .execute(&mut *tx)
    .await?;
    publish(
        tx,
        &[events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            Change::Created,
            Record::Contact(contact.clone()),
            &[],
        )?],
    )
    .await?;
    Ok(contact)
}

#[async_trait]
impl ContactStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_contact", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_contact", tenant_id = %viewer.tenant_id))]
    async fn create_contact(
        &self,
        viewer: Viewer,
        contact: NewContact,
        duplicates: Option<Probe>,
    ) -> Result<Contact> {
        let (mut tx, config) = self.open(viewer).await?;
        super::duplicates::refuse(&mut tx, viewer, RecordKind::Contact, duplicates.as_ref())
            .await?;
        let write = scope(&mut tx, viewer, RecordKind::Contact, Access::Write).await?;
        check_owner(&mut tx, viewer, &write, contact.owner_id).await?;
        let contact = NewContact {
            custom_fields: custom_fields::checked_new(
                &mut tx,
                &config,
                RecordKind::Contact,
                &contact.custom_fields,
            )
            .await?,
            ..contact
        };
        if let Some(account) = contact.account_id {
            check_reference(&mut tx, viewer, RecordKind::Account, account, "account_id").await?;
        }
        let contact = insert(&mut tx, viewer, contact.into_data(now())).await?;
        tx.commit().await?;
        Ok(contact)
    }

    async fn contact(&self, viewer: Viewer, id: Uuid) -> Result<Option<Contact>> {
        let mut tx = self.tx(viewer).await?;
        let contact = reachable(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        if contact.is_none() {
            self.check_merged(viewer, RecordKind::Contact, id).await?;
        }
        Ok(contact)
    }

    #[tracing::instrument(name = "crm.postgres.list_contacts", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_contacts", tenant_id = %viewer.tenant_id))]
    async fn list_contacts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Contact>> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Contact, Access::Read).await?;
        let query =
            custom_fields::resolve_filter(&mut tx, RecordKind::Contact, CUSTOM_COLUMN, query)
                .await?;
        let page = fetch_page(&mut tx, &PAGE, &read, &query, from_row, |c| c.id).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_contact", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_contact", tenant_id = %viewer.tenant_id))]
    async fn update_contact(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ContactPatch,
    ) -> Result<Option<Contact>> {
        let (mut tx, config) = self.open(viewer).await?;
        if patch.custom_fields.is_some() {
            // Before the record's row lock (see `custom_fields::hold_definitions`).
            custom_fields::hold_definitions(&mut tx, &config, RecordKind::Contact).await?;
        }
        let Some(before) = reachable(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let at = now();
        let new_custom_fields = patch.custom_fields.is_some();
        let mut after = before.data.apply(patch, at);
        if new_custom_fields {
            after.custom_fields =
                custom_fields::checked(&mut tx, &config, RecordKind::Contact, &after.custom_fields)
                    .await?;
        }
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        if after.owner_id != before.data.owner_id {
            let (from, to) = (before.data.owner_id, after.owner_id);
            check_reassign(&mut tx, viewer, RecordKind::Contact, from, to).await?;
        }
        if let Some(account) = after.account_id
            && after.account_id != before.data.account_id
        {
            check_reference(&mut tx, viewer, RecordKind::Account, account, "account_id").await?;
        }
        let updated = Contact {
            data: after,
            updated_at: at,
            ..before
        };
        let d = &updated.data;
        sqlx::query(
            "UPDATE contacts SET first_name = $2, last_name = $3, emails = $4, phones = $5,
                 title = $6, account_id = $7, owner_id = $8,
                 email_consent = $9, email_consent_source = $10, email_consent_at = $11,
                 phone_consent = $12, phone_consent_source = $13, phone_consent_at = $14,
                 updated_at = $15, custom_fields = $16::jsonb
             WHERE id = $1",
        )
        .bind(id)
        .bind(&d.first_name)
        .bind(&d.last_name)
        .bind(&d.emails)
        .bind(&d.phones)
        .bind(&d.title)
        .bind(d.account_id)
        .bind(d.owner_id)
        .bind(d.email_consent.granted)
        .bind(&d.email_consent.source)
        .bind(d.email_consent.updated_at)
        .bind(d.phone_consent.granted)
        .bind(&d.phone_consent.source)
        .bind(d.phone_consent.updated_at)
        .bind(at)
        .bind(custom_fields::to_json(&d.custom_fields)?)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Updated,
                Record::Contact(updated.clone()),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_contact", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_contact", tenant_id = %viewer.tenant_id))]
    async fn delete_contact(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(contact) = reachable(&mut tx, viewer, id, Access::Control).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE contacts SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Deleted,
                Record::Contact(contact),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
