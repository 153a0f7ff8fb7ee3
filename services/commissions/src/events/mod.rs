//! The events commissions consumes: the CRM's opportunities (kept for the estimator,
//! `open_deals`) and deal outcomes (wins credit the split owners,
//! reopenings and losses claw back), the tenants service's users (the management chain and
//! who may hold a quota), tenants (name, fiscal year, currency, suspension) and their exchange
//! rates. Exactly-once comes from
//! `events::Consumer`, which records the event id in the handler's transaction; a second win of
//! a deal already in force creates nothing.

pub mod crm;
pub mod open_deals;
pub mod publish;
pub mod tenants;

use async_trait::async_trait;
use events::{Event, Handler, HandlerError};
use sqlx::{Postgres, Transaction};

/// Queue bindings of the handler.
pub const BINDINGS: &[&str] = &[
    "crm.opportunity.created",
    "crm.opportunity.updated",
    "crm.opportunity.deleted",
    "crm.opportunity.stage_changed",
    "crm.lead.converted",
    "crm.opportunity.won",
    "crm.opportunity.lost",
    "crm.opportunity.reopened",
    "tenants.user.*",
    "tenants.tenant.provisioned",
    "tenants.tenant.updated",
    "tenants.tenant.suspended",
    "tenants.tenant.reactivated",
    rate_projection::BINDING,
];

pub struct CommissionsHandler;

#[async_trait]
impl Handler for CommissionsHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        if event.event_type().starts_with("crm.") {
            // The estimator's view of the deal first, then the ledger (wins, losses, reopenings).
            open_deals::project(event, tx).await?;
            crm::handle(event, tx).await
        } else {
            tenants::handle(event, tx).await
        }
    }
}
