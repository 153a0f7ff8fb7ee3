//! Quotes.

use proto::crm as pb;

use super::{minor_money_to_pb, timestamp_to_pb};
use crate::domain::quote::{Quote, QuoteStatus};

pub fn quote_status_to_pb(s: QuoteStatus) -> pb::QuoteStatus {
    match s {
        QuoteStatus::Draft => pb::QuoteStatus::Draft,
        QuoteStatus::Sent => pb::QuoteStatus::Sent,
        QuoteStatus::Accepted => pb::QuoteStatus::Accepted,
        QuoteStatus::Rejected => pb::QuoteStatus::Rejected,
    }
}

pub fn quote_to_pb(q: Quote) -> pb::Quote {
    let c = q.currency;
    let amount = |minor: i64| Some(minor_money_to_pb(c, minor));
    let discount_amount = |minor: i64| (minor > 0).then(|| minor_money_to_pb(c, minor));
    pb::Quote {
        id: q.id.to_string(),
        opportunity_id: q.opportunity_id.to_string(),
        name: q.name,
        status: quote_status_to_pb(q.status) as i32,
        price_book_id: q.price_book_id.to_string(),
        currency_code: c.code().to_owned(),
        line_items: q
            .lines
            .into_iter()
            .map(|l| pb::QuoteLineItem {
                product_id: l.product_id.to_string(),
                quantity: l.quantity,
                unit_price: amount(l.unit_price_minor),
                discount_rate_ppm: l.discount.rate_ppm(),
                discount_amount: discount_amount(l.discount.amount_minor()),
                product_sku: l.product_sku,
                product_name: l.product_name,
                subtotal: amount(l.amounts.subtotal),
                discount: amount(l.amounts.discount),
                total: amount(l.amounts.total),
            })
            .collect(),
        discount_rate_ppm: q.discount.rate_ppm(),
        discount_amount: discount_amount(q.discount.amount_minor()),
        tax_rate_ppm: q.tax_rate.ppm(),
        subtotal: amount(q.amounts.subtotal),
        discount_total: amount(q.amounts.discount_total),
        tax: amount(q.amounts.tax),
        total: amount(q.amounts.total),
        create_time: Some(timestamp_to_pb(q.created_at)),
        update_time: Some(timestamp_to_pb(q.updated_at)),
        owner_id: q.owner_id.to_string(),
    }
}
