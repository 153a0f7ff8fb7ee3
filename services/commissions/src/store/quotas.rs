//! Quotas per user and period.

use uuid::Uuid;

use super::{Quota, Tx, audit, now};
use crate::domain::Viewer;
use crate::domain::period::Period;
use crate::error::{Error, Result};

/// Sets (or replaces) a known user's quota.
pub async fn set(tx: &mut Tx, viewer: Viewer, quota: &Quota) -> Result<()> {
    if super::users::is_active(tx, quota.user_id).await?.is_none() {
        return Err(Error::invalid(
            "quota.user_id",
            "no such user in this tenant",
        ));
    }
    sqlx::query(
        "INSERT INTO quotas (tenant_id, user_id, period_kind, period_start, currency, amount, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, user_id, period_kind, period_start) DO UPDATE SET
             currency = EXCLUDED.currency, amount = EXCLUDED.amount,
             updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(viewer.tenant_id)
    .bind(quota.user_id)
    .bind(quota.period.kind.as_str())
    .bind(quota.period.start)
    .bind(&quota.currency)
    .bind(quota.amount)
    .bind(viewer.user_id)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "quota.set",
        Some(quota.user_id),
        &format!(
            "{} {}: {} {}",
            quota.period.kind.as_str(),
            quota.period.start,
            quota.amount,
            quota.currency
        ),
    )
    .await
}

/// The quota of `user` for `period` in `currency` (a quota in another currency does not apply).
pub async fn get(tx: &mut Tx, user: Uuid, period: Period, currency: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT amount FROM quotas
         WHERE user_id = $1 AND period_kind = $2 AND period_start = $3 AND currency = $4",
    )
    .bind(user)
    .bind(period.kind.as_str())
    .bind(period.start)
    .bind(currency)
    .fetch_optional(&mut **tx)
    .await?)
}

/// The quota of `user` for `period`, with its currency.
pub async fn any_currency(
    tx: &mut Tx,
    user: Uuid,
    period: Period,
) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT currency, amount FROM quotas
         WHERE user_id = $1 AND period_kind = $2 AND period_start = $3",
    )
    .bind(user)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_optional(&mut **tx)
    .await?)
}
