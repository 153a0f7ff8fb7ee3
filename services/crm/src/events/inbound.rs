//! The one consumer of other services' events, on the service's one queue: tenants events
//! (projection, tenant state) and the commissions events that notify users. One queue keeps one
//! consumer, one dead-letter queue and one retry policy to operate.

use async_trait::async_trait;
use events::{Event, Handler, HandlerError};
use sqlx::{Postgres, Transaction};

use super::quotas;
use super::tenants::{self, TenantsHandler};
use crate::notifications::commissions;

/// Every routing key the queue is bound to.
pub fn bindings() -> impl Iterator<Item = &'static str> {
    tenants::BINDINGS
        .iter()
        .copied()
        .chain(std::iter::once(quotas::BINDING))
        .chain(commissions::bindings())
}

pub struct InboundHandler;

#[async_trait]
impl Handler for InboundHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        let kind = event.event_type();
        // Quotas are projected for the forecast; the other commissions events notify users.
        if kind.starts_with("commissions.quota.") {
            quotas::handle(event, tx).await
        } else if kind.starts_with("commissions.") {
            commissions::handle(event, tx).await
        } else {
            TenantsHandler.handle(event, tx).await
        }
    }
}
