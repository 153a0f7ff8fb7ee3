//! Events of the product catalog and quotes: `crm.product.*`, `crm.price_book.*`,
//! `crm.price_book_entry.*` and `crm.quote.*`.

use events::NewEvent;
use proto::crm as pb;
use uuid::Uuid;

use crate::convert;
use crate::domain::catalog::{PriceBook, PriceBookEntry, Product};
use crate::domain::quote::{Quote, QuoteAction};

pub type Result<T> = std::result::Result<T, events::Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Deleted => "deleted",
        }
    }
}

fn fields(changed: &[&str]) -> Vec<String> {
    changed.iter().map(|f| (*f).to_owned()).collect()
}

/// `crm.product.created|updated|deleted`.
pub fn product_changed(
    tenant_id: Uuid,
    actor_id: Uuid,
    change: Change,
    product: Product,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let id = product.id;
    NewEvent::new(
        &format!("crm.product.{}", change.verb()),
        tenant_id,
        "product",
        id,
        &pb::ProductChanged {
            product: Some(convert::product_to_pb(product)),
            changed_fields: fields(changed_fields),
            actor_id: actor_id.to_string(),
        },
    )
}

/// `crm.price_book.<verb>`, or `crm.price_book_entry.<verb>` when `entry` is given; both on the
/// price book's aggregate, so consumers see a book's changes in order. `actor_id` is `None` for
/// the standard price book the CRM creates itself.
pub fn price_book_changed(
    tenant_id: Uuid,
    actor_id: Option<Uuid>,
    change: Change,
    book: PriceBook,
    entry: Option<PriceBookEntry>,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let id = book.id;
    let entity = if entry.is_some() {
        "price_book_entry"
    } else {
        "price_book"
    };
    NewEvent::new(
        &format!("crm.{entity}.{}", change.verb()),
        tenant_id,
        "price_book",
        id,
        &pb::PriceBookChanged {
            price_book: Some(convert::price_book_to_pb(book)),
            entry: entry.map(convert::price_book_entry_to_pb),
            changed_fields: fields(changed_fields),
            actor_id: actor_id.map(|a| a.to_string()).unwrap_or_default(),
        },
    )
}

/// What happened to a quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteEvent {
    Changed(Change),
    Status(QuoteAction),
}

/// `crm.quote.created|updated|deleted|sent|accepted|rejected`.
pub fn quote_changed(
    tenant_id: Uuid,
    actor_id: Uuid,
    event: QuoteEvent,
    quote: Quote,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let verb = match event {
        QuoteEvent::Changed(change) => change.verb(),
        QuoteEvent::Status(action) => action.past_tense(),
    };
    let id = quote.id;
    NewEvent::new(
        &format!("crm.quote.{verb}"),
        tenant_id,
        "quote",
        id,
        &pb::QuoteChanged {
            quote: Some(convert::quote_to_pb(quote)),
            changed_fields: fields(changed_fields),
            actor_id: actor_id.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use iso_currency::Currency;
    use prost::Message;

    use super::*;
    use crate::domain::pricing::{Discount, QuoteAmounts, Rate};
    use crate::domain::quote::QuoteStatus;

    fn quote() -> Quote {
        Quote {
            id: Uuid::now_v7(),
            opportunity_id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            name: "Q".into(),
            status: QuoteStatus::Accepted,
            price_book_id: Uuid::now_v7(),
            currency: Currency::EUR,
            lines: Vec::new(),
            discount: Discount::None,
            tax_rate: Rate::default(),
            amounts: QuoteAmounts {
                subtotal: 12_345,
                discount_total: 0,
                tax: 0,
                total: 12_345,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn quote_events_are_routed_by_what_happened() {
        let q = quote();
        let accepted = quote_changed(
            Uuid::now_v7(),
            Uuid::now_v7(),
            QuoteEvent::Status(QuoteAction::Accept),
            q.clone(),
            &["status"],
        )
        .expect("event");
        assert_eq!(accepted.event_type(), "crm.quote.accepted");
        let envelope = accepted.to_envelope();
        let payload = pb::QuoteChanged::decode(envelope.payload.expect("payload").value.as_slice())
            .expect("decodes");
        let total = payload.quote.and_then(|q| q.total).expect("total");
        assert_eq!(
            (total.currency_code.as_str(), total.units, total.nanos),
            ("EUR", 123, 450_000_000)
        );
        let created = quote_changed(
            Uuid::now_v7(),
            Uuid::now_v7(),
            QuoteEvent::Changed(Change::Created),
            q,
            &[],
        )
        .expect("event");
        assert_eq!(created.event_type(), "crm.quote.created");
    }

    #[test]
    fn entry_events_travel_on_their_price_book() {
        let book = PriceBook {
            id: Uuid::now_v7(),
            data: crate::domain::catalog::PriceBookData {
                name: "Standard".into(),
                description: String::new(),
            },
            is_standard: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let entry = PriceBookEntry {
            id: Uuid::now_v7(),
            price_book_id: book.id,
            product_id: Uuid::now_v7(),
            currency: Currency::USD,
            unit_price_minor: 999,
            active: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let event = price_book_changed(
            Uuid::now_v7(),
            None,
            Change::Updated,
            book.clone(),
            Some(entry),
            &["unit_price"],
        )
        .expect("event");
        assert_eq!(event.event_type(), "crm.price_book_entry.updated");
        let plain = price_book_changed(Uuid::now_v7(), None, Change::Created, book, None, &[])
            .expect("event");
        assert_eq!(plain.event_type(), "crm.price_book.created");
    }
}
