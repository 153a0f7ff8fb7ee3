//! Builders of the events the CRM publishes. Routing keys follow `crm.<entity>.<event>`.

use chrono::NaiveDate;
use events::NewEvent;
use proto::crm as pb;
use uuid::Uuid;

use crate::convert;
use crate::domain::account::Account;
use crate::domain::contact::Contact;
use crate::domain::day;
use crate::domain::lead::Lead;
use crate::domain::lost_reason::LostReason;
use crate::domain::opportunity::{MoveOutcome, Opportunity};
use crate::domain::pipeline::{Pipeline, StageCategory};
use crate::domain::quote::ClosedProduct;
use crate::domain::record::Record;

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

/// `crm.<entity>.created|updated|deleted` with the record and the fields that changed.
pub fn record_changed(
    tenant_id: Uuid,
    actor_id: Uuid,
    change: Change,
    record: Record,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let kind = record.kind();
    let id = record.id();
    let payload = pb::RecordChanged {
        record_type: convert::record_kind_to_pb(kind) as i32,
        record: Some(match record {
            Record::Account(r) => pb::record_changed::Record::Account(convert::account_to_pb(r)),
            Record::Contact(r) => pb::record_changed::Record::Contact(convert::contact_to_pb(r)),
            Record::Lead(r) => pb::record_changed::Record::Lead(convert::lead_to_pb(r)),
            Record::Opportunity(r) => {
                pb::record_changed::Record::Opportunity(convert::opportunity_to_pb(r))
            }
        }),
        changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
        actor_id: actor_id.to_string(),
    };
    NewEvent::new(
        &format!("crm.{}.{}", kind.name(), change.verb()),
        tenant_id,
        kind.name(),
        id,
        &payload,
    )
}

/// `crm.lead.converted`.
pub fn lead_converted(
    tenant_id: Uuid,
    actor_id: Uuid,
    lead: Lead,
    account: Account,
    contact: Contact,
    opportunity: Option<Opportunity>,
) -> Result<NewEvent> {
    let lead_id = lead.id;
    let payload = pb::LeadConverted {
        lead: Some(convert::lead_to_pb(lead)),
        account: Some(convert::account_to_pb(account)),
        contact: Some(convert::contact_to_pb(contact)),
        opportunity: opportunity.map(convert::opportunity_to_pb),
        actor_id: actor_id.to_string(),
    };
    NewEvent::new("crm.lead.converted", tenant_id, "lead", lead_id, &payload)
}

/// What a stage move did, beyond the moved opportunity itself.
#[derive(Debug, Clone, Copy)]
pub struct StageMove<'a> {
    pub from_stage_id: Uuid,
    pub seconds_in_previous_stage: i64,
    pub outcomes: &'a [MoveOutcome],
    /// The day of the move: a closing deal's close date.
    pub today: NaiveDate,
    /// The accepted quote's lines, for the won / lost event.
    pub products: &'a [ClosedProduct],
}

/// A stage move: `crm.opportunity.stage_changed`, then `reopened`, `won` or `lost` as the move
/// means, in that order (all on the opportunity's aggregate, so consumers see them in order).
pub fn stage_moved(
    tenant_id: Uuid,
    actor_id: Uuid,
    opportunity: &Opportunity,
    moved: StageMove<'_>,
) -> Result<Vec<NewEvent>> {
    let id = opportunity.id;
    let proto = convert::opportunity_to_pb(opportunity.clone());
    let mut events = vec![NewEvent::new(
        "crm.opportunity.stage_changed",
        tenant_id,
        "opportunity",
        id,
        &pb::OpportunityStageChanged {
            opportunity: Some(proto.clone()),
            from_stage_id: moved.from_stage_id.to_string(),
            to_stage_id: opportunity.stage.id.to_string(),
            actor_id: actor_id.to_string(),
            seconds_in_previous_stage: moved.seconds_in_previous_stage,
        },
    )?];
    for outcome in moved.outcomes {
        let event = match outcome {
            MoveOutcome::Reopened { previous } => NewEvent::new(
                "crm.opportunity.reopened",
                tenant_id,
                "opportunity",
                id,
                &pb::OpportunityReopened {
                    opportunity: Some(proto.clone()),
                    previous_state: previous.as_str().to_owned(),
                    actor_id: actor_id.to_string(),
                },
            )?,
            MoveOutcome::Won | MoveOutcome::Lost => {
                let event_type = if *outcome == MoveOutcome::Won {
                    "crm.opportunity.won"
                } else {
                    "crm.opportunity.lost"
                };
                NewEvent::new(
                    event_type,
                    tenant_id,
                    "opportunity",
                    id,
                    &closed(opportunity, proto.clone(), actor_id, moved),
                )?
            }
        };
        events.push(event);
    }
    Ok(events)
}

/// Everything commissions needs about a closed deal.
fn closed(
    opportunity: &Opportunity,
    proto: pb::Opportunity,
    actor_id: Uuid,
    moved: StageMove<'_>,
) -> pb::OpportunityClosed {
    pb::OpportunityClosed {
        opportunity: Some(proto),
        amount: opportunity.data.amount.map(convert::money_to_pb),
        owner_id: opportunity.data.owner_id.to_string(),
        splits: opportunity
            .effective_splits()
            .into_iter()
            .map(convert::split_to_pb)
            .collect(),
        pipeline_id: opportunity.pipeline_id.to_string(),
        close_date: day::format(moved.today),
        lost_reason: if opportunity.stage.category == StageCategory::Lost {
            opportunity.data.lost_reason.clone()
        } else {
            String::new()
        },
        actor_id: actor_id.to_string(),
        products: moved
            .products
            .iter()
            .map(|p| pb::ClosedProduct {
                product_id: p.product_id.to_string(),
                sku: p.sku.clone(),
                name: p.name.clone(),
                quantity: p.quantity,
                net_amount: Some(convert::money_to_pb(p.net)),
            })
            .collect(),
    }
}

/// `crm.pipeline.created`; `actor_id` is `None` for the default pipeline the CRM creates itself.
pub fn pipeline_created(
    tenant_id: Uuid,
    actor_id: Option<Uuid>,
    pipeline: Pipeline,
) -> Result<NewEvent> {
    let id = pipeline.id;
    NewEvent::new(
        "crm.pipeline.created",
        tenant_id,
        "pipeline",
        id,
        &pb::PipelineCreated {
            pipeline: Some(convert::pipeline_to_pb(pipeline)),
            actor_id: actor_id.map(|a| a.to_string()).unwrap_or_default(),
        },
    )
}

/// `crm.pipeline.updated`: an admin's change to a pipeline or its stages.
pub fn pipeline_updated(
    tenant_id: Uuid,
    actor_id: Uuid,
    pipeline: Pipeline,
    changed_fields: &[&str],
) -> Result<NewEvent> {
    let id = pipeline.id;
    NewEvent::new(
        "crm.pipeline.updated",
        tenant_id,
        "pipeline",
        id,
        &pb::PipelineUpdated {
            pipeline: Some(convert::pipeline_to_pb(pipeline)),
            changed_fields: changed_fields.iter().map(|f| (*f).to_owned()).collect(),
            actor_id: actor_id.to_string(),
        },
    )
}

/// `crm.lost_reason.created|updated|deleted`.
pub fn lost_reason_changed(
    tenant_id: Uuid,
    actor_id: Uuid,
    change: Change,
    reason: LostReason,
) -> Result<NewEvent> {
    let id = reason.id;
    NewEvent::new(
        &format!("crm.lost_reason.{}", change.verb()),
        tenant_id,
        "lost_reason",
        id,
        &pb::LostReasonChanged {
            lost_reason: Some(convert::lost_reason_to_pb(reason)),
            actor_id: actor_id.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use prost::Message;

    use super::*;
    use crate::domain::opportunity::{CreditSplit, CurrentStage, OpportunityData};

    fn won_deal(splits: Vec<CreditSplit>) -> Opportunity {
        Opportunity {
            id: Uuid::now_v7(),
            data: OpportunityData {
                name: "Deal".into(),
                amount: Some(crate::domain::Money::parse("USD", 12_000, 0).expect("money")),
                close_date: NaiveDate::from_ymd_opt(2026, 5, 1).expect("date"),
                owner_id: Uuid::now_v7(),
                account_id: None,
                primary_contact_id: None,
                lost_reason: String::new(),
                splits,
                custom_fields: Default::default(),
                forecast_category: None,
            },
            pipeline_id: Uuid::now_v7(),
            stage: CurrentStage {
                id: Uuid::now_v7(),
                probability: 100,
                category: StageCategory::Won,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
            stage_entered_at: Utc::now(),
        }
    }

    fn payload<M: Message + Default>(event: &NewEvent) -> M {
        let envelope = event.to_envelope();
        M::decode(envelope.payload.expect("payload").value.as_slice()).expect("decodes")
    }

    #[test]
    fn winning_announces_the_stage_change_then_the_win_with_splits() {
        let deal = won_deal(vec![]);
        let today = NaiveDate::from_ymd_opt(2026, 4, 2).expect("date");
        let events = stage_moved(
            Uuid::now_v7(),
            Uuid::now_v7(),
            &deal,
            StageMove {
                from_stage_id: Uuid::now_v7(),
                seconds_in_previous_stage: 42,
                outcomes: &[MoveOutcome::Won],
                today,
                products: &[],
            },
        )
        .expect("events");
        let types: Vec<&str> = events.iter().map(NewEvent::event_type).collect();
        assert_eq!(
            types,
            ["crm.opportunity.stage_changed", "crm.opportunity.won"]
        );
        let won: pb::OpportunityClosed = payload(&events[1]);
        assert_eq!(won.owner_id, deal.data.owner_id.to_string());
        assert_eq!(won.close_date, "2026-04-02");
        assert_eq!(won.amount.map(|m| m.units), Some(12_000));
        assert_eq!(won.splits.len(), 1);
        assert_eq!(won.splits[0].percent, 100);
        let changed: pb::OpportunityStageChanged = payload(&events[0]);
        assert_eq!(changed.seconds_in_previous_stage, 42);
    }

    #[test]
    fn shared_credit_is_announced_as_given() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let deal = won_deal(vec![
            CreditSplit {
                user_id: a,
                percent: 70,
            },
            CreditSplit {
                user_id: b,
                percent: 30,
            },
        ]);
        let events = stage_moved(
            Uuid::now_v7(),
            Uuid::now_v7(),
            &deal,
            StageMove {
                from_stage_id: Uuid::now_v7(),
                seconds_in_previous_stage: 0,
                outcomes: &[MoveOutcome::Won],
                today: NaiveDate::MIN,
                products: &[],
            },
        )
        .expect("events");
        let won: pb::OpportunityClosed = payload(&events[1]);
        let total: i32 = won.splits.iter().map(|s| s.percent).sum();
        assert_eq!(total, 100);
        assert_eq!(won.splits.len(), 2);
    }

    #[test]
    fn closing_carries_the_accepted_quote_products_with_exact_net_amounts() {
        let deal = won_deal(vec![]);
        let products = [
            ClosedProduct {
                product_id: Uuid::now_v7(),
                sku: "WID-1".into(),
                name: "Widget".into(),
                quantity: 3,
                net: crate::domain::Money::parse("USD", 1_080, 50_000_000).expect("money"),
            },
            ClosedProduct {
                product_id: Uuid::now_v7(),
                sku: "SUP-1".into(),
                name: "Support".into(),
                quantity: 1,
                net: crate::domain::Money::parse("USD", 500, 0).expect("money"),
            },
        ];
        for (outcomes, closed_at) in [
            (&[MoveOutcome::Won][..], 1),
            (
                &[
                    MoveOutcome::Reopened {
                        previous: StageCategory::Won,
                    },
                    MoveOutcome::Lost,
                ][..],
                2,
            ),
        ] {
            let events = stage_moved(
                Uuid::now_v7(),
                Uuid::now_v7(),
                &deal,
                StageMove {
                    from_stage_id: Uuid::now_v7(),
                    seconds_in_previous_stage: 0,
                    outcomes,
                    today: NaiveDate::MIN,
                    products: &products,
                },
            )
            .expect("events");
            let closed: pb::OpportunityClosed = payload(&events[closed_at]);
            let carried: Vec<(String, &str, &str, i64, i64, i32)> = closed
                .products
                .iter()
                .map(|p| {
                    let net = p.net_amount.as_ref().expect("net amount");
                    assert_eq!(net.currency_code, "USD");
                    (
                        p.product_id.clone(),
                        p.sku.as_str(),
                        p.name.as_str(),
                        p.quantity,
                        net.units,
                        net.nanos,
                    )
                })
                .collect();
            assert_eq!(
                carried,
                [
                    (
                        products[0].product_id.to_string(),
                        "WID-1",
                        "Widget",
                        3,
                        1_080,
                        50_000_000
                    ),
                    (
                        products[1].product_id.to_string(),
                        "SUP-1",
                        "Support",
                        1,
                        500,
                        0
                    ),
                ]
            );
        }
        // Without an accepted quote a closed deal carries no products.
        let events = stage_moved(
            Uuid::now_v7(),
            Uuid::now_v7(),
            &deal,
            StageMove {
                from_stage_id: Uuid::now_v7(),
                seconds_in_previous_stage: 0,
                outcomes: &[MoveOutcome::Won],
                today: NaiveDate::MIN,
                products: &[],
            },
        )
        .expect("events");
        let won: pb::OpportunityClosed = payload(&events[1]);
        assert!(won.products.is_empty());
    }

    #[test]
    fn record_events_are_routed_by_entity_and_change() {
        let deal = won_deal(vec![]);
        let event = record_changed(
            Uuid::now_v7(),
            Uuid::now_v7(),
            Change::Updated,
            Record::Opportunity(deal),
            &["amount"],
        )
        .expect("event");
        assert_eq!(event.event_type(), "crm.opportunity.updated");
        let changed: pb::RecordChanged = payload(&event);
        assert_eq!(changed.changed_fields, ["amount"]);
        assert_eq!(changed.record_type, pb::RecordType::Opportunity as i32);
    }
}
