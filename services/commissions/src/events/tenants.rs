//! The tenants service's users, projected (manager, role, active) for visibility and quotas,
//! its tenants (name and fiscal year for statements, currency and exchange rates for converting
//! deals in other currencies, suspension for refusing requests).
//! The projections ignore events older than what they hold.

use events::{Event, HandlerError};
use proto::tenants as pb;

use crate::store::{Tx, exchange_rates, tenant_state, users};

pub async fn handle(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let user = match event.event_type() {
        "tenants.tenant.provisioned" => {
            let provisioned: pb::TenantProvisioned =
                event.payload().map_err(HandlerError::permanent)?;
            if let Some(tenant) = &provisioned.tenant {
                upsert_tenant(tx, event, tenant).await?;
            }
            provisioned.admin
        }
        // A suspended tenant's requests are refused from the next transaction on.
        "tenants.tenant.suspended" => {
            tenant_state::set_suspended(tx, event.tenant_id, true, event.occurred_at).await?;
            None
        }
        "tenants.tenant.reactivated" => {
            tenant_state::set_suspended(tx, event.tenant_id, false, event.occurred_at).await?;
            None
        }
        "tenants.tenant.updated" => {
            let updated: pb::TenantUpdated = event.payload().map_err(HandlerError::permanent)?;
            if let Some(tenant) = &updated.tenant {
                upsert_tenant(tx, event, tenant).await?;
            }
            None
        }
        // The rates' events are the rate projection's to read, the users' events (and others,
        // which it ignores) the user projection's.
        _ => match rate_projection::change_of(event)? {
            Some(change) => {
                exchange_rates::apply(tx, &change).await?;
                None
            }
            None => user_projection::user_of(event)?,
        },
    };
    if let Some(user) = user {
        let projected =
            user_projection::project(event.tenant_id, &user).map_err(HandlerError::permanent)?;
        users::upsert(tx, event.tenant_id, &projected, event.occurred_at).await?;
    }
    Ok(())
}

/// The tenant's name and fiscal year (a month outside 1-12 means the default, January).
async fn upsert_tenant(
    tx: &mut Tx,
    event: &Event,
    tenant: &pb::Tenant,
) -> Result<(), HandlerError> {
    let fiscal = tenant
        .settings
        .as_ref()
        .and_then(|s| u32::try_from(s.fiscal_year_start_month).ok())
        .filter(|m| (1..=12).contains(m))
        .unwrap_or(1);
    let currency = tenant
        .settings
        .as_ref()
        .map(|s| s.currency_code.as_str())
        .unwrap_or_default();
    users::upsert_tenant(
        tx,
        event.tenant_id,
        &tenant.display_name,
        fiscal,
        currency,
        event.occurred_at,
    )
    .await?;
    Ok(())
}
