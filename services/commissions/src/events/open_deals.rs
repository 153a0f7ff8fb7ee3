//! Keeps `commission_deals` (the estimator's view of the CRM's opportunities) current from every
//! event carrying an opportunity: created, updated, stage moves, wins, losses, reopenings and
//! lead conversions; a deleted opportunity is removed.

use events::{Event, HandlerError};
use proto::crm as pb;
use uuid::Uuid;

use super::crm::minor_units;
use crate::domain::estimate::OpenDeal;
use crate::store::{Tx, open_deals};

pub async fn project(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let opportunity = match event.event_type() {
        "crm.opportunity.created" | "crm.opportunity.updated" | "crm.opportunity.deleted" => {
            let changed: pb::RecordChanged = event.payload().map_err(HandlerError::permanent)?;
            match changed.record {
                Some(pb::record_changed::Record::Opportunity(o)) => Some(o),
                _ => None,
            }
        }
        "crm.opportunity.stage_changed" => {
            let moved: pb::OpportunityStageChanged =
                event.payload().map_err(HandlerError::permanent)?;
            moved.opportunity
        }
        "crm.opportunity.won" | "crm.opportunity.lost" => {
            let closed: pb::OpportunityClosed = event.payload().map_err(HandlerError::permanent)?;
            closed.opportunity
        }
        "crm.opportunity.reopened" => {
            let reopened: pb::OpportunityReopened =
                event.payload().map_err(HandlerError::permanent)?;
            reopened.opportunity
        }
        "crm.lead.converted" => {
            let converted: pb::LeadConverted = event.payload().map_err(HandlerError::permanent)?;
            converted.opportunity
        }
        _ => None,
    };
    let Some(opportunity) = opportunity else {
        return Ok(());
    };
    // The estimator's view must never hold the ledger up: an opportunity it cannot read (a
    // payload without owner, say) is left out, and the event still reaches the ledger.
    let deal = match open_deal(&opportunity) {
        Ok(deal) => deal,
        Err(reason) => {
            tracing::warn!(event_id = %event.id, %reason, "opportunity left out of the estimator's view");
            return Ok(());
        }
    };
    if event.event_type() == "crm.opportunity.deleted" {
        open_deals::delete(tx, deal.deal_id).await?;
    } else {
        let state = match opportunity.state.as_str() {
            "won" => "won",
            "lost" => "lost",
            _ => "open",
        };
        open_deals::upsert(tx, event.tenant_id, &deal, state, event.occurred_at).await?;
    }
    Ok(())
}

/// The deal as the estimator needs it, or why it cannot be read.
pub fn open_deal(opportunity: &pb::Opportunity) -> Result<OpenDeal, String> {
    let deal_id = Uuid::parse_str(&opportunity.id)
        .map_err(|_| format!("opportunity id {:?}", opportunity.id))?;
    let amount = match &opportunity.amount {
        Some(money) => Some((money.currency_code.clone(), minor_units(money)?)),
        None => None,
    };
    let mut splits = Vec::with_capacity(opportunity.splits.len());
    for split in &opportunity.splits {
        let user = Uuid::parse_str(&split.user_id)
            .map_err(|_| format!("split user id {:?}", split.user_id))?;
        let percent =
            u32::try_from(split.percent).map_err(|_| format!("split percent {}", split.percent))?;
        splits.push((user, percent));
    }
    if splits.is_empty() {
        let owner = Uuid::parse_str(&opportunity.owner_id)
            .map_err(|_| format!("owner id {:?}", opportunity.owner_id))?;
        splits.push((owner, 100));
    }
    let pipeline_id = if opportunity.pipeline_id.is_empty() {
        None
    } else {
        Some(
            Uuid::parse_str(&opportunity.pipeline_id)
                .map_err(|_| format!("pipeline id {:?}", opportunity.pipeline_id))?,
        )
    };
    Ok(OpenDeal {
        deal_id,
        amount,
        splits,
        pipeline_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deal_without_splits_credits_its_owner_and_keeps_its_amount_in_minor_units() {
        let owner = Uuid::now_v7();
        let deal = open_deal(&pb::Opportunity {
            id: Uuid::now_v7().to_string(),
            owner_id: owner.to_string(),
            amount: Some(proto::google::r#type::Money {
                currency_code: "EUR".into(),
                units: 1_250,
                nanos: 500_000_000,
            }),
            ..Default::default()
        })
        .expect("deal");
        assert_eq!(deal.splits, [(owner, 100)]);
        assert_eq!(deal.amount, Some(("EUR".to_owned(), 125_050)));
        assert_eq!(deal.pipeline_id, None);
        let bad = open_deal(&pb::Opportunity {
            id: "nope".into(),
            ..Default::default()
        });
        assert!(bad.is_err());
    }
}
