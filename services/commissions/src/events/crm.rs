//! Deal outcomes from the CRM into the ledger.

use chrono::NaiveDate;
use events::{Event, HandlerError};
use proto::crm as pb;
use uuid::Uuid;

use crate::store::Tx;
use crate::store::ledger::{self, DealProduct, WonDeal};

pub async fn handle(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    // Clawbacks and late lines land by the day the event happened, not the day it was applied.
    let today = event.occurred_at.date_naive();
    match event.event_type() {
        "crm.opportunity.won" => {
            let closed: pb::OpportunityClosed = event.payload().map_err(HandlerError::permanent)?;
            let deal = won_deal(&closed).map_err(HandlerError::permanent)?;
            let written = ledger::record_win(tx, event.tenant_id, event.id, &deal, today).await?;
            tracing::debug!(deal_id = %deal.deal_id, lines = written, "deal credited");
        }
        "crm.opportunity.lost" => {
            let closed: pb::OpportunityClosed = event.payload().map_err(HandlerError::permanent)?;
            let deal_id = deal_id(closed.opportunity.as_ref()).map_err(HandlerError::permanent)?;
            ledger::reverse(tx, event.tenant_id, event.id, deal_id, today).await?;
        }
        "crm.opportunity.reopened" => {
            let reopened: pb::OpportunityReopened =
                event.payload().map_err(HandlerError::permanent)?;
            let deal_id =
                deal_id(reopened.opportunity.as_ref()).map_err(HandlerError::permanent)?;
            ledger::reverse(tx, event.tenant_id, event.id, deal_id, today).await?;
        }
        other => tracing::debug!(event_type = other, "ignoring event"),
    }
    Ok(())
}

fn deal_id(opportunity: Option<&pb::Opportunity>) -> Result<Uuid, String> {
    let id = opportunity.map(|o| o.id.as_str()).unwrap_or_default();
    Uuid::parse_str(id).map_err(|_| format!("opportunity id {id:?}"))
}

/// The won deal as the ledger needs it; malformed payloads are refused (dead-lettered).
pub fn won_deal(closed: &pb::OpportunityClosed) -> Result<WonDeal, String> {
    let deal_id = deal_id(closed.opportunity.as_ref())?;
    let amount = match &closed.amount {
        Some(money) => Some((money.currency_code.clone(), minor_units(money)?)),
        None => None,
    };
    let mut splits = Vec::with_capacity(closed.splits.len());
    for split in &closed.splits {
        let user = Uuid::parse_str(&split.user_id)
            .map_err(|_| format!("split user id {:?}", split.user_id))?;
        let percent = u32::try_from(split.percent)
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| format!("split percent {}", split.percent))?;
        splits.push((user, percent));
    }
    if splits.is_empty() {
        let owner = Uuid::parse_str(&closed.owner_id)
            .map_err(|_| format!("owner id {:?}", closed.owner_id))?;
        splits.push((owner, 100));
    }
    if splits.iter().map(|(_, p)| p).sum::<u32>() != 100 {
        return Err("split percents do not add up to 100".to_owned());
    }
    let mut products = Vec::with_capacity(closed.products.len());
    for (i, product) in closed.products.iter().enumerate() {
        let product_id = Uuid::parse_str(&product.product_id)
            .map_err(|_| format!("products[{i}].product_id {:?}", product.product_id))?;
        let net = product
            .net_amount
            .as_ref()
            .ok_or_else(|| format!("products[{i}].net_amount is missing"))?;
        // The CRM sends products in the deal's currency only; anything else is malformed.
        if amount
            .as_ref()
            .is_some_and(|(currency, _)| *currency != net.currency_code)
        {
            return Err(format!(
                "products[{i}].net_amount is in {:?}, not the deal's currency",
                net.currency_code
            ));
        }
        products.push(DealProduct {
            product_id,
            sku: product.sku.clone(),
            name: product.name.clone(),
            net: minor_units(net).map_err(|e| format!("products[{i}].net_amount: {e}"))?,
        });
    }
    let pipeline_id = Uuid::parse_str(&closed.pipeline_id).ok();
    let close_date = NaiveDate::parse_from_str(&closed.close_date, "%Y-%m-%d")
        .map_err(|_| format!("close date {:?}", closed.close_date))?;
    Ok(WonDeal {
        deal_id,
        amount,
        splits,
        pipeline_id,
        close_date,
        products,
    })
}

/// google.type.Money to minor units of its currency; sub-minor precision is refused.
pub(crate) fn minor_units(money: &proto::google::r#type::Money) -> Result<i64, String> {
    let currency = iso_currency::Currency::from_code(&money.currency_code)
        .ok_or_else(|| format!("currency {:?}", money.currency_code))?;
    let exponent = u32::from(currency.exponent().unwrap_or(0));
    let nanos_per_minor = 10_i64.pow(9 - exponent.min(9));
    let nanos = i64::from(money.nanos);
    if nanos % nanos_per_minor != 0 {
        return Err("amount has more precision than the currency".to_owned());
    }
    money
        .units
        .checked_mul(10_i64.pow(exponent))
        .and_then(|u| u.checked_add(nanos / nanos_per_minor))
        .filter(|m| *m >= 0)
        .ok_or_else(|| "amount out of range".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(splits: Vec<pb::CreditSplit>) -> pb::OpportunityClosed {
        pb::OpportunityClosed {
            opportunity: Some(pb::Opportunity {
                id: Uuid::now_v7().to_string(),
                ..Default::default()
            }),
            amount: Some(proto::google::r#type::Money {
                currency_code: "USD".into(),
                units: 1_234,
                nanos: 560_000_000,
            }),
            owner_id: Uuid::now_v7().to_string(),
            splits,
            pipeline_id: Uuid::now_v7().to_string(),
            close_date: "2026-05-01".into(),
            ..Default::default()
        }
    }

    #[test]
    fn amounts_become_minor_units_and_owners_get_full_credit() {
        let deal = won_deal(&closed(vec![])).expect("valid");
        assert_eq!(deal.amount, Some(("USD".to_owned(), 123_456)));
        assert_eq!(deal.splits.len(), 1);
        assert_eq!(deal.splits[0].1, 100);
    }

    fn product(product_id: String, units: i64, nanos: i32, currency: &str) -> pb::ClosedProduct {
        pb::ClosedProduct {
            product_id,
            sku: "WID-1".into(),
            name: "Widget".into(),
            quantity: 3,
            net_amount: Some(proto::google::r#type::Money {
                currency_code: currency.into(),
                units,
                nanos,
            }),
        }
    }

    #[test]
    fn products_become_net_amounts_in_minor_units() {
        let id = Uuid::now_v7();
        let mut event = closed(vec![]);
        event.products = vec![product(id.to_string(), 1_080, 50_000_000, "USD")];
        let deal = won_deal(&event).expect("valid");
        assert_eq!(
            deal.products,
            [DealProduct {
                product_id: id,
                sku: "WID-1".into(),
                name: "Widget".into(),
                net: 108_005,
            }]
        );
        assert!(
            won_deal(&closed(vec![]))
                .expect("valid")
                .products
                .is_empty()
        );
    }

    #[test]
    fn malformed_products_are_refused() {
        let id = Uuid::now_v7().to_string();
        for bad in [
            product("not-a-uuid".into(), 1, 0, "USD"),
            product(id.clone(), 1, 0, "EUR"),
            product(id.clone(), 1, 1, "USD"),
            pb::ClosedProduct {
                net_amount: None,
                ..product(id.clone(), 1, 0, "USD")
            },
        ] {
            let mut event = closed(vec![]);
            event.products = vec![bad.clone()];
            assert!(won_deal(&event).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_splits_are_refused() {
        let bad = closed(vec![pb::CreditSplit {
            user_id: Uuid::now_v7().to_string(),
            percent: 60,
        }]);
        assert!(won_deal(&bad).is_err());
        let mut sub_cent = closed(vec![]);
        if let Some(money) = sub_cent.amount.as_mut() {
            money.nanos = 1;
        }
        assert!(won_deal(&sub_cent).is_err());
    }
}
