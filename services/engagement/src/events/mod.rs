//! The events engagement consumes and publishes. Consumed: the CRM's records (owners and
//! accounts, [`crm`]), the CRM's touches through the mapping table ([`mapping`]), and the
//! tenants service's users and tenants ([`tenants`]). Exactly-once comes from
//! `events::Consumer`, which records the event id in the handler's transaction; a touch from an
//! event also carries the event id as its request id, so it is recorded once whatever happens.

pub mod crm;
pub mod mapping;
pub mod publish;
pub mod tenants;

use async_trait::async_trait;
use events::{Event, Handler, HandlerError};
use sqlx::{Postgres, Transaction};

/// Queue bindings besides the mapping table's event types.
const PROJECTION_BINDINGS: &[&str] = &[
    "crm.account.*",
    "crm.contact.*",
    "crm.lead.*",
    "crm.opportunity.created",
    "crm.opportunity.updated",
    "crm.opportunity.deleted",
    "crm.opportunity.stage_changed",
    "crm.opportunity.won",
    "crm.opportunity.lost",
    "crm.opportunity.reopened",
    "tenants.user.*",
    "tenants.tenant.provisioned",
    "tenants.tenant.updated",
];

/// Every binding of the handler: the projections' and one per row of the mapping table.
pub fn bindings() -> Vec<String> {
    let mut all: Vec<String> = PROJECTION_BINDINGS
        .iter()
        .map(|b| (*b).to_owned())
        .chain(mapping::TOUCHES.iter().map(|m| m.event_type.to_owned()))
        .collect();
    all.sort();
    all.dedup();
    all
}

pub struct EngagementHandler;

#[async_trait]
impl Handler for EngagementHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        if event.event_type().starts_with("tenants.") {
            return tenants::handle(event, tx).await;
        }
        // Projections first: a lead conversion names the contact its touch lands on.
        crm::project(event, tx).await?;
        mapping::record(event, tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mapped_event_type_is_bound() {
        let bound = bindings();
        for mapping in mapping::TOUCHES {
            assert!(
                bound.iter().any(|b| b == mapping.event_type),
                "{}",
                mapping.event_type
            );
        }
        assert!(bound.iter().any(|b| b == "crm.activity.logged"));
    }
}
