//! QuoteService: quotes for opportunities, with SendQuote, AcceptQuote and RejectQuote.

use std::sync::Arc;

use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_WRITE};
use iso_currency::Currency;
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::catalog::parse_price;
use super::{ListRequest, mask_paths, parse_id, required_id, viewer};
use crate::convert::quote_to_pb;
use crate::domain::pricing::Rate;
use crate::domain::quote::{
    DiscountRequest, LineRequest, MAX_LINES, MAX_NAME_LEN, MAX_QUANTITY, NewQuote, QuoteAction,
    QuotePatch,
};
use crate::domain::visibility::Viewer;
use crate::domain::{Violations, text};
use crate::error::{Error, Result};
use crate::store::quotes::{LISTING, QuoteStore};

const UPDATABLE: &[&str] = &[
    "name",
    "line_items",
    "discount_rate_ppm",
    "discount_amount",
    "tax_rate_ppm",
];

/// A discount given as a rate or an amount (not both); `prefix` ends with a dot or is empty.
fn parse_discount(
    prefix: &str,
    rate_ppm: i32,
    amount: Option<&proto::google::r#type::Money>,
    v: &mut Violations,
) -> Option<DiscountRequest> {
    let rate = v.check(&format!("{prefix}discount_rate_ppm"), Rate::parse(rate_ppm))?;
    match amount {
        None if rate.ppm() == 0 => Some(DiscountRequest::None),
        None => Some(DiscountRequest::Rate(rate)),
        Some(_) if rate.ppm() != 0 => {
            v.add(
                format!("{prefix}discount_amount"),
                "give either discount_rate_ppm or discount_amount, not both",
            );
            None
        }
        Some(raw) => parse_price(&format!("{prefix}discount_amount"), Some(raw), v)
            .map(DiscountRequest::Amount),
    }
}

fn parse_lines(items: &[pb::QuoteLineItem], v: &mut Violations) -> Option<Vec<LineRequest>> {
    if items.len() > MAX_LINES {
        v.add(
            "quote.line_items",
            format!("must have at most {MAX_LINES} lines"),
        );
        return None;
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut valid = true;
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("quote.line_items[{i}].");
        let product_id = v.check(
            &format!("{prefix}product_id"),
            required_id(&item.product_id),
        );
        let quantity = if item.quantity < 1 {
            v.add(format!("{prefix}quantity"), "must be at least 1");
            None
        } else if item.quantity > MAX_QUANTITY {
            v.add(
                format!("{prefix}quantity"),
                format!("must be at most {MAX_QUANTITY}"),
            );
            None
        } else {
            Some(item.quantity)
        };
        let unit_price = match &item.unit_price {
            None => Some(None),
            Some(raw) => parse_price(&format!("{prefix}unit_price"), Some(raw), v).map(Some),
        };
        let discount = parse_discount(
            &prefix,
            item.discount_rate_ppm,
            item.discount_amount.as_ref(),
            v,
        );
        match (product_id, quantity, unit_price, discount) {
            (Some(product_id), Some(quantity), Some(unit_price), Some(discount)) => {
                lines.push(LineRequest {
                    product_id,
                    quantity,
                    unit_price,
                    discount,
                })
            }
            _ => valid = false,
        }
    }
    valid.then_some(lines)
}

fn parse_currency(raw: &str) -> Result<Option<Currency>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    Currency::from_code(raw)
        .map(Some)
        .ok_or_else(|| format!("{raw:?} is not an ISO 4217 currency code"))
}

pub struct QuoteApi {
    store: Arc<dyn QuoteStore>,
}

impl QuoteApi {
    pub fn new(store: Arc<dyn QuoteStore>) -> Self {
        Self { store }
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateQuoteRequest) -> Result<pb::Quote> {
        let q = r
            .quote
            .ok_or_else(|| Error::invalid("quote", "is required"))?;
        let mut v = Violations::new();
        let opportunity_id = v.check("quote.opportunity_id", required_id(&q.opportunity_id));
        let name = v.check("quote.name", text::required(&q.name, MAX_NAME_LEN));
        let price_book_id = v.check("quote.price_book_id", super::optional_id(&q.price_book_id));
        let currency = v.check("quote.currency_code", parse_currency(&q.currency_code));
        let lines = parse_lines(&q.line_items, &mut v);
        let discount = parse_discount(
            "quote.",
            q.discount_rate_ppm,
            q.discount_amount.as_ref(),
            &mut v,
        );
        let tax_rate = v.check("quote.tax_rate_ppm", Rate::parse(q.tax_rate_ppm));
        v.finish()?;
        let (
            Some(opportunity_id),
            Some(name),
            Some(price_book_id),
            Some(currency),
            Some(lines),
            Some(discount),
            Some(tax_rate),
        ) = (
            opportunity_id,
            name,
            price_book_id,
            currency,
            lines,
            discount,
            tax_rate,
        )
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let created = self
            .store
            .create_quote(
                viewer,
                NewQuote {
                    opportunity_id,
                    name,
                    price_book_id,
                    currency,
                    lines,
                    discount,
                    tax_rate,
                },
            )
            .await
            .map_err(|e| e.prefixed("quote."))?;
        Ok(quote_to_pb(created))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateQuoteRequest) -> Result<pb::Quote> {
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let q = r
            .quote
            .ok_or_else(|| Error::invalid("quote", "is required"))?;
        let id = parse_id("quote.id", &q.id)?;
        let mut v = Violations::new();
        let mut patch = QuotePatch::default();
        let mut discount_done = false;
        for path in &paths {
            match path.as_str() {
                "name" => patch.name = v.check("quote.name", text::required(&q.name, MAX_NAME_LEN)),
                "line_items" => patch.lines = parse_lines(&q.line_items, &mut v),
                // Rate and amount are one discount: naming either replaces it.
                "discount_rate_ppm" | "discount_amount" if !discount_done => {
                    discount_done = true;
                    patch.discount = parse_discount(
                        "quote.",
                        q.discount_rate_ppm,
                        q.discount_amount.as_ref(),
                        &mut v,
                    );
                }
                "tax_rate_ppm" => {
                    patch.tax_rate = v.check("quote.tax_rate_ppm", Rate::parse(q.tax_rate_ppm))
                }
                _ => {}
            }
        }
        v.finish()?;
        let updated = self
            .store
            .update_quote(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("quote."))?
            .ok_or(Error::NotFound("quote"))?;
        Ok(quote_to_pb(updated))
    }

    async fn accept(&self, viewer: Viewer, r: pb::AcceptQuoteRequest) -> Result<pb::Quote> {
        // Unset means true: accepting normally makes the quote the deal's amount.
        let update_amount = r.update_opportunity_amount.unwrap_or(true);
        self.transition(viewer, &r.id, QuoteAction::Accept, update_amount)
            .await
    }

    async fn transition(
        &self,
        viewer: Viewer,
        id: &str,
        action: QuoteAction,
        update_opportunity_amount: bool,
    ) -> Result<pb::Quote> {
        let id: Uuid = parse_id("id", id)?;
        let changed = self
            .store
            .transition_quote(viewer, id, action, update_opportunity_amount)
            .await?
            .ok_or(Error::NotFound("quote"))?;
        Ok(quote_to_pb(changed))
    }
}

#[tonic::async_trait]
impl pb::quote_service_server::QuoteService for QuoteApi {
    #[tracing::instrument(skip_all)]
    async fn create_quote(
        &self,
        request: Request<pb::CreateQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_quote(
        &self,
        request: Request<pb::GetQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let found = self
            .store
            .quote(viewer, id)
            .await?
            .ok_or(Error::NotFound("quote"))?;
        Ok(Response::new(quote_to_pb(found)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_quotes(
        &self,
        request: Request<pb::ListQuotesRequest>,
    ) -> Result<Response<pb::ListQuotesResponse>, Status> {
        let viewer = viewer(&request, CRM_DEALS_READ)?;
        let r = request.into_inner();
        let list =
            ListRequest::parse(&LISTING, r.page_size, &r.page_token, &r.filter, &r.order_by)?;
        let page = self.store.list_quotes(viewer, list.query.clone()).await?;
        Ok(Response::new(pb::ListQuotesResponse {
            next_page_token: list.next_page_token(page.next),
            quotes: page.items.into_iter().map(quote_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_quote(
        &self,
        request: Request<pb::UpdateQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_quote(
        &self,
        request: Request<pb::DeleteQuoteRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_quote(viewer, id).await? {
            return Err(Error::NotFound("quote").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn send_quote(
        &self,
        request: Request<pb::SendQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.transition(viewer, &r.id, QuoteAction::Send, false)
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn accept_quote(
        &self,
        request: Request<pb::AcceptQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.accept(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn reject_quote(
        &self,
        request: Request<pb::RejectQuoteRequest>,
    ) -> Result<Response<pb::Quote>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        Ok(Response::new(
            self.transition(viewer, &r.id, QuoteAction::Reject, false)
                .await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::quotes::MockQuoteStore;

    fn viewer() -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        }
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    fn usd(units: i64, nanos: i32) -> Option<proto::google::r#type::Money> {
        Some(proto::google::r#type::Money {
            currency_code: "USD".into(),
            units,
            nanos,
        })
    }

    #[tokio::test]
    async fn create_names_every_bad_line_field_without_touching_the_store() {
        let mut store = MockQuoteStore::new();
        store.expect_create_quote().never();
        let api = QuoteApi::new(Arc::new(store));
        let error = api
            .create(
                viewer(),
                pb::CreateQuoteRequest {
                    quote: Some(pb::Quote {
                        opportunity_id: Uuid::now_v7().to_string(),
                        name: "Q1".into(),
                        currency_code: "usd".into(),
                        line_items: vec![
                            pb::QuoteLineItem {
                                product_id: Uuid::now_v7().to_string(),
                                quantity: -2,
                                ..Default::default()
                            },
                            pb::QuoteLineItem {
                                product_id: "nope".into(),
                                quantity: 1,
                                discount_rate_ppm: 1_000_001,
                                ..Default::default()
                            },
                            pb::QuoteLineItem {
                                product_id: Uuid::now_v7().to_string(),
                                quantity: 1,
                                unit_price: usd(1, 1),
                                discount_rate_ppm: 10,
                                discount_amount: usd(1, 0),
                                ..Default::default()
                            },
                        ],
                        tax_rate_ppm: -1,
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "quote.currency_code",
                "quote.line_items[0].quantity",
                "quote.line_items[1].product_id",
                "quote.line_items[1].discount_rate_ppm",
                "quote.line_items[2].unit_price.nanos",
                "quote.line_items[2].discount_amount",
                "quote.tax_rate_ppm",
            ]
        );
    }

    #[tokio::test]
    async fn accepting_updates_the_opportunity_amount_unless_told_not_to() {
        let mut store = MockQuoteStore::new();
        store
            .expect_transition_quote()
            .withf(|_, _, action, update| *action == QuoteAction::Accept && *update)
            .times(1)
            .returning(|_, _, _, _| Ok(None));
        store
            .expect_transition_quote()
            .withf(|_, _, action, update| *action == QuoteAction::Accept && !*update)
            .times(1)
            .returning(|_, _, _, _| Ok(None));
        let api = QuoteApi::new(Arc::new(store));
        for update_opportunity_amount in [None, Some(false)] {
            let error = api
                .accept(
                    viewer(),
                    pb::AcceptQuoteRequest {
                        id: Uuid::now_v7().to_string(),
                        update_opportunity_amount,
                    },
                )
                .await
                .expect_err("not found");
            assert!(matches!(error, Error::NotFound("quote")));
        }
    }
}
