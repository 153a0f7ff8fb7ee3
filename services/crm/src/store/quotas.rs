//! The projection of users' quotas (commissions.quota.* events) and the quotas a forecast
//! period covers.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::forecast::QuotaKind;
use crate::error::Result;

/// One event's change to a quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaChange {
    pub user_id: Uuid,
    pub period_kind: &'static str,
    pub period_start: NaiveDate,
    /// Exclusive.
    pub period_end: NaiveDate,
    /// Currency and minor units; `None` when the quota was deleted.
    pub amount: Option<(String, i64)>,
}

/// Applies a change, unless a newer event already wrote that quota.
pub async fn apply(
    tx: &mut Tx,
    tenant_id: Uuid,
    change: &QuotaChange,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO crm_quotas (tenant_id, user_id, period_kind, period_start, period_end,
             currency_code, amount_minor, source_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, user_id, period_kind, period_start) DO UPDATE SET
             period_end = EXCLUDED.period_end,
             currency_code = EXCLUDED.currency_code,
             amount_minor = EXCLUDED.amount_minor,
             source_time = EXCLUDED.source_time
         WHERE crm_quotas.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(change.user_id)
    .bind(change.period_kind)
    .bind(change.period_start)
    .bind(change.period_end)
    .bind(
        change
            .amount
            .as_ref()
            .map(|(c, _)| c.as_str())
            .unwrap_or_default(),
    )
    .bind(change.amount.as_ref().map(|(_, a)| *a))
    .bind(source_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A stored quota lying inside a forecast period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodQuota {
    pub user_id: Uuid,
    pub kind: QuotaKind,
    pub currency_code: String,
    pub amount: i64,
}

/// The quotas whose period lies inside `[start, end]` (both inclusive).
pub async fn inside(tx: &mut Tx, start: NaiveDate, end: NaiveDate) -> Result<Vec<PeriodQuota>> {
    let rows: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT user_id, period_kind, currency_code, amount_minor FROM crm_quotas
         WHERE amount_minor IS NOT NULL AND period_start >= $1 AND period_end <= $2 + 1",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(user_id, kind, currency_code, amount)| {
            Some(PeriodQuota {
                user_id,
                kind: QuotaKind::parse(&kind)?,
                currency_code,
                amount,
            })
        })
        .collect())
}
