//! Per-tenant state the CRM keeps beside the records: suspension (projected from tenants events)
//! and the settings that say what happens to a deactivated user's records.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::fiscal::FiscalCalendar;
use crate::domain::settings::{CrmSettings, DeactivatedOwnerPolicy};
use crate::error::Result;

/// Records a suspension or reactivation, unless a newer event already did.
pub async fn set_suspended(
    tx: &mut Tx,
    tenant_id: Uuid,
    suspended: bool,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO crm_tenants (tenant_id, suspended, source_time) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET
             suspended = EXCLUDED.suspended,
             source_time = EXCLUDED.source_time,
             updated_at = now()
         WHERE crm_tenants.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(suspended)
    .bind(source_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records the tenant's fiscal calendar and currency, unless a newer event already did.
pub async fn set_calendar(
    tx: &mut Tx,
    tenant_id: Uuid,
    calendar: FiscalCalendar,
    currency_code: &str,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO crm_tenants (tenant_id, fiscal_year_start_month, currency_code,
             settings_source_time)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET
             fiscal_year_start_month = EXCLUDED.fiscal_year_start_month,
             currency_code = EXCLUDED.currency_code,
             settings_source_time = EXCLUDED.settings_source_time,
             updated_at = now()
         WHERE crm_tenants.settings_source_time <= EXCLUDED.settings_source_time",
    )
    .bind(tenant_id)
    .bind(i16::try_from(calendar.start_month()).unwrap_or(1))
    .bind(currency_code)
    .bind(source_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The tenant's fiscal calendar and currency (empty until a tenants event named it).
pub async fn calendar(tx: &mut Tx) -> Result<(FiscalCalendar, String)> {
    let row: Option<(i16, String)> =
        sqlx::query_as("SELECT fiscal_year_start_month, currency_code FROM crm_tenants")
            .fetch_optional(&mut *tx)
            .await?;
    Ok(match row {
        Some((month, currency)) => (
            FiscalCalendar::new(u32::try_from(month).unwrap_or(1)),
            currency,
        ),
        None => (FiscalCalendar::default(), String::new()),
    })
}

/// The tenant's settings, defaults when never changed.
pub async fn settings(tx: &mut Tx) -> Result<CrmSettings> {
    let row: Option<(String, Option<Uuid>, bool, i32)> = sqlx::query_as(
        "SELECT deactivated_owner_policy, fallback_owner_id, lost_reason_required,
             restore_window_days
         FROM crm_tenants",
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(match row {
        Some((policy, fallback_owner_id, lost_reason_required, restore_window_days)) => {
            CrmSettings {
                deactivated_owner_policy: DeactivatedOwnerPolicy::from_db(&policy),
                fallback_owner_id,
                lost_reason_required,
                restore_window_days,
            }
        }
        None => CrmSettings::default(),
    })
}

pub async fn save_settings(tx: &mut Tx, tenant_id: Uuid, settings: &CrmSettings) -> Result<()> {
    sqlx::query(
        "INSERT INTO crm_tenants (tenant_id, deactivated_owner_policy, fallback_owner_id,
             lost_reason_required, restore_window_days)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id) DO UPDATE SET
             deactivated_owner_policy = EXCLUDED.deactivated_owner_policy,
             fallback_owner_id = EXCLUDED.fallback_owner_id,
             lost_reason_required = EXCLUDED.lost_reason_required,
             restore_window_days = EXCLUDED.restore_window_days,
             updated_at = now()",
    )
    .bind(tenant_id)
    .bind(settings.deactivated_owner_policy.as_db())
    .bind(settings.fallback_owner_id)
    .bind(settings.lost_reason_required)
    .bind(settings.restore_window_days)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
