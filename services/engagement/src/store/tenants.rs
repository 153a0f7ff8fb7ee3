//! The tenant's time zone (heatmaps) and currency (the open pipeline), from tenants events.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::error::Result;

/// The zone of a tenant no event described yet.
pub const DEFAULT_TIME_ZONE: &str = "UTC";
/// The currency of a tenant no event described yet (the tenants service's default).
pub const DEFAULT_CURRENCY: &str = "USD";

/// Keeps the tenant's IANA time zone and currency, unless a newer event wrote them.
pub async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    time_zone: &str,
    currency_code: &str,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO engagement_tenants AS t (tenant_id, time_zone, currency_code, source_time)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET
             time_zone = EXCLUDED.time_zone,
             currency_code = EXCLUDED.currency_code,
             source_time = EXCLUDED.source_time
         WHERE t.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(time_zone)
    .bind(currency_code)
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The tenant's time zone.
pub async fn time_zone(tx: &mut Tx) -> Result<String> {
    let zone: Option<String> = sqlx::query_scalar("SELECT time_zone FROM engagement_tenants")
        .fetch_optional(&mut **tx)
        .await?;
    Ok(zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned()))
}

/// The tenant's currency.
pub async fn currency(tx: &mut Tx) -> Result<String> {
    let code: Option<String> = sqlx::query_scalar("SELECT currency_code FROM engagement_tenants")
        .fetch_optional(&mut **tx)
        .await?;
    Ok(code.unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()))
}
