//! Quotes for opportunities, priced from price books. A quote is visible and changeable by
//! whoever may read / write its opportunity.

use std::collections::HashMap;

use async_trait::async_trait;
use iso_currency::Currency;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::catalog::{active_price, currency, live_product, resolve_book};
use super::opportunities::{self, write_row};
use super::page::{PageSql, fetch_page};
use super::{PgStore, Tx, now, publish, scope};
use crate::domain::FieldViolation;
use crate::domain::catalog::PriceBookRef;
use crate::domain::opportunity::Opportunity;
use crate::domain::pricing::{
    Discount, LineAmounts, LineInput, MinorAmount, PricingError, QuoteAmounts, Rate, max_minor,
    price_quote,
};
use crate::domain::quote::{
    ClosedProduct, DiscountRequest, LineRequest, NewQuote, Quote, QuoteAction, QuoteLine,
    QuotePatch, QuoteStatus, closed_products,
};
use crate::domain::record::Record;
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::commerce::{self as events, Change, QuoteEvent};
use crate::events::publish as record_events;
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait QuoteStore: Send + Sync + 'static {
    async fn create_quote(&self, viewer: Viewer, quote: NewQuote) -> Result<Quote>;
    async fn quote(&self, viewer: Viewer, id: Uuid) -> Result<Option<Quote>>;
    async fn list_quotes(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Quote>>;
    /// Only drafts change (FAILED_PRECONDITION otherwise).
    async fn update_quote(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: QuotePatch,
    ) -> Result<Option<Quote>>;
    /// Only drafts are deleted (FAILED_PRECONDITION otherwise).
    async fn delete_quote(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// A status transition; accepting with `update_opportunity_amount` also sets the
    /// opportunity's amount to the quote total, in the same transaction.
    async fn transition_quote(
        &self,
        viewer: Viewer,
        id: Uuid,
        action: QuoteAction,
        update_opportunity_amount: bool,
    ) -> Result<Option<Quote>>;
}

pub static LISTING: Listing = Listing {
    resource: "quotes",
    fields: &[
        Field {
            name: "opportunity_id",
            column: "q.opportunity_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "status",
            column: "('QUOTE_STATUS_' || upper(q.status))",
            kind: Kind::Enum(&[
                "QUOTE_STATUS_DRAFT",
                "QUOTE_STATUS_SENT",
                "QUOTE_STATUS_ACCEPTED",
                "QUOTE_STATUS_REJECTED",
            ]),
        },
        Field {
            name: "name",
            column: "q.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "currency_code",
            column: "q.currency",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "total_minor",
            column: "q.total_minor",
            kind: Kind::Integer,
        },
        Field {
            name: "create_time",
            column: "q.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "q.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "q.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "q.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "name",
            expr: "q.name",
            kind: KeyKind::Text,
        },
        SortKey {
            name: "total_minor",
            expr: "q.total_minor",
            kind: KeyKind::Int8,
        },
    ],
};

const COLUMNS: &str = "q.id, q.opportunity_id, o.owner_id, q.name, q.status, q.price_book_id, \
    q.currency, q.discount_rate_ppm, q.discount_amount_minor, q.tax_rate_ppm, q.subtotal_minor, \
    q.discount_total_minor, q.tax_minor, q.total_minor, q.created_at, q.updated_at";
const FROM: &str = "FROM quotes q JOIN opportunities o ON o.id = q.opportunity_id";
const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: FROM,
    base: "q.deleted_at IS NULL AND o.deleted_at IS NULL",
    owner_column: "o.owner_id",
    id_column: "q.id",
};

fn discount(rate_ppm: i32, amount_minor: i64) -> Result<Discount> {
    if rate_ppm > 0 {
        let rate = Rate::parse(rate_ppm).map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Discount::Rate(rate))
    } else if amount_minor > 0 {
        Ok(Discount::Amount(amount_minor))
    } else {
        Ok(Discount::None)
    }
}

fn quote_from_row(row: &PgRow) -> Result<Quote> {
    let status: String = row.try_get("status")?;
    let code: String = row.try_get("currency")?;
    Ok(Quote {
        id: row.try_get("id")?,
        opportunity_id: row.try_get("opportunity_id")?,
        owner_id: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        status: QuoteStatus::parse(&status)
            .ok_or_else(|| Error::Internal(format!("unknown quote status {status}")))?,
        price_book_id: row.try_get("price_book_id")?,
        currency: currency(&code)?,
        lines: Vec::new(),
        discount: discount(
            row.try_get("discount_rate_ppm")?,
            row.try_get("discount_amount_minor")?,
        )?,
        tax_rate: Rate::parse(row.try_get("tax_rate_ppm")?)
            .map_err(|e| Error::Internal(e.to_string()))?,
        amounts: QuoteAmounts {
            subtotal: row.try_get("subtotal_minor")?,
            discount_total: row.try_get("discount_total_minor")?,
            tax: row.try_get("tax_minor")?,
            total: row.try_get("total_minor")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Fills in the lines of `quotes`, in position order.
async fn load_lines(tx: &mut Tx, quotes: &mut [Quote]) -> Result<()> {
    if quotes.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = quotes.iter().map(|q| q.id).collect();
    let rows = sqlx::query(
        "SELECT quote_id, product_id, product_sku, product_name, quantity, unit_price_minor,
             discount_rate_ppm, discount_amount_minor, subtotal_minor, discount_minor,
             total_minor
         FROM quote_lines WHERE quote_id = ANY($1)
         ORDER BY quote_id, position",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut by_quote: HashMap<Uuid, Vec<QuoteLine>> = HashMap::new();
    for row in &rows {
        by_quote
            .entry(row.try_get("quote_id")?)
            .or_default()
            .push(QuoteLine {
                product_id: row.try_get("product_id")?,
                product_sku: row.try_get("product_sku")?,
                product_name: row.try_get("product_name")?,
                quantity: row.try_get("quantity")?,
                unit_price_minor: row.try_get("unit_price_minor")?,
                discount: discount(
                    row.try_get("discount_rate_ppm")?,
                    row.try_get("discount_amount_minor")?,
                )?,
                amounts: LineAmounts {
                    subtotal: row.try_get("subtotal_minor")?,
                    discount: row.try_get("discount_minor")?,
                    total: row.try_get("total_minor")?,
                },
            });
    }
    for quote in quotes {
        quote.lines = by_quote.remove(&quote.id).unwrap_or_default();
    }
    Ok(())
}

/// The quote if the viewer may `access` its opportunity (locked for writes).
async fn visible(tx: &mut Tx, viewer: Viewer, id: Uuid, access: Access) -> Result<Option<Quote>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM} WHERE q.id = $1 AND q.deleted_at IS NULL
             AND o.deleted_at IS NULL{}",
        if access == Access::Write {
            " FOR UPDATE OF q"
        } else {
            ""
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(quote) = row.as_ref().map(quote_from_row).transpose()? else {
        return Ok(None);
    };
    if !scope(tx, viewer, RecordKind::Opportunity, access)
        .await?
        .allows(quote.owner_id)
    {
        return Ok(None);
    }
    let mut quotes = [quote];
    load_lines(tx, &mut quotes).await?;
    let [quote] = quotes;
    Ok(Some(quote))
}

/// The products of the opportunity's accepted quote for its won or lost event (none without an
/// accepted quote). The caller already holds the opportunity for writing.
pub(super) async fn accepted_products(
    tx: &mut Tx,
    opportunity: &Opportunity,
) -> Result<Vec<ClosedProduct>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM} WHERE q.opportunity_id = $1 AND q.status = 'accepted'
             AND q.deleted_at IS NULL"
    )))
    .bind(opportunity.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(quote) = row.as_ref().map(quote_from_row).transpose()? else {
        return Ok(Vec::new());
    };
    let mut quotes = [quote];
    load_lines(tx, &mut quotes).await?;
    let [quote] = quotes;
    Ok(closed_products(
        opportunity.data.amount,
        quote.currency,
        &quote.lines,
    ))
}

/// Prices requested lines from the price book, naming every bad line field.
async fn price_requested_lines(
    tx: &mut Tx,
    price_book_id: Uuid,
    currency: Currency,
    requests: &[LineRequest],
) -> Result<Vec<QuoteLine>> {
    let mut violations = Vec::new();
    let mut lines = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let field = |name: &str| format!("line_items[{i}].{name}");
        let discount = match request.discount.in_currency(currency) {
            Ok(discount) => Some(discount),
            Err(e) => {
                violations.push(FieldViolation::new(
                    field("discount_amount.currency_code"),
                    e.to_string(),
                ));
                None
            }
        };
        let Some(product) = live_product(tx, request.product_id, false).await? else {
            violations.push(FieldViolation::new(field("product_id"), "no such product"));
            continue;
        };
        if !product.data.active {
            violations.push(FieldViolation::new(
                field("product_id"),
                "the product is inactive",
            ));
            continue;
        }
        let Some(list_price) = active_price(tx, price_book_id, product.id, currency).await? else {
            violations.push(FieldViolation::new(
                field("product_id"),
                format!(
                    "the product has no active price in {} in the quote's price book",
                    currency.code()
                ),
            ));
            continue;
        };
        let unit_price_minor = match request.unit_price {
            None => list_price,
            Some(price) if price.currency == currency => price.minor,
            Some(_) => {
                violations.push(FieldViolation::new(
                    field("unit_price.currency_code"),
                    format!(
                        "must be the quote currency {}, the currency of the price book entry",
                        currency.code()
                    ),
                ));
                continue;
            }
        };
        let Some(discount) = discount else {
            continue;
        };
        lines.push(QuoteLine {
            product_id: product.id,
            product_sku: product.data.sku,
            product_name: product.data.name,
            quantity: request.quantity,
            unit_price_minor,
            discount,
            // Filled in by `price`.
            amounts: LineAmounts {
                subtotal: 0,
                discount: 0,
                total: 0,
            },
        });
    }
    if violations.is_empty() {
        Ok(lines)
    } else {
        Err(violations.into())
    }
}

/// Computes every amount of `quote` from its lines, discount and tax rate.
fn price(quote: &mut Quote) -> Result<()> {
    let inputs: Vec<LineInput> = quote
        .lines
        .iter()
        .map(|l| LineInput {
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
            discount: l.discount,
        })
        .collect();
    let (lines, amounts) = price_quote(
        &inputs,
        quote.discount,
        quote.tax_rate,
        max_minor(quote.currency),
    )
    .map_err(|e| match e {
        PricingError::LineDiscountTooLarge { line } => {
            Error::invalid(format!("line_items[{line}].discount_amount"), e.to_string())
        }
        PricingError::QuoteDiscountTooLarge => Error::invalid("discount_amount", e.to_string()),
        PricingError::TooLarge { line: Some(line) } => {
            Error::invalid(format!("line_items[{line}].quantity"), e.to_string())
        }
        PricingError::TooLarge { line: None } => Error::invalid("line_items", e.to_string()),
    })?;
    for (line, amounts) in quote.lines.iter_mut().zip(lines) {
        line.amounts = amounts;
    }
    quote.amounts = amounts;
    Ok(())
}

async fn write_lines(tx: &mut Tx, tenant_id: Uuid, quote: &Quote) -> Result<()> {
    sqlx::query("DELETE FROM quote_lines WHERE quote_id = $1")
        .bind(quote.id)
        .execute(&mut *tx)
        .await?;
    if quote.lines.is_empty() {
        return Ok(());
    }
    let l = &quote.lines;
    let positions: Vec<i32> = (0..l.len())
        .map(|i| i32::try_from(i).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO quote_lines (tenant_id, quote_id, position, product_id, product_sku,
             product_name, quantity, unit_price_minor, discount_rate_ppm, discount_amount_minor,
             subtotal_minor, discount_minor, total_minor)
         SELECT $1, $2, l.* FROM UNNEST($3::int[], $4::uuid[], $5::text[], $6::text[],
             $7::bigint[], $8::bigint[], $9::int[], $10::bigint[], $11::bigint[], $12::bigint[],
             $13::bigint[]) AS l",
    )
    .bind(tenant_id)
    .bind(quote.id)
    .bind(&positions)
    .bind(l.iter().map(|x| x.product_id).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.product_sku.clone()).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.product_name.clone()).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.quantity).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.unit_price_minor).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.discount.rate_ppm()).collect::<Vec<_>>())
    .bind(
        l.iter()
            .map(|x| x.discount.amount_minor())
            .collect::<Vec<_>>(),
    )
    .bind(l.iter().map(|x| x.amounts.subtotal).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.amounts.discount).collect::<Vec<_>>())
    .bind(l.iter().map(|x| x.amounts.total).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes the quote's editable columns, amounts and status.
async fn write_quote(tx: &mut Tx, quote: &Quote) -> Result<()> {
    sqlx::query(
        "UPDATE quotes SET name = $2, status = $3, discount_rate_ppm = $4,
             discount_amount_minor = $5, tax_rate_ppm = $6, subtotal_minor = $7,
             discount_total_minor = $8, tax_minor = $9, total_minor = $10, updated_at = $11
         WHERE id = $1",
    )
    .bind(quote.id)
    .bind(&quote.name)
    .bind(quote.status.as_str())
    .bind(quote.discount.rate_ppm())
    .bind(quote.discount.amount_minor())
    .bind(quote.tax_rate.ppm())
    .bind(quote.amounts.subtotal)
    .bind(quote.amounts.discount_total)
    .bind(quote.amounts.tax)
    .bind(quote.amounts.total)
    .bind(quote.updated_at)
    .execute(&mut *tx)
    .await
    .map_err(|error| match db::unique_violation(&error) {
        Some("quotes_accepted_key") => already_accepted(),
        _ => Error::Store(error),
    })?;
    Ok(())
}

fn already_accepted() -> Error {
    Error::FailedPrecondition("the opportunity already has an accepted quote".to_owned())
}

/// The quote-level discount in the quote currency, as a violation on `discount_amount`.
fn quote_discount(request: DiscountRequest, currency: Currency) -> Result<Discount> {
    request
        .in_currency(currency)
        .map_err(|e| Error::invalid("discount_amount.currency_code", e.to_string()))
}

/// Sets the opportunity's amount to the accepted quote's total, announcing the change as any
/// opportunity update does.
async fn set_opportunity_amount(tx: &mut Tx, viewer: Viewer, quote: &Quote) -> Result<()> {
    let Some(before) =
        opportunities::visible(tx, viewer, quote.opportunity_id, Access::Write).await?
    else {
        return Err(Error::NotFound("quote"));
    };
    let total = MinorAmount::from_minor(quote.currency, quote.amounts.total.into())
        .map_err(|e| Error::Internal(e.to_string()))?
        .to_money()
        .map_err(|e| Error::Internal(e.to_string()))?;
    if before.data.amount == Some(total) {
        return Ok(());
    }
    let mut data = before.data.clone();
    data.amount = Some(total);
    let changed = before.data.changed_fields(&data);
    let updated = Opportunity {
        data,
        updated_at: now(),
        ..before
    };
    write_row(tx, &updated).await?;
    publish(
        tx,
        &[record_events::record_changed(
            viewer.tenant_id,
            viewer.user_id,
            record_events::Change::Updated,
            Record::Opportunity(updated),
            &changed,
        )?],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl QuoteStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_quote", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_quote", tenant_id = %viewer.tenant_id))]
    async fn create_quote(&self, viewer: Viewer, new: NewQuote) -> Result<Quote> {
        let mut tx = self.tx(viewer).await?;
        let Some(opportunity) =
            opportunities::visible(&mut tx, viewer, new.opportunity_id, Access::Write).await?
        else {
            return Err(Error::invalid("opportunity_id", "no such opportunity"));
        };
        let currency = match (new.currency, opportunity.data.amount) {
            (Some(currency), _) => currency,
            (None, Some(amount)) => Currency::from_code(amount.currency_code())
                .ok_or_else(|| Error::Internal("stored opportunity currency".to_owned()))?,
            (None, None) => {
                return Err(Error::invalid(
                    "currency_code",
                    "is required when the opportunity has no amount",
                ));
            }
        };
        if currency.exponent().is_none() {
            return Err(Error::invalid(
                "currency_code",
                format!("{} has no minor unit", currency.code()),
            ));
        }
        let book_ref = new
            .price_book_id
            .map_or(PriceBookRef::Standard, PriceBookRef::Id);
        let book = resolve_book(&mut tx, viewer.tenant_id, book_ref)
            .await?
            .ok_or_else(|| Error::invalid("price_book_id", "no such price book"))?;
        let discount = quote_discount(new.discount, currency);
        let lines = price_requested_lines(&mut tx, book.id, currency, &new.lines).await;
        let (discount, lines) = merge_violations(discount, lines)?;
        let at = now();
        let mut quote = Quote {
            id: Uuid::now_v7(),
            opportunity_id: opportunity.id,
            owner_id: opportunity.data.owner_id,
            name: new.name,
            status: QuoteStatus::Draft,
            price_book_id: book.id,
            currency,
            lines,
            discount,
            tax_rate: new.tax_rate,
            amounts: QuoteAmounts::default(),
            created_at: at,
            updated_at: at,
        };
        price(&mut quote)?;
        sqlx::query(
            "INSERT INTO quotes (id, tenant_id, opportunity_id, name, status, price_book_id,
                 currency, discount_rate_ppm, discount_amount_minor, tax_rate_ppm,
                 subtotal_minor, discount_total_minor, tax_minor, total_minor, created_by,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)",
        )
        .bind(quote.id)
        .bind(viewer.tenant_id)
        .bind(quote.opportunity_id)
        .bind(&quote.name)
        .bind(quote.status.as_str())
        .bind(quote.price_book_id)
        .bind(quote.currency.code())
        .bind(quote.discount.rate_ppm())
        .bind(quote.discount.amount_minor())
        .bind(quote.tax_rate.ppm())
        .bind(quote.amounts.subtotal)
        .bind(quote.amounts.discount_total)
        .bind(quote.amounts.tax)
        .bind(quote.amounts.total)
        .bind(viewer.user_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        write_lines(&mut tx, viewer.tenant_id, &quote).await?;
        publish(
            &mut tx,
            &[events::quote_changed(
                viewer.tenant_id,
                viewer.user_id,
                QuoteEvent::Changed(Change::Created),
                quote.clone(),
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(quote)
    }

    async fn quote(&self, viewer: Viewer, id: Uuid) -> Result<Option<Quote>> {
        let mut tx = self.tx(viewer).await?;
        let quote = visible(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        Ok(quote)
    }

    #[tracing::instrument(name = "crm.postgres.list_quotes", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_quotes", tenant_id = %viewer.tenant_id))]
    async fn list_quotes(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Quote>> {
        let mut tx = self.tx(viewer).await?;
        let read = scope(&mut tx, viewer, RecordKind::Opportunity, Access::Read).await?;
        let mut page = fetch_page(&mut tx, &PAGE, &read, &query, quote_from_row, |q| q.id).await?;
        load_lines(&mut tx, &mut page.items).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_quote", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_quote", tenant_id = %viewer.tenant_id))]
    async fn update_quote(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: QuotePatch,
    ) -> Result<Option<Quote>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        before
            .status
            .ensure_editable()
            .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        let mut after = before.clone();
        let mut changed = Vec::new();
        if let Some(name) = patch.name
            && name != before.name
        {
            after.name = name;
            changed.push("name");
        }
        let discount = patch
            .discount
            .map(|d| quote_discount(d, before.currency))
            .transpose();
        let lines = match &patch.lines {
            Some(requests) => {
                price_requested_lines(&mut tx, before.price_book_id, before.currency, requests)
                    .await
                    .map(Some)
            }
            None => Ok(None),
        };
        let (discount, lines) = merge_violations(discount, lines)?;
        if let Some(discount) = discount
            && discount != before.discount
        {
            after.discount = discount;
            changed.extend(["discount_rate_ppm", "discount_amount"]);
        }
        if let Some(tax_rate) = patch.tax_rate
            && tax_rate != before.tax_rate
        {
            after.tax_rate = tax_rate;
            changed.push("tax_rate_ppm");
        }
        if let Some(lines) = lines {
            after.lines = lines;
            price(&mut after)?;
            if after.lines != before.lines {
                changed.push("line_items");
            }
        } else {
            price(&mut after)?;
        }
        if changed.is_empty() {
            return Ok(Some(before));
        }
        after.updated_at = now();
        write_quote(&mut tx, &after).await?;
        write_lines(&mut tx, viewer.tenant_id, &after).await?;
        publish(
            &mut tx,
            &[events::quote_changed(
                viewer.tenant_id,
                viewer.user_id,
                QuoteEvent::Changed(Change::Updated),
                after.clone(),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    #[tracing::instrument(name = "crm.postgres.delete_quote", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_quote", tenant_id = %viewer.tenant_id))]
    async fn delete_quote(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(quote) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(false);
        };
        quote
            .status
            .ensure_editable()
            .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        sqlx::query("UPDATE quotes SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::quote_changed(
                viewer.tenant_id,
                viewer.user_id,
                QuoteEvent::Changed(Change::Deleted),
                quote,
                &[],
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.transition_quote", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "transition_quote", tenant_id = %viewer.tenant_id))]
    async fn transition_quote(
        &self,
        viewer: Viewer,
        id: Uuid,
        action: QuoteAction,
        update_opportunity_amount: bool,
    ) -> Result<Option<Quote>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let status = before
            .status
            .apply(action)
            .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        if action == QuoteAction::Accept {
            let accepted: Option<Uuid> = sqlx::query_scalar(
                "SELECT id FROM quotes WHERE opportunity_id = $1 AND status = 'accepted'
                     AND deleted_at IS NULL AND id <> $2",
            )
            .bind(before.opportunity_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if accepted.is_some() {
                return Err(already_accepted());
            }
        }
        let after = Quote {
            status,
            updated_at: now(),
            ..before
        };
        write_quote(&mut tx, &after).await?;
        if action == QuoteAction::Accept && update_opportunity_amount {
            set_opportunity_amount(&mut tx, viewer, &after).await?;
        }
        publish(
            &mut tx,
            &[events::quote_changed(
                viewer.tenant_id,
                viewer.user_id,
                QuoteEvent::Status(action),
                after.clone(),
                &["status"],
            )?],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(quote_id = %id, status = status.as_str(), "quote status changed");
        Ok(Some(after))
    }
}

/// Both results, or every field violation of both.
fn merge_violations<A, B>(a: Result<A>, b: Result<B>) -> Result<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(Error::InvalidArgument(mut x)), Err(Error::InvalidArgument(y))) => {
            x.extend(y);
            Err(Error::InvalidArgument(x))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}
