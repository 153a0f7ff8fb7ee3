//! AIP-132/158 list plumbing shared by every List RPC: which fields a listing filters and sorts
//! on, `order_by` parsing, and keyset cursors (the sort value and id of the last row served).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filter::{Condition, Field};

/// What one List RPC exposes.
#[derive(Debug)]
pub struct Listing {
    /// Resource name, part of every page token's fingerprint.
    pub resource: &'static str,
    pub fields: &'static [Field],
    /// The first key is the default order.
    pub sort_keys: &'static [SortKey],
}

/// A sortable field and the trusted SQL expression it sorts by.
#[derive(Debug, PartialEq, Eq)]
pub struct SortKey {
    pub name: &'static str,
    pub expr: &'static str,
    pub kind: KeyKind,
}

/// SQL type of a sort expression (NOT NULL, so keyset comparisons are total).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Text,
    Int4,
    Int8,
    Timestamp,
    Date,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub key: &'static SortKey,
    pub descending: bool,
}

impl Listing {
    /// `field [asc|desc]`; empty means the first sort key, ascending.
    pub fn parse_order(&'static self, input: &str) -> Result<Order, String> {
        let words: Vec<&str> = input.split_whitespace().collect();
        let known = || {
            self.sort_keys
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, direction) = match words.as_slice() {
            [] => (self.sort_keys[0].name, "asc"),
            [name] => (*name, "asc"),
            [name, direction] => (*name, *direction),
            _ => {
                return Err(format!(
                    "order by one field, optionally followed by desc (fields: {})",
                    known()
                ));
            }
        };
        let key = self
            .sort_keys
            .iter()
            .find(|k| k.name == name)
            .ok_or_else(|| format!("cannot order by {name:?} (fields: {})", known()))?;
        let descending = match direction {
            "asc" => false,
            "desc" => true,
            other => return Err(format!("unknown direction {other:?} (asc or desc)")),
        };
        Ok(Order { key, descending })
    }
}

/// A sort value, as carried in page tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyValue {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    Date(NaiveDate),
}

impl KeyValue {
    pub fn fits(&self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (KeyValue::Text(_), KeyKind::Text)
                | (KeyValue::Int(_), KeyKind::Int4 | KeyKind::Int8)
                | (KeyValue::Time(_), KeyKind::Timestamp)
                | (KeyValue::Date(_), KeyKind::Date)
        )
    }
}

/// Where a page starts: after this sort value and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: KeyValue,
    pub id: Uuid,
}

/// One page request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub filter: Option<Condition>,
    pub order: Order,
    pub after: Option<Cursor>,
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Set when more rows follow.
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    static LISTING: Listing = Listing {
        resource: "things",
        fields: &[],
        sort_keys: &[
            SortKey {
                name: "create_time",
                expr: "t.created_at",
                kind: KeyKind::Timestamp,
            },
            SortKey {
                name: "name",
                expr: "t.name",
                kind: KeyKind::Text,
            },
        ],
    };

    #[test]
    fn order_by_takes_one_known_field_and_a_direction() {
        let default = LISTING.parse_order("").expect("default");
        assert_eq!(
            (default.key.name, default.descending),
            ("create_time", false)
        );
        let by_name = LISTING.parse_order(" name  desc ").expect("valid");
        assert_eq!((by_name.key.name, by_name.descending), ("name", true));
        assert!(LISTING.parse_order("password").is_err());
        assert!(LISTING.parse_order("name sideways").is_err());
        assert!(LISTING.parse_order("name desc, create_time").is_err());
    }

    #[test]
    fn cursor_values_must_fit_the_sort_key() {
        assert!(KeyValue::Int(3).fits(KeyKind::Int4));
        assert!(!KeyValue::Text("x".into()).fits(KeyKind::Timestamp));
    }
}
