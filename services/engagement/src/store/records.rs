//! The projection of CRM records (from the CRM's events): owner for visibility, account of a
//! contact or deal for rollups. A deleted record stays as a tombstone, so a late, older event
//! cannot bring it back; `source_time` keeps the newest event's view.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::record::KnownRecord;
use crate::domain::{RecordRef, RecordType};
use crate::error::Result;

/// A projected record's type: the touched types and opportunities (for quotes and deals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projected {
    Touched(RecordType),
    Opportunity,
}

impl Projected {
    pub fn as_str(self) -> &'static str {
        match self {
            Projected::Touched(t) => t.as_str(),
            Projected::Opportunity => "opportunity",
        }
    }
}

/// An opportunity's state and amount, for the pipeline at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealAmount {
    pub open: bool,
    /// google.type.Money: currency, units and nanos.
    pub amount: Option<(String, i64, i32)>,
}

/// Inserts or replaces a record (with `deal` for opportunities), unless a newer event already
/// wrote it.
pub async fn upsert(
    tx: &mut Tx,
    tenant_id: Uuid,
    record_type: Projected,
    record_id: Uuid,
    known: KnownRecord,
    deal: Option<&DealAmount>,
    source_time: DateTime<Utc>,
) -> Result<()> {
    let amount = deal.and_then(|d| d.amount.as_ref());
    sqlx::query(
        "INSERT INTO engagement_records AS r
             (tenant_id, record_type, record_id, owner_id, account_id, deleted, is_open,
              currency_code, amount_units, amount_nanos, source_time)
         VALUES ($1, $2, $3, $4, $5, false, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, record_type, record_id) DO UPDATE SET
             owner_id = EXCLUDED.owner_id,
             account_id = EXCLUDED.account_id,
             is_open = EXCLUDED.is_open,
             currency_code = EXCLUDED.currency_code,
             amount_units = EXCLUDED.amount_units,
             amount_nanos = EXCLUDED.amount_nanos,
             source_time = EXCLUDED.source_time
         WHERE r.source_time <= EXCLUDED.source_time AND NOT r.deleted",
    )
    .bind(tenant_id)
    .bind(record_type.as_str())
    .bind(record_id)
    .bind(known.owner_id)
    .bind(known.account_id)
    .bind(deal.is_some_and(|d| d.open))
    .bind(amount.map(|(currency, _, _)| currency.as_str()))
    .bind(amount.map(|(_, units, _)| *units))
    .bind(amount.map(|(_, _, nanos)| *nanos))
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a record deleted (for good).
pub async fn delete(
    tx: &mut Tx,
    tenant_id: Uuid,
    record_type: Projected,
    record_id: Uuid,
    source_time: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO engagement_records AS r
             (tenant_id, record_type, record_id, deleted, source_time)
         VALUES ($1, $2, $3, true, $4)
         ON CONFLICT (tenant_id, record_type, record_id) DO UPDATE SET
             deleted = true,
             source_time = greatest(r.source_time, EXCLUDED.source_time)",
    )
    .bind(tenant_id)
    .bind(record_type.as_str())
    .bind(record_id)
    .bind(source_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The records of `refs` the projection knows (not deleted).
pub async fn known(tx: &mut Tx, refs: &[RecordRef]) -> Result<HashMap<RecordRef, KnownRecord>> {
    let types: Vec<&str> = refs.iter().map(|r| r.record_type.as_str()).collect();
    let ids: Vec<Uuid> = refs.iter().map(|r| r.id).collect();
    let rows: Vec<(String, Uuid, Option<Uuid>, Option<Uuid>)> = sqlx::query_as(
        "SELECT r.record_type, r.record_id, r.owner_id, r.account_id
         FROM engagement_records r
         JOIN unnest($1::text[], $2::uuid[]) AS q(record_type, record_id)
           ON r.record_type = q.record_type AND r.record_id = q.record_id
         WHERE NOT r.deleted",
    )
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(record_type, id, owner_id, account_id)| {
            let record_type = RecordType::parse(&record_type)?;
            Some((
                RecordRef { record_type, id },
                KnownRecord {
                    owner_id,
                    account_id,
                },
            ))
        })
        .collect())
}

/// The account of a projected opportunity (quotes land on their deal's account).
pub async fn opportunity_account(tx: &mut Tx, opportunity_id: Uuid) -> Result<Option<Uuid>> {
    let account: Option<Option<Uuid>> = sqlx::query_scalar(
        "SELECT account_id FROM engagement_records
         WHERE record_type = 'opportunity' AND record_id = $1 AND NOT deleted",
    )
    .bind(opportunity_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(account.flatten())
}
