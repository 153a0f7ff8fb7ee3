//! Products, price books and their entries. The catalog is tenant-wide: every CRM user reads
//! it, the API lets only admins change it.

use async_trait::async_trait;
use iso_currency::Currency;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::page::{PageSql, fetch_page};
use super::{PgStore, Tx, now, publish};
use crate::domain::catalog::{
    NewPriceBookEntry, PriceBook, PriceBookData, PriceBookEntry, PriceBookEntryPatch,
    PriceBookPatch, PriceBookRef, Product, ProductData, ProductPatch, STANDARD_PRICE_BOOK_NAME,
};
use crate::domain::visibility::{Scope, Viewer};
use crate::error::{Error, Result};
use crate::events::commerce::{self as events, Change};
use crate::filter::{CompareOp, Condition, Field, Kind, Value};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    async fn create_product(&self, viewer: Viewer, product: ProductData) -> Result<Product>;
    async fn product(&self, viewer: Viewer, id: Uuid) -> Result<Option<Product>>;
    async fn list_products(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Product>>;
    async fn update_product(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ProductPatch,
    ) -> Result<Option<Product>>;
    async fn delete_product(&self, viewer: Viewer, id: Uuid) -> Result<bool>;

    async fn create_price_book(&self, viewer: Viewer, book: PriceBookData) -> Result<PriceBook>;
    async fn price_book(&self, viewer: Viewer, book: PriceBookRef) -> Result<Option<PriceBook>>;
    /// Creates the standard price book first if it is still missing.
    async fn list_price_books(&self, viewer: Viewer, query: ListQuery) -> Result<Page<PriceBook>>;
    async fn update_price_book(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: PriceBookPatch,
    ) -> Result<Option<PriceBook>>;
    /// Refuses the standard price book.
    async fn delete_price_book(&self, viewer: Viewer, id: Uuid) -> Result<bool>;

    async fn create_price_book_entry(
        &self,
        viewer: Viewer,
        entry: NewPriceBookEntry,
    ) -> Result<PriceBookEntry>;
    /// `None` when the price book does not exist.
    async fn list_price_book_entries(
        &self,
        viewer: Viewer,
        book: PriceBookRef,
        query: ListQuery,
    ) -> Result<Option<Page<PriceBookEntry>>>;
    async fn update_price_book_entry(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: PriceBookEntryPatch,
    ) -> Result<Option<PriceBookEntry>>;
    async fn delete_price_book_entry(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
}

pub static PRODUCT_LISTING: Listing = Listing {
    resource: "products",
    fields: &[
        Field {
            name: "sku",
            column: "p.sku",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "name",
            column: "p.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "active",
            column: "(CASE WHEN p.active THEN 'true' ELSE 'false' END)",
            kind: Kind::Enum(&["true", "false"]),
        },
        Field {
            name: "create_time",
            column: "p.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "p.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "p.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "p.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "sku",
            expr: "p.sku",
            kind: KeyKind::Text,
        },
        SortKey {
            name: "name",
            expr: "p.name",
            kind: KeyKind::Text,
        },
    ],
};

pub static PRICE_BOOK_LISTING: Listing = Listing {
    resource: "price_books",
    fields: &[
        Field {
            name: "name",
            column: "b.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "is_standard",
            column: "(CASE WHEN b.is_standard THEN 'true' ELSE 'false' END)",
            kind: Kind::Enum(&["true", "false"]),
        },
        Field {
            name: "create_time",
            column: "b.created_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "b.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "name",
            expr: "b.name",
            kind: KeyKind::Text,
        },
    ],
};

pub static ENTRY_LISTING: Listing = Listing {
    resource: "price_book_entries",
    fields: &[
        Field {
            name: "product_id",
            column: "e.product_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "currency_code",
            column: "e.currency",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "active",
            column: "(CASE WHEN e.active THEN 'true' ELSE 'false' END)",
            kind: Kind::Enum(&["true", "false"]),
        },
        Field {
            name: "create_time",
            column: "e.created_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "e.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "unit_price_minor",
            expr: "e.unit_price_minor",
            kind: KeyKind::Int8,
        },
    ],
};

/// Not filterable by clients: limits an entry listing to its price book.
static ENTRY_BOOK: Field = Field {
    name: "price_book_id",
    column: "e.price_book_id",
    kind: Kind::Uuid { nullable: false },
};

const PRODUCT_COLUMNS: &str =
    "p.id, p.sku, p.name, p.description, p.active, p.created_at, p.updated_at";
const PRODUCT_PAGE: PageSql = PageSql {
    columns: PRODUCT_COLUMNS,
    from: "FROM products p",
    base: "p.deleted_at IS NULL",
    owner_column: "p.id",
    id_column: "p.id",
};

const BOOK_COLUMNS: &str = "b.id, b.name, b.description, b.is_standard, b.created_at, b.updated_at";
const BOOK_PAGE: PageSql = PageSql {
    columns: BOOK_COLUMNS,
    from: "FROM price_books b",
    base: "b.deleted_at IS NULL",
    owner_column: "b.id",
    id_column: "b.id",
};

const ENTRY_COLUMNS: &str = "e.id, e.price_book_id, e.product_id, e.currency, \
    e.unit_price_minor, e.active, e.created_at, e.updated_at";
const ENTRY_PAGE: PageSql = PageSql {
    columns: ENTRY_COLUMNS,
    from: "FROM price_book_entries e JOIN products p ON p.id = e.product_id",
    // Entries of deleted products disappear with them.
    base: "p.deleted_at IS NULL",
    owner_column: "e.id",
    id_column: "e.id",
};

pub(crate) fn product_from_row(row: &PgRow) -> Result<Product> {
    Ok(Product {
        id: row.try_get("id")?,
        data: ProductData {
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            active: row.try_get("active")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn book_from_row(row: &PgRow) -> Result<PriceBook> {
    Ok(PriceBook {
        id: row.try_get("id")?,
        data: PriceBookData {
            name: row.try_get("name")?,
            description: row.try_get("description")?,
        },
        is_standard: row.try_get("is_standard")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) fn currency(code: &str) -> Result<Currency> {
    Currency::from_code(code).ok_or_else(|| Error::Internal(format!("stored currency {code}")))
}

pub(crate) fn entry_from_row(row: &PgRow) -> Result<PriceBookEntry> {
    let code: String = row.try_get("currency")?;
    Ok(PriceBookEntry {
        id: row.try_get("id")?,
        price_book_id: row.try_get("price_book_id")?,
        product_id: row.try_get("product_id")?,
        currency: currency(&code)?,
        unit_price_minor: row.try_get("unit_price_minor")?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn sku_taken(error: sqlx::Error) -> Error {
    match db::unique_violation(&error) {
        Some("products_sku_key") => Error::AlreadyExists {
            field: "product.sku",
            message: "a product with this SKU already exists".to_owned(),
        },
        _ => Error::Store(error),
    }
}

fn book_name_taken(error: sqlx::Error) -> Error {
    match db::unique_violation(&error) {
        Some("price_books_name_key") => Error::AlreadyExists {
            field: "price_book.name",
            message: "a price book with this name already exists".to_owned(),
        },
        _ => Error::Store(error),
    }
}

pub(crate) async fn live_product(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Option<Product>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1 AND p.deleted_at IS NULL{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(product_from_row).transpose()
}

async fn live_book(tx: &mut Tx, id: Uuid, lock: bool) -> Result<Option<PriceBook>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOK_COLUMNS} FROM price_books b WHERE b.id = $1 AND b.deleted_at IS NULL{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(book_from_row).transpose()
}

/// The tenant's standard price book, created (with `crm.price_book.created`) if missing. Safe
/// under concurrency: a racing creation waits on the unique index and then finds the row.
pub(crate) async fn ensure_standard(tx: &mut Tx, tenant_id: Uuid) -> Result<PriceBook> {
    let select = format!("SELECT {BOOK_COLUMNS} FROM price_books b WHERE b.is_standard");
    if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
        .fetch_optional(&mut *tx)
        .await?
    {
        return book_from_row(&row);
    }
    let at = now();
    let book = PriceBook {
        id: Uuid::now_v7(),
        data: PriceBookData {
            name: STANDARD_PRICE_BOOK_NAME.to_owned(),
            description: String::new(),
        },
        is_standard: true,
        created_at: at,
        updated_at: at,
    };
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO price_books (id, tenant_id, name, is_standard, created_at, updated_at)
         VALUES ($1, $2, $3, true, $4, $4)
         ON CONFLICT (tenant_id) WHERE is_standard DO NOTHING
         RETURNING id",
    )
    .bind(book.id)
    .bind(tenant_id)
    .bind(&book.data.name)
    .bind(at)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        let row = sqlx::query(sqlx::AssertSqlSafe(select))
            .fetch_one(&mut *tx)
            .await?;
        return book_from_row(&row);
    }
    publish(
        tx,
        &[events::price_book_changed(
            tenant_id,
            None,
            Change::Created,
            book.clone(),
            None,
            &[],
        )?],
    )
    .await?;
    tracing::info!(%tenant_id, price_book_id = %book.id, "standard price book created");
    Ok(book)
}

/// The price book a reference means; `None` when there is no such live book.
pub(crate) async fn resolve_book(
    tx: &mut Tx,
    tenant_id: Uuid,
    book: PriceBookRef,
) -> Result<Option<PriceBook>> {
    match book {
        PriceBookRef::Standard => ensure_standard(tx, tenant_id).await.map(Some),
        PriceBookRef::Id(id) => live_book(tx, id, false).await,
    }
}

/// The active price of `product_id` in `currency` in a live price book (a draft quote on a
/// deleted book cannot be re-priced from it).
pub(crate) async fn active_price(
    tx: &mut Tx,
    price_book_id: Uuid,
    product_id: Uuid,
    currency: Currency,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT e.unit_price_minor FROM price_book_entries e
         JOIN price_books b ON b.id = e.price_book_id
         WHERE e.price_book_id = $1 AND e.product_id = $2 AND e.currency = $3 AND e.active
             AND b.deleted_at IS NULL",
    )
    .bind(price_book_id)
    .bind(product_id)
    .bind(currency.code())
    .fetch_optional(&mut *tx)
    .await?)
}

async fn entry(tx: &mut Tx, id: Uuid) -> Result<Option<PriceBookEntry>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM price_book_entries e
         JOIN products p ON p.id = e.product_id
         JOIN price_books b ON b.id = e.price_book_id
         WHERE e.id = $1 AND p.deleted_at IS NULL AND b.deleted_at IS NULL
         FOR UPDATE OF e"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    row.as_ref().map(entry_from_row).transpose()
}

async fn book_of(tx: &mut Tx, id: Uuid) -> Result<PriceBook> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {BOOK_COLUMNS} FROM price_books b WHERE b.id = $1"
    )))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    book_from_row(&row)
}

#[async_trait]
impl CatalogStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_product", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_product", tenant_id = %viewer.tenant_id))]
    async fn create_product(&self, viewer: Viewer, data: ProductData) -> Result<Product> {
        let mut tx = self.tx(viewer).await?;
        let at = now();
        let product = Product {
            id: Uuid::now_v7(),
            data,
            created_at: at,
            updated_at: at,
        };
        let d = &product.data;
        sqlx::query(
            "INSERT INTO products (id, tenant_id, sku, name, description, active, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(product.id)
        .bind(viewer.tenant_id)
        .bind(&d.sku)
        .bind(&d.name)
        .bind(&d.description)
        .bind(d.active)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(sku_taken)?;
        publish(
            &mut tx,
            &[events::product_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Created,
                product.clone(),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(product)
    }

    async fn product(&self, viewer: Viewer, id: Uuid) -> Result<Option<Product>> {
        let mut tx = self.tx(viewer).await?;
        let product = live_product(&mut tx, id, false).await?;
        tx.commit().await?;
        Ok(product)
    }

    #[tracing::instrument(name = "crm.postgres.list_products", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_products", tenant_id = %viewer.tenant_id))]
    async fn list_products(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Product>> {
        let mut tx = self.tx(viewer).await?;
        let page = fetch_page(
            &mut tx,
            &PRODUCT_PAGE,
            &Scope::All,
            &query,
            product_from_row,
            |p| p.id,
        )
        .await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_product", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_product", tenant_id = %viewer.tenant_id))]
    async fn update_product(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ProductPatch,
    ) -> Result<Option<Product>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = live_product(&mut tx, id, true).await? else {
            return Ok(None);
        };
        let after = before.data.apply(patch);
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        let updated = Product {
            data: after,
            updated_at: now(),
            ..before
        };
        let d = &updated.data;
        sqlx::query(
            "UPDATE products SET sku = $2, name = $3, description = $4, active = $5,
                 updated_at = $6
             WHERE id = $1",
        )
        .bind(id)
        .bind(&d.sku)
        .bind(&d.name)
        .bind(&d.description)
        .bind(d.active)
        .bind(updated.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(sku_taken)?;
        publish(
            &mut tx,
            &[events::product_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Updated,
                updated.clone(),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_product", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_product", tenant_id = %viewer.tenant_id))]
    async fn delete_product(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(product) = live_product(&mut tx, id, true).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE products SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::product_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Deleted,
                product,
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.create_price_book", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_price_book", tenant_id = %viewer.tenant_id))]
    async fn create_price_book(&self, viewer: Viewer, data: PriceBookData) -> Result<PriceBook> {
        let mut tx = self.tx(viewer).await?;
        // The standard book comes first, so a custom book can never take its name.
        ensure_standard(&mut tx, viewer.tenant_id).await?;
        let at = now();
        let book = PriceBook {
            id: Uuid::now_v7(),
            data,
            is_standard: false,
            created_at: at,
            updated_at: at,
        };
        sqlx::query(
            "INSERT INTO price_books (id, tenant_id, name, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(book.id)
        .bind(viewer.tenant_id)
        .bind(&book.data.name)
        .bind(&book.data.description)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(book_name_taken)?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Created,
                book.clone(),
                None,
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(book)
    }

    async fn price_book(&self, viewer: Viewer, book: PriceBookRef) -> Result<Option<PriceBook>> {
        let mut tx = self.tx(viewer).await?;
        let book = resolve_book(&mut tx, viewer.tenant_id, book).await?;
        tx.commit().await?;
        Ok(book)
    }

    #[tracing::instrument(name = "crm.postgres.list_price_books", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_price_books", tenant_id = %viewer.tenant_id))]
    async fn list_price_books(&self, viewer: Viewer, query: ListQuery) -> Result<Page<PriceBook>> {
        let mut tx = self.tx(viewer).await?;
        ensure_standard(&mut tx, viewer.tenant_id).await?;
        let page = fetch_page(
            &mut tx,
            &BOOK_PAGE,
            &Scope::All,
            &query,
            book_from_row,
            |b| b.id,
        )
        .await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_price_book", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_price_book", tenant_id = %viewer.tenant_id))]
    async fn update_price_book(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: PriceBookPatch,
    ) -> Result<Option<PriceBook>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = live_book(&mut tx, id, true).await? else {
            return Ok(None);
        };
        let after = before.data.apply(patch);
        let changed = before.data.changed_fields(&after);
        if changed.is_empty() {
            return Ok(Some(before));
        }
        let updated = PriceBook {
            data: after,
            updated_at: now(),
            ..before
        };
        sqlx::query(
            "UPDATE price_books SET name = $2, description = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&updated.data.name)
        .bind(&updated.data.description)
        .bind(updated.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(book_name_taken)?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Updated,
                updated.clone(),
                None,
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_price_book", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_price_book", tenant_id = %viewer.tenant_id))]
    async fn delete_price_book(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(book) = live_book(&mut tx, id, true).await? else {
            return Ok(false);
        };
        if book.is_standard {
            return Err(Error::FailedPrecondition(
                "the standard price book cannot be deleted".to_owned(),
            ));
        }
        sqlx::query("UPDATE price_books SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Deleted,
                book,
                None,
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.create_price_book_entry", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_price_book_entry", tenant_id = %viewer.tenant_id))]
    async fn create_price_book_entry(
        &self,
        viewer: Viewer,
        new: NewPriceBookEntry,
    ) -> Result<PriceBookEntry> {
        let mut tx = self.tx(viewer).await?;
        let book = resolve_book(&mut tx, viewer.tenant_id, new.price_book)
            .await?
            .ok_or_else(|| Error::invalid("entry.price_book_id", "no such price book"))?;
        if live_product(&mut tx, new.product_id, false)
            .await?
            .is_none()
        {
            return Err(Error::invalid("entry.product_id", "no such product"));
        }
        let at = now();
        let entry = PriceBookEntry {
            id: Uuid::now_v7(),
            price_book_id: book.id,
            product_id: new.product_id,
            currency: new.currency,
            unit_price_minor: new.unit_price_minor,
            active: true,
            created_at: at,
            updated_at: at,
        };
        sqlx::query(
            "INSERT INTO price_book_entries (id, tenant_id, price_book_id, product_id, currency,
                 unit_price_minor, active, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7)",
        )
        .bind(entry.id)
        .bind(viewer.tenant_id)
        .bind(book.id)
        .bind(entry.product_id)
        .bind(entry.currency.code())
        .bind(entry.unit_price_minor)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|error| match db::unique_violation(&error) {
            Some("price_book_entries_price_key") => Error::AlreadyExists {
                field: "entry.unit_price.currency_code",
                message: "the product already has a price in this currency in this price book"
                    .to_owned(),
            },
            _ => Error::Store(error),
        })?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Created,
                book,
                Some(entry.clone()),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    #[tracing::instrument(name = "crm.postgres.list_price_book_entries", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_price_book_entries", tenant_id = %viewer.tenant_id))]
    async fn list_price_book_entries(
        &self,
        viewer: Viewer,
        book: PriceBookRef,
        mut query: ListQuery,
    ) -> Result<Option<Page<PriceBookEntry>>> {
        let mut tx = self.tx(viewer).await?;
        let Some(book) = resolve_book(&mut tx, viewer.tenant_id, book).await? else {
            return Ok(None);
        };
        let in_book = Condition::Compare {
            field: &ENTRY_BOOK,
            op: CompareOp::Eq,
            value: Value::Uuid(book.id),
        };
        query.filter = Some(match query.filter.take() {
            Some(filter) => Condition::And(vec![in_book, filter]),
            None => in_book,
        });
        let page = fetch_page(
            &mut tx,
            &ENTRY_PAGE,
            &Scope::All,
            &query,
            entry_from_row,
            |e| e.id,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(page))
    }

    #[tracing::instrument(name = "crm.postgres.update_price_book_entry", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_price_book_entry", tenant_id = %viewer.tenant_id))]
    async fn update_price_book_entry(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: PriceBookEntryPatch,
    ) -> Result<Option<PriceBookEntry>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = entry(&mut tx, id).await? else {
            return Ok(None);
        };
        let mut after = before.clone();
        if let Some((currency, minor)) = patch.unit_price {
            if currency != before.currency {
                return Err(Error::invalid(
                    "entry.unit_price.currency_code",
                    format!(
                        "must stay {}; add an entry for another currency",
                        before.currency.code()
                    ),
                ));
            }
            after.unit_price_minor = minor;
        }
        if let Some(active) = patch.active {
            after.active = active;
        }
        let changed: Vec<&str> = [
            (
                "unit_price",
                after.unit_price_minor != before.unit_price_minor,
            ),
            ("active", after.active != before.active),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect();
        if changed.is_empty() {
            return Ok(Some(before));
        }
        after.updated_at = now();
        sqlx::query(
            "UPDATE price_book_entries SET unit_price_minor = $2, active = $3, updated_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(after.unit_price_minor)
        .bind(after.active)
        .bind(after.updated_at)
        .execute(&mut *tx)
        .await?;
        let book = book_of(&mut tx, after.price_book_id).await?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Updated,
                book,
                Some(after.clone()),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.delete_price_book_entry", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_price_book_entry", tenant_id = %viewer.tenant_id))]
    async fn delete_price_book_entry(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(entry) = entry(&mut tx, id).await? else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM price_book_entries WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let book = book_of(&mut tx, entry.price_book_id).await?;
        publish(
            &mut tx,
            &[events::price_book_changed(
                viewer.tenant_id,
                Some(viewer.user_id),
                Change::Deleted,
                book,
                Some(entry),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
