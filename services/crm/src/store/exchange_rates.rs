//! The projection of the tenant's exchange rates (tenants.exchange_rate.* events, statements of
//! the shared `rate-projection` lib), read back as the table the forecast converts with.

use std::sync::LazyLock;

use fx::RateTable;
use rate_projection::{RateChange, RateProjection, TableName};

use super::Tx;
use crate::error::Result;

static RATES: LazyLock<RateProjection> =
    LazyLock::new(|| RateProjection::new(TableName::new("crm_exchange_rates")));

/// Applies a set or a deletion, unless a newer event already wrote that rate.
pub async fn apply(tx: &mut Tx, change: &RateChange) -> Result<()> {
    Ok(RATES.apply(tx, change).await?)
}

/// The tenant's rates against `base`, its currency.
pub async fn table(tx: &mut Tx, base: &str) -> Result<RateTable> {
    Ok(RATES.table(tx, base).await?)
}
