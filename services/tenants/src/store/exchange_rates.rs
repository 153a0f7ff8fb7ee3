//! SQL of the exchange-rate table, run in the caller's tenant transaction.

use chrono::NaiveDate;
use sqlx::{Postgres, Row, Transaction, postgres::PgRow};
use uuid::Uuid;

use crate::domain::exchange_rate::{ExchangeRate, NewExchangeRate};
use crate::error::{Error, Result};

type Tx = Transaction<'static, Postgres>;

const COLUMNS: &str =
    "tenant_id, currency_code, effective_date, rate, base_currency_code, updated_at";

fn from_row(row: &PgRow) -> Result<ExchangeRate> {
    Ok(ExchangeRate {
        tenant_id: row.try_get("tenant_id")?,
        currency_code: row.try_get("currency_code")?,
        effective_date: row.try_get("effective_date")?,
        rate: row.try_get("rate")?,
        base_currency_code: row.try_get("base_currency_code")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Upserts the rate against the tenant's currency; a rate of the tenant's own currency is
/// refused (it is always exactly one).
#[tracing::instrument(name = "tenants.postgres.set_exchange_rate", skip_all, fields(otel.kind = "client", db.system = "postgresql", %tenant_id))]
pub async fn set(tx: &mut Tx, tenant_id: Uuid, rate: &NewExchangeRate) -> Result<ExchangeRate> {
    let base: String = sqlx::query_scalar("SELECT currency_code FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound("tenant"))?;
    if base == rate.currency_code {
        return Err(Error::invalid(
            "exchange_rate.currency_code",
            format!("is the tenant's own currency ({base}), which is always worth 1"),
        ));
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO exchange_rates (tenant_id, currency_code, effective_date, rate, base_currency_code)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, currency_code, effective_date) DO UPDATE
            SET rate = EXCLUDED.rate, base_currency_code = EXCLUDED.base_currency_code,
                updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(&rate.currency_code)
    .bind(rate.effective_date)
    .bind(rate.rate)
    .bind(&base)
    .fetch_one(&mut **tx)
    .await?;
    from_row(&row)
}

#[tracing::instrument(name = "tenants.postgres.list_exchange_rates", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
pub async fn list(
    tx: &mut Tx,
    currency_code: Option<&str>,
    after: Option<&(String, NaiveDate)>,
    limit: i64,
) -> Result<Vec<ExchangeRate>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM exchange_rates
         WHERE ($1::text IS NULL OR currency_code = $1)
           AND ($2::text IS NULL OR currency_code > $2
                OR (currency_code = $2 AND effective_date < $3))
         ORDER BY currency_code, effective_date DESC
         LIMIT $4"
    )))
    .bind(currency_code)
    .bind(after.map(|(c, _)| c.as_str()))
    .bind(after.map(|(_, d)| *d))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(from_row).collect()
}

#[tracing::instrument(name = "tenants.postgres.delete_exchange_rate", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
pub async fn delete(tx: &mut Tx, currency_code: &str, effective_date: NaiveDate) -> Result<bool> {
    let deleted =
        sqlx::query("DELETE FROM exchange_rates WHERE currency_code = $1 AND effective_date = $2")
            .bind(currency_code)
            .bind(effective_date)
            .execute(&mut **tx)
            .await?;
    Ok(deleted.rows_affected() > 0)
}
