//! The projection of the CRM's opportunities in `commission_deals` (from their events), which
//! the estimator reads an open deal's amount, split owners and pipeline from.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::Tx;
use crate::domain::estimate::OpenDeal;
use crate::error::Result;

/// Inserts or replaces a deal in `state` (open, won or lost), unless a newer event wrote it.
pub async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    deal: &OpenDeal,
    state: &str,
    source_time: DateTime<Utc>,
) -> Result<()> {
    let (currency, amount) = deal.amount.clone().unzip();
    sqlx::query(
        "INSERT INTO commission_deals (tenant_id, deal_id, state, currency, amount, pipeline_id, splits, source_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, deal_id) DO UPDATE SET
             state = EXCLUDED.state, currency = EXCLUDED.currency, amount = EXCLUDED.amount,
             pipeline_id = EXCLUDED.pipeline_id, splits = EXCLUDED.splits,
             source_time = EXCLUDED.source_time
         WHERE commission_deals.source_time <= EXCLUDED.source_time",
    )
    .bind(tenant_id)
    .bind(deal.deal_id)
    .bind(state)
    .bind(currency)
    .bind(amount)
    .bind(deal.pipeline_id)
    .bind(Json(&deal.splits))
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut Tx, deal_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM commission_deals WHERE deal_id = $1")
        .bind(deal_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

type DealRow = (
    String,
    Option<String>,
    Option<i64>,
    Option<Uuid>,
    Json<Vec<(Uuid, u32)>>,
);

/// The deal if it is open.
pub async fn open(tx: &mut Tx, deal_id: Uuid) -> Result<Option<OpenDeal>> {
    let row: Option<DealRow> = sqlx::query_as(
        "SELECT state, currency, amount, pipeline_id, splits FROM commission_deals WHERE deal_id = $1",
    )
    .bind(deal_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(
        row.and_then(|(state, currency, amount, pipeline_id, splits)| {
            (state == "open").then(|| OpenDeal {
                deal_id,
                amount: currency.zip(amount),
                splits: splits.0,
                pipeline_id,
            })
        }),
    )
}
