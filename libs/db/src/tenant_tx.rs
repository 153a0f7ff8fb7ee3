//! Transactions with `app.tenant_id` set, which every row-level-security policy reads.

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Begins a transaction in which RLS policies see only `tenant_id`'s rows. The setting is local
/// to the transaction, so a pooled connection never carries it into another request. Safe to
/// cancel (see [`crate::transaction`]).
pub async fn begin_for_tenant(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = crate::transaction::begin(pool).await?;
    set_tenant(&mut tx, tenant_id).await?;
    Ok(tx)
}

/// Scopes an already open transaction to `tenant_id` (e.g. right after creating the tenant).
pub async fn set_tenant(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
