//! A participant's credit in a deal of another currency than their plan's, converted with the
//! tenant's rate table at the rates in force on the close date (`libs/fx`: exact, rounded once
//! per amount, half to even). Each amount is converted on its own, so a participant's products
//! may not add up to the converted credit to the last minor unit; the engine never assumes they do.

use chrono::NaiveDate;
use fx::{ConvertError, RateTable};

use super::engine::ProductCredit;
use super::money::Minor;

/// `credited` and each product's credit in `to`, or why they cannot be converted.
pub fn credit_in(
    table: &RateTable,
    from: &str,
    to: &str,
    close_date: NaiveDate,
    credited: Minor,
    products: Vec<ProductCredit>,
) -> Result<(Minor, Vec<ProductCredit>), ConvertError> {
    let credited = table.convert(credited, from, to, close_date)?;
    let products = products
        .into_iter()
        .map(|p| {
            Ok(ProductCredit {
                credited: table.convert(p.credited, from, to, close_date)?,
                ..p
            })
        })
        .collect::<Result<_, ConvertError>>()?;
    Ok((credited, products))
}

#[cfg(test)]
mod tests {
    use fx::Rate;
    use uuid::Uuid;

    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn a_credit_and_its_products_convert_at_the_close_date_rate() {
        let table = RateTable::new(
            "USD",
            [
                Rate {
                    currency_code: "EUR".into(),
                    effective_date: day(2026, 1, 1),
                    rate: 1_100_000_000,
                },
                Rate {
                    currency_code: "EUR".into(),
                    effective_date: day(2026, 6, 1),
                    rate: 1_200_000_000,
                },
            ],
        );
        let product = ProductCredit {
            product_id: Uuid::nil(),
            sku: "S".into(),
            name: "Seat".into(),
            credited: 333,
        };
        let (credited, products) = credit_in(
            &table,
            "EUR",
            "USD",
            day(2026, 5, 31),
            10_000,
            vec![product.clone()],
        )
        .expect("converts");
        assert_eq!(credited, 11_000);
        // 3.33 EUR × 1.1 = 3.663 → 3.66 USD.
        assert_eq!(products[0].credited, 366);
        let (credited, _) =
            credit_in(&table, "EUR", "USD", day(2026, 6, 1), 10_000, vec![]).expect("converts");
        assert_eq!(credited, 12_000);
        assert!(matches!(
            credit_in(
                &table,
                "EUR",
                "USD",
                day(2025, 12, 31),
                10_000,
                vec![product]
            ),
            Err(ConvertError::NoRate { .. })
        ));
    }
}
