//! Moves between lead statuses and opportunity stages, recorded from the CRM's events once per
//! event, and summed into Sankey links.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::report::Money;
use crate::domain::sankey::{Link, SankeyQuery};
use crate::error::{Error, Result};

/// One move of a record from a step to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub event_id: Uuid,
    pub flow: &'static str,
    pub record_id: Uuid,
    pub owner_id: Option<Uuid>,
    pub from: String,
    pub to: String,
    pub lost: bool,
    /// google.type.Money: currency, units, nanos.
    pub amount: Option<(String, i64, i32)>,
    pub at: DateTime<Utc>,
}

/// Records a move (a redelivered event records nothing new).
pub async fn record(tx: &mut Tx, tenant_id: Uuid, m: &Move) -> Result<()> {
    let amount = m.amount.as_ref();
    sqlx::query(
        "INSERT INTO engagement_moves (tenant_id, event_id, flow, record_id, owner_id, from_step,
             to_step, lost, currency_code, amount_units, amount_nanos, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (tenant_id, event_id, flow) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(m.event_id)
    .bind(m.flow)
    .bind(m.record_id)
    .bind(m.owner_id)
    .bind(&m.from)
    .bind(&m.to)
    .bind(m.lost)
    .bind(amount.map(|(c, _, _)| c.as_str()))
    .bind(amount.map(|(_, u, _)| *u))
    .bind(amount.map(|(_, _, n)| *n))
    .bind(m.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A lead's last projected status.
pub async fn lead_status(tx: &mut Tx, lead_id: Uuid) -> Result<Option<String>> {
    let status: Option<Option<String>> = sqlx::query_scalar(
        "SELECT status FROM engagement_records WHERE record_type = 'lead' AND record_id = $1",
    )
    .bind(lead_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(status.flatten())
}

/// Keeps a lead's status (after its record was upserted).
pub async fn set_lead_status(tx: &mut Tx, lead_id: Uuid, status: &str) -> Result<()> {
    sqlx::query(
        "UPDATE engagement_records SET status = $2 WHERE record_type = 'lead' AND record_id = $1",
    )
    .bind(lead_id)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    flow: String,
    from_step: String,
    to_step: String,
    moves: i64,
    lost: i64,
    nanos: String,
}

/// The links of the period over the records of `owners` (`None`: all), amounts in `currency`.
pub async fn links(
    tx: &mut Tx,
    query: SankeyQuery,
    owners: Option<&[Uuid]>,
    currency: &str,
) -> Result<Vec<Link>> {
    let rows: Vec<LinkRow> = sqlx::query_as(
        "SELECT flow, from_step, to_step, count(*) AS moves,
                count(*) FILTER (WHERE lost) AS lost,
                coalesce(sum(amount_units::numeric * 1000000000 + amount_nanos)
                         FILTER (WHERE currency_code = $4), 0)::text AS nanos
         FROM engagement_moves
         WHERE occurred_at >= $1 AND occurred_at < $2
           AND ($3::uuid[] IS NULL OR owner_id = ANY($3))
         GROUP BY flow, from_step, to_step
         ORDER BY flow, from_step, to_step",
    )
    .bind(query.start)
    .bind(query.end)
    .bind(owners)
    .bind(currency)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            let nanos: i128 = row
                .nanos
                .parse()
                .map_err(|_| Error::Internal("moved amount unreadable".to_owned()))?;
            Ok(Link {
                flow: row.flow,
                source: row.from_step,
                target: row.to_step,
                count: row.moves,
                lost: row.lost,
                amount: Money::from_nanos(currency, nanos)
                    .ok_or_else(|| Error::Internal("moved amount out of range".to_owned()))?,
            })
        })
        .collect()
}
