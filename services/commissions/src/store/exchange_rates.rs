//! The projection of the tenant's exchange rates (tenants.exchange_rate.* events, statements of
//! the shared `rate-projection` lib) and the rate table the ledger converts with.

use std::sync::LazyLock;

use fx::RateTable;
use rate_projection::{RateChange, RateProjection, TableName};

use super::Tx;
use crate::error::Result;

static RATES: LazyLock<RateProjection> =
    LazyLock::new(|| RateProjection::new(TableName::new("exchange_rates")));

/// Applies a set or a deletion, unless a newer event already wrote that rate.
pub async fn apply(tx: &mut Tx, change: &RateChange) -> Result<()> {
    Ok(RATES.apply(tx, change).await?)
}

/// The tenant's rate table against its current currency; `None` while the tenant's currency is
/// unknown (no tenants event has named it yet).
#[tracing::instrument(name = "commissions.postgres.rate_table", skip_all, fields(otel.kind = "client", db.system = "postgresql"))]
pub async fn table(tx: &mut Tx) -> Result<Option<RateTable>> {
    let base: Option<String> = sqlx::query_scalar(
        "SELECT currency_code FROM commission_tenants WHERE currency_code <> ''",
    )
    .fetch_optional(&mut **tx)
    .await?;
    match base {
        Some(base) => Ok(Some(RATES.table(tx, &base).await?)),
        None => Ok(None),
    }
}
