//! The tenants service's exchange-rate table as other services keep it: a projection fed by
//! `tenants.exchange_rate.*` events, in a table of the service's own with this shape:
//!
//! ```sql
//! (tenant_id uuid, currency_code text, effective_date date, rate bigint NULL,
//!  base_currency_code text, source_time timestamptz,
//!  PRIMARY KEY (tenant_id, currency_code, effective_date))
//! ```
//!
//! A deleted rate stays as a tombstone (`rate` NULL) so that an older "set" delivered late
//! cannot bring it back; `source_time` orders the events of one rate. Read back as an
//! [`fx::RateTable`] against the tenant's current currency: rates set against an earlier tenant
//! currency no longer say what a unit is worth and are left out.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use events::{Event, HandlerError};
use fx::{Rate, RateTable};
use proto::tenants as pb;
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

pub use user_projection::TableName;

/// The routing keys of the events the projection applies.
pub const BINDING: &str = "tenants.exchange_rate.*";

/// One event's change to a rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateChange {
    pub tenant_id: Uuid,
    pub currency_code: String,
    pub effective_date: NaiveDate,
    /// Billionths and the base currency; `None` when the rate was deleted.
    pub rate: Option<(i64, String)>,
    pub source_time: DateTime<Utc>,
}

/// The change a `tenants.exchange_rate.*` event carries; `None` for other events. A malformed
/// payload is a permanent failure.
pub fn change_of(event: &Event) -> Result<Option<RateChange>, HandlerError> {
    let (currency_code, effective_date, rate) = match event.event_type() {
        "tenants.exchange_rate.set" => {
            let set: pb::ExchangeRateSet = event.payload().map_err(HandlerError::permanent)?;
            let rate = set
                .exchange_rate
                .ok_or_else(|| HandlerError::permanent("exchange_rate is missing"))?;
            let value = fx::parse_rate(&rate.rate).map_err(HandlerError::permanent)?;
            (
                rate.currency_code,
                rate.effective_date,
                Some((value, rate.base_currency_code)),
            )
        }
        "tenants.exchange_rate.deleted" => {
            let deleted: pb::ExchangeRateDeleted =
                event.payload().map_err(HandlerError::permanent)?;
            (deleted.currency_code, deleted.effective_date, None)
        }
        _ => return Ok(None),
    };
    let effective_date = NaiveDate::parse_from_str(&effective_date, "%Y-%m-%d")
        .map_err(|_| HandlerError::permanent(format!("effective_date {effective_date:?}")))?;
    Ok(Some(RateChange {
        tenant_id: event.tenant_id,
        currency_code,
        effective_date,
        rate,
        source_time: event.occurred_at,
    }))
}

/// The statements on one service's rate table, written once.
#[derive(Debug)]
pub struct RateProjection {
    upsert: Arc<str>,
    select: Arc<str>,
}

impl RateProjection {
    pub fn new(table: TableName) -> Self {
        let t = table.as_str();
        Self {
            upsert: Arc::from(format!(
                "INSERT INTO {t}
                     (tenant_id, currency_code, effective_date, rate, base_currency_code, source_time)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, currency_code, effective_date) DO UPDATE SET
                     rate = EXCLUDED.rate,
                     base_currency_code = EXCLUDED.base_currency_code,
                     source_time = EXCLUDED.source_time
                 WHERE {t}.source_time <= EXCLUDED.source_time"
            )),
            select: Arc::from(format!(
                "SELECT currency_code, effective_date, rate FROM {t}
                 WHERE rate IS NOT NULL AND base_currency_code = $1"
            )),
        }
    }

    /// Applies a change, unless a newer event already wrote that rate.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        change: &RateChange,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(AssertSqlSafe(self.upsert.clone()))
            .bind(change.tenant_id)
            .bind(&change.currency_code)
            .bind(change.effective_date)
            .bind(change.rate.as_ref().map(|(rate, _)| *rate))
            .bind(
                change
                    .rate
                    .as_ref()
                    .map(|(_, base)| base.as_str())
                    .unwrap_or_default(),
            )
            .bind(change.source_time)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The tenant's rates against `base`, its current currency (read in the caller's
    /// tenant-scoped transaction).
    pub async fn table(
        &self,
        conn: &mut PgConnection,
        base: &str,
    ) -> Result<RateTable, sqlx::Error> {
        let rows: Vec<(String, NaiveDate, i64)> =
            sqlx::query_as(AssertSqlSafe(self.select.clone()))
                .bind(base)
                .fetch_all(conn)
                .await?;
        let rates = rows
            .into_iter()
            .map(|(currency_code, effective_date, rate)| Rate {
                currency_code,
                effective_date,
                rate,
            });
        Ok(RateTable::new(base, rates))
    }
}
