//! The product catalog: products and price books with per-currency prices.

use chrono::{DateTime, Utc};
use iso_currency::Currency;
use uuid::Uuid;

pub const MAX_SKU_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const MAX_DESCRIPTION_LEN: usize = 2_000;
/// Name of the price book every tenant gets on first use.
pub const STANDARD_PRICE_BOOK_NAME: &str = "Standard";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductData {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: Uuid,
    pub data: ProductData,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

impl ProductData {
    pub fn apply(&self, patch: ProductPatch) -> Self {
        let c = self.clone();
        Self {
            sku: patch.sku.unwrap_or(c.sku),
            name: patch.name.unwrap_or(c.name),
            description: patch.description.unwrap_or(c.description),
            active: patch.active.unwrap_or(c.active),
        }
    }

    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("sku", self.sku != after.sku),
            ("name", self.name != after.name),
            ("description", self.description != after.description),
            ("active", self.active != after.active),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBookData {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBook {
    pub id: Uuid,
    pub data: PriceBookData,
    pub is_standard: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBookPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

impl PriceBookData {
    pub fn apply(&self, patch: PriceBookPatch) -> Self {
        let c = self.clone();
        Self {
            name: patch.name.unwrap_or(c.name),
            description: patch.description.unwrap_or(c.description),
        }
    }

    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("name", self.name != after.name),
            ("description", self.description != after.description),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

/// Which price book a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceBookRef {
    Standard,
    Id(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBookEntry {
    pub id: Uuid,
    pub price_book_id: Uuid,
    pub product_id: Uuid,
    pub currency: Currency,
    pub unit_price_minor: i64,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPriceBookEntry {
    pub price_book: PriceBookRef,
    pub product_id: Uuid,
    pub currency: Currency,
    pub unit_price_minor: i64,
}

/// A new unit price keeps the entry's currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceBookEntryPatch {
    pub unit_price: Option<(Currency, i64)>,
    pub active: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_patches_report_what_changed() {
        let before = ProductData {
            sku: "A-1".into(),
            name: "Widget".into(),
            description: String::new(),
            active: true,
        };
        let after = before.apply(ProductPatch {
            active: Some(false),
            name: Some("Widget".into()),
            ..Default::default()
        });
        assert_eq!(before.changed_fields(&after), ["active"]);
    }
}
