//! Accounts.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::page::{PageSql, fetch_page};
use super::{
    PgStore, Tx, check_owner, check_reassign, check_reference, custom_fields, now, publish,
    reaches, record_scope, scope,
};
use crate::domain::account::{Account, AccountData, AccountPatch, Address};
use crate::domain::duplicates::Probe;
use crate::domain::money::Money;
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change};
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Accounts, as the API, the import and the export need them.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// `duplicates`: refuse the create when this probe matches existing records (`None`: the
    /// client forced it).
    async fn create_account(
        &self,
        viewer: Viewer,
        account: AccountData,
        duplicates: Option<Probe>,
    ) -> Result<Account>;
    /// `None` when missing or not visible; a merged account the viewer may read is
    /// [`Error::Merged`], naming the survivor.
    async fn account(&self, viewer: Viewer, id: Uuid) -> Result<Option<Account>>;
    async fn list_accounts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Account>>;
    async fn update_account(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: AccountPatch,
    ) -> Result<Option<Account>>;
    async fn delete_account(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

pub static LISTING: Listing = Listing {
    resource: "accounts",
    fields: &[
        Field {
            name: "name",
            column: "a.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "domain",
            column: "a.domain",
            kind: Kind::Text { lowercase: true },
        },
        Field {
            name: "industry",
            column: "a.industry",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "employee_count",
            column: "a.employee_count",
            kind: Kind::Integer,
        },
        Field {
            name: "owner_id",
            column: "a.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "parent_account_id",
            column: "a.parent_account_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "create_time",
            column: "a.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "a.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "a.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "a.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "name",
            expr: "a.name",
            kind: KeyKind::Text,
        },
        SortKey {
            name: "employee_count",
            expr: "a.employee_count",
            kind: KeyKind::Int4,
        },
    ],
};

pub(crate) const COLUMNS: &str = "a.id, a.name, a.domain, a.industry, a.employee_count, \
    a.annual_revenue_currency, a.annual_revenue_units, a.annual_revenue_nanos, \
    a.billing_street, a.billing_city, a.billing_region, a.billing_postal_code, a.billing_country_code, \
    a.shipping_street, a.shipping_city, a.shipping_region, a.shipping_postal_code, a.shipping_country_code, \
    a.parent_account_id, a.owner_id, a.created_at, a.updated_at, \
    a.custom_fields::text AS custom_fields";

/// Where `custom.<key>` filters read.
const CUSTOM_COLUMN: &str = "a.custom_fields";

const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: "FROM accounts a",
    base: "a.deleted_at IS NULL",
    owner_column: "a.owner_id",
    id_column: "a.id",
};

/// Money stored as three nullable columns (all set or all NULL).
pub(crate) fn money_from(
    currency: Option<String>,
    units: Option<i64>,
    nanos: Option<i32>,
) -> Result<Option<Money>> {
    match (currency, units, nanos) {
        (Some(currency), Some(units), Some(nanos)) => Money::parse(&currency, units, nanos)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored amount is invalid: {e}"))),
        _ => Ok(None),
    }
}

fn address(row: &PgRow, prefix: &str) -> Result<Address> {
    let column = |name: &str| format!("{prefix}_{name}");
    Ok(Address {
        street: row.try_get(column("street").as_str())?,
        city: row.try_get(column("city").as_str())?,
        region: row.try_get(column("region").as_str())?,
        postal_code: row.try_get(column("postal_code").as_str())?,
        country_code: row.try_get(column("country_code").as_str())?,
    })
}

pub(crate) fn from_row(row: &PgRow) -> Result<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        data: AccountData {
            name: row.try_get("name")?,
            domain: row.try_get("domain")?,
            industry: row.try_get("industry")?,
            employee_count: row.try_get("employee_count")?,
            annual_revenue: money_from(
                row.try_get("annual_revenue_currency")?,
                row.try_get("annual_revenue_units")?,
                row.try_get("annual_revenue_nanos")?,
            )?,
            billing_address: address(row, "billing")?,
            shipping_address: address(row, "shipping")?,
            parent_account_id: row.try_get("parent_account_id")?,
            owner_id: row.try_get("owner_id")?,
            custom_fields: custom_fields::from_json(row)?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A live account (any owner), locked for update when `lock` is set.
async fn fetch(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Option<Account>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM accounts a WHERE a.id = $1 AND a.deleted_at IS NULL{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A live account the viewer reaches for `access` by ownership, hierarchy or role; shares do
/// not count (see [`reachable`]).
pub(crate) async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Account>> {
    let Some(account) = fetch(tx, id, access != Access::Read).await? else {
        return Ok(None);
    };
    let scope = scope(tx, viewer, RecordKind::Account, access).await?;
    Ok(scope.allows(account.data.owner_id).then_some(account))
}

/// As [`visible`], for the account's own RPCs: a share of it with the viewer counts too.
async fn reachable(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Account>> {
    let Some(account) = fetch(tx, id, access != Access::Read).await? else {
        return Ok(None);
    };
    let owner = account.data.owner_id;
    let reached = reaches(tx, viewer, RecordKind::Account, access, id, owner).await?;
    Ok(reached.then_some(account))
}

/// Inserts a new account (references already checked) and enqueues `crm.account.created`.
pub(crate) async fn insert(tx: &mut Tx, viewer: Viewer, data: AccountData) -> Result<Account> {
    let at = now();
    let account = Account {
        id: Uuid::now_v7(),
        data,
        created_at: at,
        updated_at: at,
    };
    let d = &account.data;
    sqlx::query(
        "INSERT INTO accounts (id, tenant_id, name, domain, industry, employee_count,
             annual_revenue_currency, annual_revenue_units, annual_revenue_nanos,
             billing_street, billing_city, billing_region, billing_postal_code, billing_country_code,
             shipping_street, shipping_city, shipping_region, shipping_postal_code, shipping_country_code,
             parent_account_id, owner_id, created_at, updated_at, custom_fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                 $20, $21, $22, $22, $23::jsonb)",
    )
    .bind(account.id)
    .bind(viewer.tenant_id)
    .bind(&d.name)
    .bind(&d.domain)
    .bind(&d.industry)
    .bind(d.employee_count)
    .bind(d.annual_revenue.map(|m| m.currency_code()))
    .bind(d.annual_revenue.map(|m| m.units()))
    .bind(d.annual_revenue.map(|m| m.nanos()))
    .bind(&d.billing_address.street)
    .bind(&d.billing_address.city)
    .bind(&d.billing_address.region)
    .bind(&d.billing_address.postal_code)
    .bind(&d.billing_address.country_code)
    .bind(&d.shipping_address.street)
    .bind(&d.shipping_address.city)
    .bind(&d.shipping_address.region)
    .bind(&d.shipping_address.postal_code)
    .bind(&d.shipping_address.country_code)
    .bind(d.parent_account_id)
    .bind(d.owner_id)
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
            Record::Account(account.clone()),
            &[],
        )?],
    )
    .await?;
    Ok(account)
}

/// Refuses a parent that is the account itself or one of its descendants.
pub(crate) async fn check_parent_cycle(tx: &mut Tx, id: Uuid, parent: Uuid) -> Result<()> {
    let cycle: bool = sqlx::query_scalar(
        "WITH RECURSIVE ancestors (id) AS (
             SELECT $2::uuid
             UNION
             SELECT a.parent_account_id FROM accounts a JOIN ancestors ON a.id = ancestors.id
             WHERE a.parent_account_id IS NOT NULL
         )
         SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = $1)",
    )
    .bind(id)
    .bind(parent)
    .fetch_one(&mut *tx)
    .await?;
    if cycle {
        return Err(Error::invalid(
            "parent_account_id",
            "would make the account its own ancestor",
        ));
    }
    Ok(())
}

#[async_trait]
impl AccountStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_account", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_account", tenant_id = %viewer.tenant_id))]
    async fn create_account(
        &self,
        viewer: Viewer,
        data: AccountData,
        duplicates: Option<Probe>,
    ) -> Result<Account> {
        let (mut tx, config) = self.open(viewer).await?;
        super::duplicates::refuse(&mut tx, viewer, RecordKind::Account, duplicates.as_ref())
            .await?;
        let write = scope(&mut tx, viewer, RecordKind::Account, Access::Write).await?;
        check_owner(&mut tx, viewer, &write, data.owner_id).await?;
        let data = AccountData {
            custom_fields: custom_fields::checked_new(
                &mut tx,
                &config,
                RecordKind::Account,
                &data.custom_fields,
            )
            .await?,
            ..data
        };
        if let Some(parent) = data.parent_account_id {
            check_reference(
                &mut tx,
                viewer,
                RecordKind::Account,
                parent,
                "parent_account_id",
            )
            .await?;
        }
        let account = insert(&mut tx, viewer, data).await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn account(&self, viewer: Viewer, id: Uuid) -> Result<Option<Account>> {
        let mut tx = self.tx(viewer).await?;
        let account = reachable(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        if account.is_none() {
            self.check_merged(viewer, RecordKind::Account, id).await?;
        }
        Ok(account)
    }

    #[tracing::instrument(name = "crm.postgres.list_accounts", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_accounts", tenant_id = %viewer.tenant_id))]
    async fn list_accounts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Account>> {
        let mut tx = self.tx(viewer).await?;
        let read = record_scope(&mut tx, viewer, RecordKind::Account, Access::Read).await?;
        let query =
            custom_fields::resolve_filter(&mut tx, RecordKind::Account, CUSTOM_COLUMN, query)
                .await?;
        let page = fetch_page(&mut tx, &PAGE, &read, &query, from_row, |a| a.id).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_account", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_account", tenant_id = %viewer.tenant_id))]
    async fn update_account(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: AccountPatch,
    ) -> Result<Option<Account>> {
        let (mut tx, config) = self.open(viewer).await?;
        if patch.custom_fields.is_some() {
            // Before the record's row lock (see `custom_fields::hold_definitions`).
            custom_fields::hold_definitions(&mut tx, &config, RecordKind::Account).await?;
        }
        let Some(before) = reachable(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let new_custom_fields = patch.custom_fields.is_some();
        let mut after = before.data.apply(patch);
        if new_custom_fields {
            after.custom_fields =
                custom_fields::checked(&mut tx, &config, RecordKind::Account, &after.custom_fields)
                    .await?;
        }
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        if after.owner_id != before.data.owner_id {
            let (from, to) = (before.data.owner_id, after.owner_id);
            check_reassign(&mut tx, viewer, RecordKind::Account, from, to).await?;
        }
        if let Some(parent) = after.parent_account_id
            && after.parent_account_id != before.data.parent_account_id
        {
            check_reference(
                &mut tx,
                viewer,
                RecordKind::Account,
                parent,
                "parent_account_id",
            )
            .await?;
            check_parent_cycle(&mut tx, id, parent).await?;
        }
        let updated = Account {
            data: after,
            updated_at: now(),
            ..before
        };
        let d = &updated.data;
        sqlx::query(
            "UPDATE accounts SET name = $2, domain = $3, industry = $4, employee_count = $5,
                 annual_revenue_currency = $6, annual_revenue_units = $7, annual_revenue_nanos = $8,
                 billing_street = $9, billing_city = $10, billing_region = $11,
                 billing_postal_code = $12, billing_country_code = $13,
                 shipping_street = $14, shipping_city = $15, shipping_region = $16,
                 shipping_postal_code = $17, shipping_country_code = $18,
                 parent_account_id = $19, owner_id = $20, updated_at = $21,
                 custom_fields = $22::jsonb
             WHERE id = $1",
        )
        .bind(id)
        .bind(&d.name)
        .bind(&d.domain)
        .bind(&d.industry)
        .bind(d.employee_count)
        .bind(d.annual_revenue.map(|m| m.currency_code()))
        .bind(d.annual_revenue.map(|m| m.units()))
        .bind(d.annual_revenue.map(|m| m.nanos()))
        .bind(&d.billing_address.street)
        .bind(&d.billing_address.city)
        .bind(&d.billing_address.region)
        .bind(&d.billing_address.postal_code)
        .bind(&d.billing_address.country_code)
        .bind(&d.shipping_address.street)
        .bind(&d.shipping_address.city)
        .bind(&d.shipping_address.region)
        .bind(&d.shipping_address.postal_code)
        .bind(&d.shipping_address.country_code)
        .bind(d.parent_account_id)
        .bind(d.owner_id)
        .bind(updated.updated_at)
        .bind(custom_fields::to_json(&d.custom_fields)?)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Updated,
                Record::Account(updated.clone()),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_account", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_account", tenant_id = %viewer.tenant_id))]
    async fn delete_account(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(account) = reachable(&mut tx, viewer, id, Access::Control).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE accounts SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Deleted,
                Record::Account(account),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
