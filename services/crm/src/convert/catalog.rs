//! Products, price books and their entries; amounts kept in minor units.

use proto::crm as pb;
use proto::google::r#type::Money as PbMoney;

use super::timestamp_to_pb;
use crate::domain::catalog::{PriceBook, PriceBookEntry, Product};
use crate::domain::money::NANOS_PER_UNIT;
use crate::domain::pricing::minor_digits;

pub fn product_to_pb(p: Product) -> pb::Product {
    pb::Product {
        id: p.id.to_string(),
        sku: p.data.sku,
        name: p.data.name,
        description: p.data.description,
        active: p.data.active,
        create_time: Some(timestamp_to_pb(p.created_at)),
        update_time: Some(timestamp_to_pb(p.updated_at)),
    }
}

pub fn price_book_to_pb(b: PriceBook) -> pb::PriceBook {
    pb::PriceBook {
        id: b.id.to_string(),
        name: b.data.name,
        description: b.data.description,
        is_standard: b.is_standard,
        create_time: Some(timestamp_to_pb(b.created_at)),
        update_time: Some(timestamp_to_pb(b.updated_at)),
    }
}

pub fn price_book_entry_to_pb(e: PriceBookEntry) -> pb::PriceBookEntry {
    pb::PriceBookEntry {
        id: e.id.to_string(),
        price_book_id: e.price_book_id.to_string(),
        product_id: e.product_id.to_string(),
        unit_price: Some(minor_money_to_pb(e.currency, e.unit_price_minor)),
        active: e.active,
        create_time: Some(timestamp_to_pb(e.created_at)),
        update_time: Some(timestamp_to_pb(e.updated_at)),
    }
}

/// An amount in minor units as google.type.Money (exact: every i64 of minor units fits).
pub fn minor_money_to_pb(currency: iso_currency::Currency, minor: i64) -> PbMoney {
    let scale = 10_i64.pow(minor_digits(currency));
    let per_minor = i64::from(NANOS_PER_UNIT) / scale;
    PbMoney {
        currency_code: currency.code().to_owned(),
        units: minor / scale,
        // |minor % scale| < scale, so the nanos stay below 1e9.
        nanos: i32::try_from((minor % scale) * per_minor).unwrap_or(0),
    }
}

/// A sum in minor units as google.type.Money; `None` beyond what google.type.Money holds.
pub fn sum_money_to_pb(currency: iso_currency::Currency, minor: i128) -> Option<PbMoney> {
    let scale = 10_i128.pow(minor_digits(currency));
    let per_minor = i128::from(NANOS_PER_UNIT) / scale;
    Some(PbMoney {
        currency_code: currency.code().to_owned(),
        units: i64::try_from(minor / scale).ok()?,
        nanos: i32::try_from((minor % scale) * per_minor).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_become_exact_money() {
        use iso_currency::Currency;
        let cents = minor_money_to_pb(Currency::USD, 12_345);
        assert_eq!((cents.units, cents.nanos), (123, 450_000_000));
        let yen = minor_money_to_pb(Currency::JPY, 500);
        assert_eq!((yen.units, yen.nanos), (500, 0));
        let fils = minor_money_to_pb(Currency::BHD, 1_005);
        assert_eq!((fils.units, fils.nanos), (1, 5_000_000));
        let huge =
            sum_money_to_pb(Currency::USD, i128::from(i64::MAX) * 10).expect("fits in units");
        assert_eq!((huge.units, huge.nanos), (i64::MAX / 10, 700_000_000));
        assert!(sum_money_to_pb(Currency::USD, i128::MAX).is_none());
    }
}
