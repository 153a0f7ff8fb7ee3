//! The state sweep: scores decay without new touches, so a lead or account can fall into the
//! disengaged state with nobody touching it. The sweep re-decides the state of every lead and
//! account not yet disengaged (score decayed to now, hysteresis from the stored state) and
//! announces each that crossed (`engagement.<lead|account>.disengaged`), once: the stored state
//! moves with the announcement, in one transaction per tenant.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Tx, models, touches};
use crate::domain::{RecordRef, RecordType, State};
use crate::error::Result;

/// Sweeps every tenant; answers the records whose state changed.
pub async fn sweep(pool: &PgPool, now: DateTime<Utc>) -> Result<u64> {
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT engagement_tenants_to_sweep()")
        .fetch_all(pool)
        .await?;
    let mut changed = 0;
    for tenant_id in tenants {
        let mut tx = db::begin_for_tenant(pool, tenant_id).await?;
        changed += sweep_tenant(&mut tx, tenant_id, now).await?;
        tx.commit().await?;
    }
    Ok(changed)
}

async fn sweep_tenant(tx: &mut Tx, tenant_id: Uuid, now: DateTime<Utc>) -> Result<u64> {
    let model = models::load(tx).await?.model;
    let rows: Vec<(String, Uuid, String, f64)> = sqlx::query_as(
        "SELECT m.record_type, m.record_id, m.state,
                coalesce(sum(s.score * power(2::float8,
                    -greatest(extract(epoch FROM $1 - s.as_of)::float8, 0) / $2)), 0)
         FROM engagement_summaries m
         LEFT JOIN engagement_scores s
                ON s.record_type = m.record_type AND s.record_id = m.record_id
         WHERE m.record_type IN ('lead', 'account') AND m.state <> 'disengaged'
         GROUP BY m.record_type, m.record_id, m.state",
    )
    .bind(now)
    .bind(model.half_life_secs)
    .fetch_all(&mut **tx)
    .await?;
    let mut changed = 0;
    for (record_type, record_id, state, score) in rows {
        let (Some(record_type), Some(previous)) =
            (RecordType::parse(&record_type), State::parse(&state))
        else {
            continue;
        };
        let next = model.thresholds.next(Some(previous), score);
        if next == previous {
            continue;
        }
        // Only from the state read: a touch recorded meanwhile decided the state itself.
        let updated = sqlx::query(
            "UPDATE engagement_summaries SET state = $3
             WHERE record_type = $1 AND record_id = $2 AND state = $4",
        )
        .bind(record_type.as_str())
        .bind(record_id)
        .bind(next.as_str())
        .bind(previous.as_str())
        .execute(&mut **tx)
        .await?;
        if updated.rows_affected() == 0 {
            continue;
        }
        let record = RecordRef {
            record_type,
            id: record_id,
        };
        touches::publish_state_change(tx, tenant_id, record, Some(previous), next, score, now)
            .await?;
        changed += 1;
    }
    Ok(changed)
}
