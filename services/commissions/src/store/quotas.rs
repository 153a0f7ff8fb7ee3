//! Quotas per user and period, and managers' team quota overrides (same shape, own table).

use uuid::Uuid;

use super::{Tx, audit, now, publish};
use crate::domain::Viewer;
use crate::domain::period::{Period, PeriodKind, Window};
use crate::domain::quota::Quota;
use crate::error::{Error, Result};

/// Whose quotas: a user's own, or a manager's team override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    User,
    Team,
}

impl Holder {
    /// Table and owner column (constants: safe to format into SQL).
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Holder::User => ("quotas", "user_id"),
            Holder::Team => ("team_quotas", "manager_id"),
        }
    }

    fn action(self) -> &'static str {
        match self {
            Holder::User => "quota.set",
            Holder::Team => "team_quota.set",
        }
    }
}

/// Sets (or replaces) a known user's quota, or a manager's team quota.
pub async fn set(tx: &mut Tx, viewer: Viewer, holder: Holder, quota: &Quota) -> Result<()> {
    if super::users::is_active(tx, quota.user_id).await?.is_none() {
        return Err(Error::invalid(
            "quota.user_id",
            "no such user in this tenant",
        ));
    }
    let (table, owner) = holder.table();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {table} (tenant_id, {owner}, period_kind, period_start, currency, amount, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, {owner}, period_kind, period_start) DO UPDATE SET
             currency = EXCLUDED.currency, amount = EXCLUDED.amount,
             updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at"
    )))
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
    // The CRM's forecast shows each rep's quota and gap from these.
    if holder == Holder::User {
        publish(
            tx,
            crate::events::publish::quota_set(viewer.tenant_id, quota),
        )
        .await?;
    }
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        holder.action(),
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

/// The quota of `owner` over `window`: a year quota starting on a year-to-date window's first
/// day if set, else the sum of the quotas of the window's kind starting in it. Quotas in mixed
/// currencies do not add up: then there is no quota.
pub async fn for_window(
    tx: &mut Tx,
    holder: Holder,
    owner: Uuid,
    window: Window,
) -> Result<Option<(String, i64)>> {
    if window.year_to_date && window.kind != PeriodKind::Year {
        let year = Window {
            kind: PeriodKind::Year,
            ..window
        };
        if let Some(quota) = summed(tx, holder, owner, year).await? {
            return Ok(Some(quota));
        }
    }
    summed(tx, holder, owner, window).await
}

async fn summed(
    tx: &mut Tx,
    holder: Holder,
    owner: Uuid,
    window: Window,
) -> Result<Option<(String, i64)>> {
    let (table, column) = holder.table();
    let sums: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT currency, sum(amount)::bigint FROM {table}
         WHERE {column} = $1 AND period_kind = $2 AND period_start >= $3 AND period_start < $4
         GROUP BY currency"
    )))
    .bind(owner)
    .bind(window.kind.as_str())
    .bind(window.start)
    .bind(window.end)
    .fetch_all(&mut **tx)
    .await?;
    Ok(match <[_; 1]>::try_from(sums) {
        Ok([only]) => Some(only),
        Err(_) => None,
    })
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
