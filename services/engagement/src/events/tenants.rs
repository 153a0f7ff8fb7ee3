//! The tenants service's users, projected (manager, role, active) for visibility, and its
//! tenants' time zones for heatmaps. The projections ignore events older than what they hold.

use events::{Event, HandlerError};
use proto::tenants as pb;

use crate::store::{Tx, tenants, users};

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
        "tenants.tenant.updated" => {
            let updated: pb::TenantUpdated = event.payload().map_err(HandlerError::permanent)?;
            if let Some(tenant) = &updated.tenant {
                upsert_tenant(tx, event, tenant).await?;
            }
            None
        }
        _ => user_projection::user_of(event)?,
    };
    if let Some(user) = user {
        let projected =
            user_projection::project(event.tenant_id, &user).map_err(HandlerError::permanent)?;
        users::upsert(tx, event.tenant_id, &projected, event.occurred_at).await?;
    }
    Ok(())
}

/// The tenant's time zone (one Postgres would not know, or none, means UTC) and currency.
async fn upsert_tenant(
    tx: &mut Tx,
    event: &Event,
    tenant: &pb::Tenant,
) -> Result<(), HandlerError> {
    let settings = tenant.settings.as_ref();
    let raw_zone = settings.map(|s| s.timezone.as_str()).unwrap_or_default();
    let zone = match raw_zone.parse::<chrono_tz::Tz>() {
        Ok(zone) => zone.name().to_owned(),
        Err(_) => tenants::DEFAULT_TIME_ZONE.to_owned(),
    };
    let currency = settings
        .map(|s| s.currency_code.as_str())
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .unwrap_or(tenants::DEFAULT_CURRENCY);
    tenants::upsert(tx, event.tenant_id, &zone, currency, event.occurred_at).await?;
    Ok(())
}
