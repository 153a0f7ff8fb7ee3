//! ProductService and PriceBookService: the catalog every quote is priced from. Everyone with
//! CRM access reads it; changing it needs `crm.pipelines.write` (admins), like the other
//! tenant-wide sales setup.

use std::sync::Arc;

use auth::permissions::{CRM_PIPELINES_WRITE, CRM_RECORDS_READ};
use db::PageToken;
use proto::crm as pb;
use proto::google::r#type::Money as PbMoney;
use tonic::{Request, Response, Status};

use super::{ListRequest, mask_paths, parse_amount, parse_id, required_id, viewer};
use crate::convert::{price_book_entry_to_pb, price_book_to_pb, product_to_pb};
use crate::domain::catalog::{
    MAX_DESCRIPTION_LEN, MAX_NAME_LEN, MAX_SKU_LEN, NewPriceBookEntry, PriceBookData,
    PriceBookEntryPatch, PriceBookPatch, PriceBookRef, ProductData, ProductPatch,
};
use crate::domain::pricing::MinorAmount;
use crate::domain::{Violations, text};
use crate::error::{Error, Result};
use crate::listing::Cursor;
use crate::store::catalog::{CatalogStore, ENTRY_LISTING, PRICE_BOOK_LISTING, PRODUCT_LISTING};

const PRODUCT_UPDATABLE: &[&str] = &["sku", "name", "description", "active"];
const BOOK_UPDATABLE: &[&str] = &["name", "description"];
const ENTRY_UPDATABLE: &[&str] = &["unit_price", "active"];

/// A price: non-negative money in a currency with a minor unit, as minor units.
pub fn parse_price(field: &str, raw: Option<&PbMoney>, v: &mut Violations) -> Option<MinorAmount> {
    let money = parse_amount(field, raw, v)?;
    let Some(money) = money else {
        v.add(field, "is required");
        return None;
    };
    v.check(
        &format!("{field}.currency_code"),
        MinorAmount::from_money(money),
    )
}

/// `standard` or a price book id.
fn book_ref(field: &str, raw: &str) -> Result<PriceBookRef> {
    if raw.is_empty() || raw == "standard" {
        return Ok(PriceBookRef::Standard);
    }
    parse_id(field, raw).map(PriceBookRef::Id)
}

/// An entry listing whose page tokens continue only the same price book's listing (with the
/// same filter and order).
fn entry_list_request(
    book: PriceBookRef,
    r: &pb::ListPriceBookEntriesRequest,
) -> Result<ListRequest> {
    // Validates size, filter and order; the token is checked against the book-bound fingerprint.
    let mut list = ListRequest::parse(&ENTRY_LISTING, r.page_size, "", &r.filter, &r.order_by)?;
    let book = match book {
        PriceBookRef::Standard => "standard".to_owned(),
        PriceBookRef::Id(id) => id.to_string(),
    };
    let order = r.order_by.split_whitespace().collect::<Vec<_>>().join(" ");
    list.pages = PageToken::for_query(&format!(
        "{}|{book}|{}|{order}",
        ENTRY_LISTING.resource,
        r.filter.trim()
    ));
    let after: Option<Cursor> = list
        .pages
        .decode(&r.page_token)
        .map_err(|e| Error::invalid("page_token", e.to_string()))?;
    if after
        .as_ref()
        .is_some_and(|c| !c.key.fits(list.query.order.key.kind))
    {
        return Err(Error::invalid("page_token", "page_token is malformed"));
    }
    list.query.after = after;
    Ok(list)
}

pub struct ProductApi {
    store: Arc<dyn CatalogStore>,
}

impl ProductApi {
    pub fn new(store: Arc<dyn CatalogStore>) -> Self {
        Self { store }
    }
}

fn product_data(p: &pb::Product) -> Result<ProductData> {
    let mut v = Violations::new();
    let sku = v.check("product.sku", text::required(&p.sku, MAX_SKU_LEN));
    let name = v.check("product.name", text::required(&p.name, MAX_NAME_LEN));
    let description = v.check(
        "product.description",
        text::optional(&p.description, MAX_DESCRIPTION_LEN),
    );
    v.finish()?;
    let (Some(sku), Some(name), Some(description)) = (sku, name, description) else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    Ok(ProductData {
        sku,
        name,
        description,
        active: true,
    })
}

#[tonic::async_trait]
impl pb::product_service_server::ProductService for ProductApi {
    #[tracing::instrument(skip_all)]
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let p = request
            .into_inner()
            .product
            .ok_or_else(|| Error::invalid("product", "is required"))?;
        let created = self.store.create_product(viewer, product_data(&p)?).await?;
        Ok(Response::new(product_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_product(
        &self,
        request: Request<pb::GetProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self
            .store
            .product(viewer, id)
            .await?
            .ok_or(Error::NotFound("product"))?;
        Ok(Response::new(product_to_pb(found)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> Result<Response<pb::ListProductsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse(
            &PRODUCT_LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let page = self.store.list_products(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListProductsResponse {
            next_page_token: list.next_page_token(page.next),
            products: page.items.into_iter().map(product_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> Result<Response<pb::Product>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let paths = mask_paths(r.update_mask, PRODUCT_UPDATABLE)?;
        let p = r
            .product
            .ok_or_else(|| Error::invalid("product", "is required"))?;
        let id = parse_id("product.id", &p.id)?;
        let mut v = Violations::new();
        let mut patch = ProductPatch::default();
        for path in &paths {
            match path.as_str() {
                "sku" => patch.sku = v.check("product.sku", text::required(&p.sku, MAX_SKU_LEN)),
                "name" => {
                    patch.name = v.check("product.name", text::required(&p.name, MAX_NAME_LEN))
                }
                "description" => {
                    patch.description = v.check(
                        "product.description",
                        text::optional(&p.description, MAX_DESCRIPTION_LEN),
                    )
                }
                "active" => patch.active = Some(p.active),
                _ => {}
            }
        }
        v.finish().map_err(Error::from)?;
        let updated = self
            .store
            .update_product(viewer, id, patch)
            .await?
            .ok_or(Error::NotFound("product"))?;
        Ok(Response::new(product_to_pb(updated)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_product(
        &self,
        request: Request<pb::DeleteProductRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_product(viewer, id).await? {
            return Err(Error::NotFound("product").into());
        }
        Ok(Response::new(()))
    }
}

pub struct PriceBookApi {
    store: Arc<dyn CatalogStore>,
}

impl PriceBookApi {
    pub fn new(store: Arc<dyn CatalogStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl pb::price_book_service_server::PriceBookService for PriceBookApi {
    #[tracing::instrument(skip_all)]
    async fn create_price_book(
        &self,
        request: Request<pb::CreatePriceBookRequest>,
    ) -> Result<Response<pb::PriceBook>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let b = request
            .into_inner()
            .price_book
            .ok_or_else(|| Error::invalid("price_book", "is required"))?;
        let mut v = Violations::new();
        let name = v.check("price_book.name", text::required(&b.name, MAX_NAME_LEN));
        let description = v.check(
            "price_book.description",
            text::optional(&b.description, MAX_DESCRIPTION_LEN),
        );
        v.finish().map_err(Error::from)?;
        let (Some(name), Some(description)) = (name, description) else {
            return Err(Error::Internal("validated fields missing".to_owned()).into());
        };
        let created = self
            .store
            .create_price_book(viewer, PriceBookData { name, description })
            .await?;
        Ok(Response::new(price_book_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_price_book(
        &self,
        request: Request<pb::GetPriceBookRequest>,
    ) -> Result<Response<pb::PriceBook>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let book = book_ref("id", &request.get_ref().id)?;
        let found = self
            .store
            .price_book(viewer, book)
            .await?
            .ok_or(Error::NotFound("price book"))?;
        Ok(Response::new(price_book_to_pb(found)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_price_books(
        &self,
        request: Request<pb::ListPriceBooksRequest>,
    ) -> Result<Response<pb::ListPriceBooksResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list = ListRequest::parse(
            &PRICE_BOOK_LISTING,
            r.page_size,
            &r.page_token,
            &r.filter,
            &r.order_by,
        )?;
        let page = self
            .store
            .list_price_books(viewer, list.query.clone())
            .await?;
        Ok(Response::new(pb::ListPriceBooksResponse {
            next_page_token: list.next_page_token(page.next),
            price_books: page.items.into_iter().map(price_book_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_price_book(
        &self,
        request: Request<pb::UpdatePriceBookRequest>,
    ) -> Result<Response<pb::PriceBook>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let paths = mask_paths(r.update_mask, BOOK_UPDATABLE)?;
        let b = r
            .price_book
            .ok_or_else(|| Error::invalid("price_book", "is required"))?;
        let id = parse_id("price_book.id", &b.id)?;
        let mut v = Violations::new();
        let mut patch = PriceBookPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    patch.name = v.check("price_book.name", text::required(&b.name, MAX_NAME_LEN))
                }
                "description" => {
                    patch.description = v.check(
                        "price_book.description",
                        text::optional(&b.description, MAX_DESCRIPTION_LEN),
                    )
                }
                _ => {}
            }
        }
        v.finish().map_err(Error::from)?;
        let updated = self
            .store
            .update_price_book(viewer, id, patch)
            .await?
            .ok_or(Error::NotFound("price book"))?;
        Ok(Response::new(price_book_to_pb(updated)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_price_book(
        &self,
        request: Request<pb::DeletePriceBookRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_price_book(viewer, id).await? {
            return Err(Error::NotFound("price book").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn create_price_book_entry(
        &self,
        request: Request<pb::CreatePriceBookEntryRequest>,
    ) -> Result<Response<pb::PriceBookEntry>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let e = request
            .into_inner()
            .entry
            .ok_or_else(|| Error::invalid("entry", "is required"))?;
        let mut v = Violations::new();
        let book = v.check(
            "entry.price_book_id",
            book_ref("entry.price_book_id", &e.price_book_id).map_err(|_| "must be a UUID"),
        );
        let product_id = v.check("entry.product_id", required_id(&e.product_id));
        let price = parse_price("entry.unit_price", e.unit_price.as_ref(), &mut v);
        v.finish().map_err(Error::from)?;
        let (Some(price_book), Some(product_id), Some(price)) = (book, product_id, price) else {
            return Err(Error::Internal("validated fields missing".to_owned()).into());
        };
        let created = self
            .store
            .create_price_book_entry(
                viewer,
                NewPriceBookEntry {
                    price_book,
                    product_id,
                    currency: price.currency,
                    unit_price_minor: price.minor,
                },
            )
            .await?;
        Ok(Response::new(price_book_entry_to_pb(created)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_price_book_entries(
        &self,
        request: Request<pb::ListPriceBookEntriesRequest>,
    ) -> Result<Response<pb::ListPriceBookEntriesResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let book = book_ref("price_book_id", &r.price_book_id)?;
        let list = entry_list_request(book, &r)?;
        let page = self
            .store
            .list_price_book_entries(viewer, book, list.query.clone())
            .await?
            .ok_or(Error::NotFound("price book"))?;
        Ok(Response::new(pb::ListPriceBookEntriesResponse {
            next_page_token: list.next_page_token(page.next),
            entries: page.items.into_iter().map(price_book_entry_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_price_book_entry(
        &self,
        request: Request<pb::UpdatePriceBookEntryRequest>,
    ) -> Result<Response<pb::PriceBookEntry>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let r = request.into_inner();
        let paths = mask_paths(r.update_mask, ENTRY_UPDATABLE)?;
        let e = r
            .entry
            .ok_or_else(|| Error::invalid("entry", "is required"))?;
        let id = parse_id("entry.id", &e.id)?;
        let mut v = Violations::new();
        let mut patch = PriceBookEntryPatch::default();
        for path in &paths {
            match path.as_str() {
                "unit_price" => {
                    patch.unit_price =
                        parse_price("entry.unit_price", e.unit_price.as_ref(), &mut v)
                            .map(|p| (p.currency, p.minor))
                }
                "active" => patch.active = Some(e.active),
                _ => {}
            }
        }
        v.finish().map_err(Error::from)?;
        let updated = self
            .store
            .update_price_book_entry(viewer, id, patch)
            .await?
            .ok_or(Error::NotFound("price book entry"))?;
        Ok(Response::new(price_book_entry_to_pb(updated)))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_price_book_entry(
        &self,
        request: Request<pb::DeletePriceBookEntryRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_PIPELINES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_price_book_entry(viewer, id).await? {
            return Err(Error::NotFound("price book entry").into());
        }
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_must_be_non_negative_money_with_a_minor_unit() {
        let mut v = Violations::new();
        let negative = PbMoney {
            currency_code: "USD".into(),
            units: -1,
            nanos: 0,
        };
        assert!(parse_price("entry.unit_price", Some(&negative), &mut v).is_none());
        let gold = PbMoney {
            currency_code: "XAU".into(),
            units: 1,
            nanos: 0,
        };
        assert!(parse_price("entry.unit_price", Some(&gold), &mut v).is_none());
        assert!(parse_price("entry.unit_price", None, &mut v).is_none());
        let fields: Vec<String> = v
            .finish()
            .expect_err("invalid")
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "entry.unit_price.units",
                "entry.unit_price.currency_code",
                "entry.unit_price"
            ]
        );
    }

    #[test]
    fn entry_page_tokens_continue_only_their_price_book() {
        let book = PriceBookRef::Id(uuid::Uuid::now_v7());
        let request = pb::ListPriceBookEntriesRequest {
            order_by: "unit_price_minor desc".into(),
            ..Default::default()
        };
        let first = entry_list_request(book, &request).expect("valid");
        let token = first.next_page_token(Some(Cursor {
            key: crate::listing::KeyValue::Int(500),
            id: uuid::Uuid::now_v7(),
        }));
        let next = pb::ListPriceBookEntriesRequest {
            page_token: token,
            ..request
        };
        let second = entry_list_request(book, &next).expect("same book");
        assert!(second.query.after.is_some());
        let other = entry_list_request(PriceBookRef::Standard, &next).err();
        assert!(matches!(other, Some(Error::InvalidArgument(v)) if v[0].field == "page_token"));
    }

    #[test]
    fn product_input_names_every_bad_field() {
        let error = product_data(&pb::Product {
            sku: " ".into(),
            name: "x".repeat(MAX_NAME_LEN + 1),
            ..Default::default()
        })
        .expect_err("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["product.sku", "product.name"]);
    }
}
