//! Products, price books and quotes: exact totals, the status machine, accepting into the
//! opportunity amount (with its event on the real broker), bad input and visibility.

use crm::testing::TestCrm;
use proto::crm as pb;
use proto::google::r#type::Money;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{As, Db, Tap, assert_invalid, payload, team, usd};

type Products = pb::product_service_client::ProductServiceClient<Channel>;
type PriceBooks = pb::price_book_service_client::PriceBookServiceClient<Channel>;
type Quotes = pb::quote_service_client::QuoteServiceClient<Channel>;

pub fn money(currency: &str, units: i64, nanos: i32) -> Money {
    Money {
        currency_code: currency.to_owned(),
        units,
        nanos,
    }
}

pub async fn products(crm: &TestCrm) -> Products {
    Products::new(crm.channel().await)
}

pub async fn price_books(crm: &TestCrm) -> PriceBooks {
    PriceBooks::new(crm.channel().await)
}

pub async fn quotes(crm: &TestCrm) -> Quotes {
    Quotes::new(crm.channel().await)
}

/// An (admin-created) product with a price in the standard price book.
pub async fn priced_product(crm: &TestCrm, admin: &As, sku: &str, price: Money) -> pb::Product {
    let product = products(crm)
        .await
        .create_product(admin.req(pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: sku.to_owned(),
                name: format!("Product {sku}"),
                ..Default::default()
            }),
        }))
        .await
        .expect("product created")
        .into_inner();
    price_books(crm)
        .await
        .create_price_book_entry(admin.req(pb::CreatePriceBookEntryRequest {
            entry: Some(pb::PriceBookEntry {
                product_id: product.id.clone(),
                unit_price: Some(price),
                ..Default::default()
            }),
        }))
        .await
        .expect("price created");
    product
}

fn line(product: &pb::Product, quantity: i64) -> pb::QuoteLineItem {
    pb::QuoteLineItem {
        product_id: product.id.clone(),
        quantity,
        ..Default::default()
    }
}

fn minor(m: &Option<Money>) -> (i64, i32) {
    let m = m.as_ref().expect("amount set");
    (m.units, m.nanos)
}

async fn draft(
    quotes: &mut Quotes,
    rep: &As,
    opportunity: &pb::Opportunity,
    lines: Vec<pb::QuoteLineItem>,
) -> pb::Quote {
    quotes
        .create_quote(rep.req(pb::CreateQuoteRequest {
            quote: Some(pb::Quote {
                opportunity_id: opportunity.id.clone(),
                name: "Proposal".into(),
                line_items: lines,
                ..Default::default()
            }),
        }))
        .await
        .expect("quote created")
        .into_inner()
}

#[tokio::test]
async fn the_catalog_is_listed_with_filters_and_keyset_pages_and_only_admins_change_it() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let admin = &team.admin;
    for sku in ["A-1", "A-2", "A-3"] {
        priced_product(&crm, admin, sku, usd(10)).await;
    }
    let mut products = products(&crm).await;
    let inactive = products
        .list_products(admin.req(pb::ListProductsRequest {
            filter: "sku = \"A-2\"".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner()
        .products
        .remove(0);
    products
        .update_product(admin.req(pb::UpdateProductRequest {
            product: Some(pb::Product {
                id: inactive.id.clone(),
                active: false,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["active".into()],
            }),
        }))
        .await
        .expect("deactivated");

    // A sales rep reads the catalog, ordered and paged by keyset.
    let rep = &team.rep;
    let first = products
        .list_products(rep.req(pb::ListProductsRequest {
            page_size: 1,
            filter: "active = true".into(),
            order_by: "sku desc".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(
        first
            .products
            .iter()
            .map(|p| p.sku.as_str())
            .collect::<Vec<_>>(),
        ["A-3"]
    );
    let second = products
        .list_products(rep.req(pb::ListProductsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            filter: "active = true".into(),
            order_by: "sku desc".into(),
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(second.products[0].sku, "A-1");
    assert!(second.next_page_token.is_empty());
    let other_query = products
        .list_products(rep.req(pb::ListProductsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            filter: "active = false".into(),
            order_by: "sku desc".into(),
        }))
        .await
        .expect_err("token of another query");
    assert_invalid(&other_query, &["page_token"]);

    let denied = products
        .create_product(rep.req(pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: "R-1".into(),
                name: "Rep product".into(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("reps do not change the catalog");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let duplicate = products
        .create_product(admin.req(pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: "a-1".into(),
                name: "Same SKU".into(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("SKUs are unique per tenant");
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    // The standard price book exists once; a second price in the same currency is refused.
    let mut books = price_books(&crm).await;
    let listed = books
        .list_price_books(admin.req(pb::ListPriceBooksRequest::default()))
        .await
        .expect("listed")
        .into_inner()
        .price_books;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_standard && listed[0].name == "Standard");
    let entries = books
        .list_price_book_entries(rep.req(pb::ListPriceBookEntriesRequest {
            price_book_id: "standard".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 3);
    let again = books
        .create_price_book_entry(admin.req(pb::CreatePriceBookEntryRequest {
            entry: Some(pb::PriceBookEntry {
                product_id: entries[0].product_id.clone(),
                unit_price: Some(usd(99)),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("one price per currency");
    assert_eq!(again.code(), Code::AlreadyExists);
    let standard_deleted = books
        .delete_price_book(admin.req(pb::DeletePriceBookRequest {
            id: listed[0].id.clone(),
        }))
        .await
        .expect_err("the standard book stays");
    assert_eq!(standard_deleted.code(), Code::FailedPrecondition);

    // Every catalog change went through the outbox; the standard book was announced once.
    let types = db.outbox_types(team.tenant_id).await;
    let count = |wanted: &str| types.iter().filter(|t| *t == wanted).count();
    assert_eq!(count("crm.product.created"), 3);
    assert_eq!(count("crm.product.updated"), 1);
    assert_eq!(count("crm.price_book.created"), 1);
    assert_eq!(count("crm.price_book_entry.created"), 3);
}

#[tokio::test]
async fn quote_totals_are_exact_to_the_minor_unit() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let widget = priced_product(&crm, &team.admin, "W-1", money("USD", 12, 340_000_000)).await;
    let bolt = priced_product(&crm, &team.admin, "B-1", money("USD", 0, 50_000_000)).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Fleet").await;
    let mut quotes = quotes(&crm).await;
    let quote = quotes
        .create_quote(rep.req(pb::CreateQuoteRequest {
            quote: Some(pb::Quote {
                opportunity_id: deal.id.clone(),
                name: "Fleet proposal".into(),
                line_items: vec![
                    // 10 x 12.34 = 123.40, 15 % off = 18.51 -> 104.89
                    pb::QuoteLineItem {
                        discount_rate_ppm: 150_000,
                        ..line(&widget, 10)
                    },
                    // 1 x 0.05, 10 % off = 0.005 -> 0.01 (half up) -> 0.04
                    pb::QuoteLineItem {
                        discount_rate_ppm: 100_000,
                        ..line(&bolt, 1)
                    },
                    // unit price overridden in the quote currency: 3 x 0.99 = 2.97, 0.97 off
                    pb::QuoteLineItem {
                        unit_price: Some(money("USD", 0, 990_000_000)),
                        discount_amount: Some(money("USD", 0, 970_000_000)),
                        ..line(&bolt, 3)
                    },
                ],
                // lines net 104.89 + 0.04 + 2.00 = 106.93; 2.00 off -> 104.93
                discount_amount: Some(usd(2)),
                // 8.875 % of 104.93 = 9.3125... -> 9.31
                tax_rate_ppm: 88_750,
                ..Default::default()
            }),
        }))
        .await
        .expect("quote created")
        .into_inner();
    assert_eq!(quote.currency_code, "USD", "from the opportunity amount");
    assert_eq!(quote.status, pb::QuoteStatus::Draft as i32);
    let lines: Vec<_> = quote
        .line_items
        .iter()
        .map(|l| (minor(&l.subtotal), minor(&l.discount), minor(&l.total)))
        .collect();
    assert_eq!(
        lines,
        [
            ((123, 400_000_000), (18, 510_000_000), (104, 890_000_000)),
            ((0, 50_000_000), (0, 10_000_000), (0, 40_000_000)),
            ((2, 970_000_000), (0, 970_000_000), (2, 0)),
        ]
    );
    assert_eq!(quote.line_items[0].product_sku, "W-1");
    assert_eq!(minor(&quote.line_items[0].unit_price), (12, 340_000_000));
    assert_eq!(minor(&quote.subtotal), (126, 420_000_000));
    assert_eq!(minor(&quote.discount_total), (21, 490_000_000));
    assert_eq!(minor(&quote.tax), (9, 310_000_000));
    assert_eq!(minor(&quote.total), (114, 240_000_000));

    // Re-pricing after an edit: no quote discount, 19 % tax on 106.93 = 20.3167 -> 20.32.
    let updated = quotes
        .update_quote(rep.req(pb::UpdateQuoteRequest {
            quote: Some(pb::Quote {
                id: quote.id.clone(),
                tax_rate_ppm: 190_000,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["discount_amount".into(), "tax_rate_ppm".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(minor(&updated.discount_total), (19, 490_000_000));
    assert_eq!(minor(&updated.tax), (20, 320_000_000));
    assert_eq!(minor(&updated.total), (127, 250_000_000));
    let read = quotes
        .get_quote(rep.req(pb::GetQuoteRequest {
            id: quote.id.clone(),
        }))
        .await
        .expect("read back")
        .into_inner();
    assert_eq!(read, updated, "what was stored is what was returned");
}

#[tokio::test]
async fn accepting_a_quote_sets_the_opportunity_amount_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let product = priced_product(&crm, &team.admin, "S-1", usd(1_500)).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Renewal").await;
    let tap = Tap::bind(&["crm.quote.*", "crm.opportunity.updated"]).await;
    let mut quotes = quotes(&crm).await;
    let first = draft(&mut quotes, rep, &deal, vec![line(&product, 4)]).await;
    let second = draft(&mut quotes, rep, &deal, vec![line(&product, 5)]).await;

    let early = quotes
        .accept_quote(rep.req(pb::AcceptQuoteRequest {
            id: first.id.clone(),
            update_opportunity_amount: None,
        }))
        .await
        .expect_err("a draft is sent before it is accepted");
    assert_eq!(early.code(), Code::FailedPrecondition);
    for quote in [&first, &second] {
        quotes
            .send_quote(rep.req(pb::SendQuoteRequest {
                id: quote.id.clone(),
            }))
            .await
            .expect("sent");
    }
    let accepted = quotes
        .accept_quote(rep.req(pb::AcceptQuoteRequest {
            id: first.id.clone(),
            update_opportunity_amount: None,
        }))
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!(accepted.status, pb::QuoteStatus::Accepted as i32);
    let amount = rep
        .opportunities()
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("read")
        .into_inner()
        .amount;
    assert_eq!(amount, Some(usd(6_000)));

    let second_accept = quotes
        .accept_quote(rep.req(pb::AcceptQuoteRequest {
            id: second.id.clone(),
            update_opportunity_amount: Some(false),
        }))
        .await
        .expect_err("one accepted quote per opportunity");
    assert_eq!(second_accept.code(), Code::FailedPrecondition);
    quotes
        .reject_quote(rep.req(pb::RejectQuoteRequest {
            id: second.id.clone(),
        }))
        .await
        .expect("the other quote can still be rejected");

    // created x2, sent x2, opportunity.updated (amount), accepted, rejected.
    let received = tap.wait_for(team.tenant_id, 7).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.quote.created",
            "crm.quote.created",
            "crm.quote.sent",
            "crm.quote.sent",
            "crm.opportunity.updated",
            "crm.quote.accepted",
            "crm.quote.rejected",
        ]
    );
    let updated: pb::RecordChanged = payload(&received[4]);
    assert_eq!(updated.changed_fields, ["amount"]);
    let Some(pb::record_changed::Record::Opportunity(opportunity)) = updated.record else {
        panic!("an opportunity payload");
    };
    assert_eq!(opportunity.amount, Some(usd(6_000)));
    let accepted_event: pb::QuoteChanged = payload(&received[5]);
    assert_eq!(
        accepted_event.quote.map(|q| q.total),
        Some(Some(usd(6_000)))
    );
    tap.close().await;
}

#[tokio::test]
async fn only_drafts_are_edited_or_deleted() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let product = priced_product(&crm, &team.admin, "E-1", usd(100)).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Edit me").await;
    let mut quotes = quotes(&crm).await;
    let quote = draft(&mut quotes, rep, &deal, vec![line(&product, 1)]).await;
    quotes
        .send_quote(rep.req(pb::SendQuoteRequest {
            id: quote.id.clone(),
        }))
        .await
        .expect("sent");
    let edit = quotes
        .update_quote(rep.req(pb::UpdateQuoteRequest {
            quote: Some(pb::Quote {
                id: quote.id.clone(),
                name: "Changed after sending".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        }))
        .await
        .expect_err("sent quotes are frozen");
    assert_eq!(edit.code(), Code::FailedPrecondition);
    let resend = quotes
        .send_quote(rep.req(pb::SendQuoteRequest {
            id: quote.id.clone(),
        }))
        .await
        .expect_err("already sent");
    assert_eq!(resend.code(), Code::FailedPrecondition);
    let delete = quotes
        .delete_quote(rep.req(pb::DeleteQuoteRequest {
            id: quote.id.clone(),
        }))
        .await
        .expect_err("sent quotes stay");
    assert_eq!(delete.code(), Code::FailedPrecondition);
    let name: String = sqlx::query_scalar("SELECT name FROM quotes WHERE id = $1::uuid")
        .bind(&quote.id)
        .fetch_one(&db.pool)
        .await
        .expect("stored");
    assert_eq!(name, "Proposal");

    let scratch = draft(&mut quotes, rep, &deal, vec![line(&product, 3)]).await;
    quotes
        .delete_quote(rep.req(pb::DeleteQuoteRequest {
            id: scratch.id.clone(),
        }))
        .await
        .expect("drafts can be deleted");
    let gone = quotes
        .get_quote(rep.req(pb::GetQuoteRequest { id: scratch.id }))
        .await
        .expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_quote_input_names_the_field_and_writes_nothing() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let admin = &team.admin;
    let active = priced_product(&crm, admin, "OK-1", usd(100)).await;
    let retired = priced_product(&crm, admin, "OLD-1", usd(100)).await;
    products(&crm)
        .await
        .update_product(admin.req(pb::UpdateProductRequest {
            product: Some(pb::Product {
                id: retired.id.clone(),
                active: false,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["active".into()],
            }),
        }))
        .await
        .expect("retired");
    let rep = &team.rep;
    let deal = rep.create_opportunity("Bad input").await;
    let mut quotes = quotes(&crm).await;
    let create = |lines: Vec<pb::QuoteLineItem>| {
        rep.req(pb::CreateQuoteRequest {
            quote: Some(pb::Quote {
                opportunity_id: deal.id.clone(),
                name: "Bad".into(),
                line_items: lines,
                ..Default::default()
            }),
        })
    };

    let negative = quotes
        .create_quote(create(vec![
            line(&active, -1),
            pb::QuoteLineItem {
                discount_rate_ppm: 1_000_001,
                ..line(&active, 1)
            },
        ]))
        .await
        .expect_err("negative quantity and a discount over 100 %");
    assert_invalid(
        &negative,
        &[
            "quote.line_items[0].quantity",
            "quote.line_items[1].discount_rate_ppm",
        ],
    );
    let unknown = pb::Product {
        id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    let mismatched = quotes
        .create_quote(create(vec![
            pb::QuoteLineItem {
                unit_price: Some(money("EUR", 90, 0)),
                ..line(&active, 1)
            },
            line(&retired, 1),
            line(&unknown, 1),
            pb::QuoteLineItem {
                discount_amount: Some(usd(101)),
                ..line(&active, 1)
            },
        ]))
        .await
        .expect_err("currency mismatch, inactive and unknown products");
    assert_invalid(
        &mismatched,
        &[
            "quote.line_items[0].unit_price.currency_code",
            "quote.line_items[1].product_id",
            "quote.line_items[2].product_id",
        ],
    );
    let too_much = quotes
        .create_quote(create(vec![pb::QuoteLineItem {
            discount_amount: Some(usd(101)),
            ..line(&active, 1)
        }]))
        .await
        .expect_err("a discount above the line subtotal");
    assert_invalid(&too_much, &["quote.line_items[0].discount_amount"]);
    let no_deal = quotes
        .create_quote(rep.req(pb::CreateQuoteRequest {
            quote: Some(pb::Quote {
                opportunity_id: team.other_rep.create_opportunity("Not mine").await.id,
                name: "Sneaky".into(),
                line_items: vec![line(&active, 1)],
                ..Default::default()
            }),
        }))
        .await
        .expect_err("another rep's opportunity is invisible");
    assert_invalid(&no_deal, &["quote.opportunity_id"]);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM quotes WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        0
    );
    assert!(
        !db.outbox_types(team.tenant_id)
            .await
            .iter()
            .any(|t| t.starts_with("crm.quote."))
    );
}

#[tokio::test]
async fn quotes_follow_the_visibility_of_their_opportunity() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let product = priced_product(&crm, &team.admin, "V-1", usd(100)).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Private").await;
    let mut quotes = quotes(&crm).await;
    let quote = draft(&mut quotes, rep, &deal, vec![line(&product, 2)]).await;

    for (who, visible) in [
        (&team.rep, true),
        (&team.manager, true),
        (&team.admin, true),
        (&team.other_rep, false),
    ] {
        let got = quotes
            .get_quote(who.req(pb::GetQuoteRequest {
                id: quote.id.clone(),
            }))
            .await;
        assert_eq!(got.is_ok(), visible, "{:?}", got.err());
        let listed = quotes
            .list_quotes(who.req(pb::ListQuotesRequest {
                filter: format!("opportunity_id = \"{}\"", deal.id),
                ..Default::default()
            }))
            .await
            .expect("listed")
            .into_inner()
            .quotes;
        assert_eq!(listed.len(), usize::from(visible));
    }
    let hidden = quotes
        .send_quote(team.other_rep.req(pb::SendQuoteRequest {
            id: quote.id.clone(),
        }))
        .await
        .expect_err("invisible quotes cannot be sent");
    assert_eq!(hidden.code(), Code::NotFound);
    let support = quotes
        .get_quote(team.support.req(pb::GetQuoteRequest { id: quote.id }))
        .await
        .expect_err("support does not read deals");
    assert_eq!(support.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn concurrent_accepts_leave_exactly_one_accepted_quote() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let product = priced_product(&crm, &team.admin, "C-1", usd(10)).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Race").await;
    let mut client = quotes(&crm).await;
    let mut sent = Vec::new();
    for quantity in [1, 2] {
        let quote = draft(&mut client, rep, &deal, vec![line(&product, quantity)]).await;
        client
            .send_quote(rep.req(pb::SendQuoteRequest {
                id: quote.id.clone(),
            }))
            .await
            .expect("sent");
        sent.push(quote);
    }
    let (mut a, mut b) = (quotes(&crm).await, quotes(&crm).await);
    let accept = |id: &str| {
        rep.req(pb::AcceptQuoteRequest {
            id: id.to_owned(),
            update_opportunity_amount: None,
        })
    };
    let (first, second) = tokio::join!(
        a.accept_quote(accept(&sent[0].id)),
        b.accept_quote(accept(&sent[1].id))
    );
    let outcomes = [first, second];
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let loser = outcomes
        .iter()
        .find_map(|o| o.as_ref().err())
        .expect("one refused");
    assert_eq!(loser.code(), Code::FailedPrecondition);
    let total = winners[0].get_ref().total.clone();
    let amount = rep
        .opportunities()
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: deal.id,
            read_mask: None,
        }))
        .await
        .expect("read")
        .into_inner()
        .amount;
    assert_eq!(amount, total, "the winner's total is the deal amount");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM quotes WHERE tenant_id = $1 AND status = 'accepted'",
            team.tenant_id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_won_deal_carries_its_accepted_quote_products_with_exact_net_amounts() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let widget = priced_product(&crm, &team.admin, "WID-1", money("USD", 1_234, 560_000_000)).await;
    let support = priced_product(&crm, &team.admin, "SUP-1", money("USD", 99, 990_000_000)).await;
    let rep = &team.rep;
    let won_stage = rep.default_pipeline().await.stages[4].id.clone();
    let quoted = rep.create_opportunity("Quoted").await;
    let unquoted = rep.create_opportunity("Only a sent quote").await;
    let tap = Tap::bind(&["crm.opportunity.won"]).await;
    let mut quotes = quotes(&crm).await;
    let accepted = quotes
        .create_quote(rep.req(pb::CreateQuoteRequest {
            quote: Some(pb::Quote {
                opportunity_id: quoted.id.clone(),
                name: "Proposal".into(),
                line_items: vec![
                    pb::QuoteLineItem {
                        discount_rate_ppm: 125_000,
                        ..line(&widget, 3)
                    },
                    pb::QuoteLineItem {
                        discount_amount: Some(money("USD", 10, 0)),
                        ..line(&support, 2)
                    },
                ],
                // Neither the quote discount nor the tax is a product's.
                discount_rate_ppm: 100_000,
                tax_rate_ppm: 190_000,
                ..Default::default()
            }),
        }))
        .await
        .expect("quote created")
        .into_inner();
    let sent_only = draft(&mut quotes, rep, &unquoted, vec![line(&widget, 1)]).await;
    for quote in [&accepted, &sent_only] {
        quotes
            .send_quote(rep.req(pb::SendQuoteRequest {
                id: quote.id.clone(),
            }))
            .await
            .expect("sent");
    }
    quotes
        .accept_quote(rep.req(pb::AcceptQuoteRequest {
            id: accepted.id.clone(),
            update_opportunity_amount: None,
        }))
        .await
        .expect("accepted");
    for deal in [&quoted, &unquoted] {
        rep.opportunities()
            .move_stage(rep.req(pb::MoveStageRequest {
                id: deal.id.clone(),
                stage_id: won_stage.clone(),
                lost_reason: String::new(),
            }))
            .await
            .expect("won");
    }

    let received = tap.wait_for(team.tenant_id, 2).await;
    let won = |id: &str| -> pb::OpportunityClosed {
        let event = received
            .iter()
            .find(|e| e.aggregate_id == id)
            .expect("won event of the deal");
        payload(event)
    };
    // Product id, SKU, name, quantity, net amount (units, nanos).
    type Carried = (String, String, String, i64, (i64, i32));
    let products: Vec<Carried> = won(&quoted.id)
        .products
        .into_iter()
        .map(|p| {
            assert_eq!(
                p.net_amount.as_ref().map(|m| m.currency_code.as_str()),
                Some("USD")
            );
            (
                p.product_id,
                p.sku,
                p.name,
                p.quantity,
                minor(&p.net_amount),
            )
        })
        .collect();
    // 3 x 1234.56 = 3703.68, less 12.5 % (462.96) = 3240.72; 2 x 99.99 = 199.98, less 10.00.
    assert_eq!(
        products,
        [
            (
                widget.id.clone(),
                "WID-1".to_owned(),
                "Product WID-1".to_owned(),
                3,
                (3_240, 720_000_000)
            ),
            (
                support.id.clone(),
                "SUP-1".to_owned(),
                "Product SUP-1".to_owned(),
                2,
                (189, 980_000_000)
            ),
        ]
    );
    assert!(
        won(&unquoted.id).products.is_empty(),
        "a quote that was only sent is not the deal's"
    );
}
