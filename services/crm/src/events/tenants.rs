//! Consumes the tenants service's events: a provisioned tenant gets its default pipeline, a
//! suspended tenant is locked out, users are projected (manager, role, active) for record
//! visibility, a deactivated user's records are handed over per tenant policy, and the tenant's
//! fiscal calendar, currency and exchange rates are kept for the forecast. Idempotency comes from
//! `events::Consumer`; the projection also ignores events older than what it holds.

use async_trait::async_trait;
use events::{Event, Handler, HandlerError};
use proto::tenants as pb;
use sqlx::{Postgres, Transaction};

use crate::domain::fiscal::FiscalCalendar;
use crate::store::{cases, exchange_rates, handover, pipelines, tenant_state, users};

/// Queue bindings of the handler.
pub const BINDINGS: &[&str] = &[
    "tenants.tenant.*",
    "tenants.user.*",
    rate_projection::BINDING,
];

pub struct TenantsHandler;

#[async_trait]
impl Handler for TenantsHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        let user = match event.event_type() {
            "tenants.tenant.provisioned" => {
                let provisioned: pb::TenantProvisioned =
                    event.payload().map_err(HandlerError::permanent)?;
                pipelines::ensure_default(tx, event.tenant_id).await?;
                if let Some(zone) = time_zone(provisioned.tenant.as_ref()) {
                    cases::follow_tenant_time_zone(tx, event.tenant_id, zone).await?;
                }
                follow_calendar(tx, event, provisioned.tenant.as_ref()).await?;
                provisioned.admin
            }
            "tenants.tenant.suspended" => {
                tenant_state::set_suspended(tx, event.tenant_id, true, event.occurred_at).await?;
                None
            }
            "tenants.tenant.reactivated" => {
                tenant_state::set_suspended(tx, event.tenant_id, false, event.occurred_at).await?;
                None
            }
            "tenants.tenant.updated" => {
                let updated: pb::TenantUpdated =
                    event.payload().map_err(HandlerError::permanent)?;
                let settings_changed = updated
                    .changed_fields
                    .iter()
                    .any(|f| f == "settings" || f == "settings.timezone");
                if settings_changed && let Some(zone) = time_zone(updated.tenant.as_ref()) {
                    cases::follow_tenant_time_zone(tx, event.tenant_id, zone).await?;
                }
                follow_calendar(tx, event, updated.tenant.as_ref()).await?;
                None
            }
            // The rates' events are the rate projection's to read, the users' events (and
            // others, which it ignores) the user projection's.
            _ => match rate_projection::change_of(event)? {
                Some(change) => {
                    exchange_rates::apply(tx, &change).await?;
                    None
                }
                None => user_projection::user_of(event)?,
            },
        };
        if let Some(user) = user {
            let projected = user_projection::project(event.tenant_id, &user)
                .map_err(HandlerError::permanent)?;
            users::upsert(tx, event.tenant_id, &projected, event.occurred_at).await?;
            // Only if the projection agrees: a late event never hands over an active user's work.
            if event.event_type() == "tenants.user.deactivated"
                && users::is_active(tx, projected.user_id).await? == Some(false)
            {
                handover::on_deactivated(tx, event.tenant_id, projected.user_id).await?;
            }
        }
        Ok(())
    }
}

/// The tenant's IANA time zone, when its settings name one.
fn time_zone(tenant: Option<&pb::Tenant>) -> Option<&str> {
    tenant
        .and_then(|t| t.settings.as_ref())
        .map(|s| s.timezone.as_str())
        .filter(|z| !z.is_empty())
}

/// Keeps the tenant's fiscal year start and currency (the forecast's periods and currency).
async fn follow_calendar(
    tx: &mut Transaction<'static, Postgres>,
    event: &Event,
    tenant: Option<&pb::Tenant>,
) -> Result<(), HandlerError> {
    let Some(settings) = tenant.and_then(|t| t.settings.as_ref()) else {
        return Ok(());
    };
    let month = u32::try_from(settings.fiscal_year_start_month).unwrap_or_default();
    tenant_state::set_calendar(
        tx,
        event.tenant_id,
        FiscalCalendar::new(month),
        &settings.currency_code,
        event.occurred_at,
    )
    .await?;
    Ok(())
}
