//! Records shared with individual users: granting, listing and revoking shares, and the lookups
//! visibility uses (see `domain::sharing` for what a share allows).

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, now, publish, reaches, users};
use crate::domain::sharing::{MAX_SHARES_PER_RECORD, Share, ShareAccess, check_recipient};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SharingStore: Send + Sync + 'static {
    /// Shares the record with `user_id` at `access` (changing an existing share's access).
    async fn share(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        id: Uuid,
        user_id: Uuid,
        access: ShareAccess,
    ) -> Result<Share>;
    /// The record's shares, oldest first.
    async fn shares(&self, viewer: Viewer, kind: RecordKind, id: Uuid) -> Result<Vec<Share>>;
    /// Revokes the share with `user_id`.
    async fn unshare(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        id: Uuid,
        user_id: Uuid,
    ) -> Result<()>;
}

fn table(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    }
}

/// The access of the viewer's share of one record, if it is shared with them.
pub(crate) async fn access_of(
    tx: &mut Tx,
    kind: RecordKind,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<ShareAccess>> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT access FROM record_shares
         WHERE user_id = $1 AND record_type = $2 AND record_id = $3",
    )
    .bind(user_id)
    .bind(kind.name())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    stored.map(|s| parse_access(&s)).transpose()
}

/// Which of `ids` (records of any kind) are shared with `user_id`, at any level.
pub(crate) async fn shared_among(
    tx: &mut Tx,
    user_id: Uuid,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let shared: Vec<Uuid> = sqlx::query_scalar(
        "SELECT record_id FROM record_shares WHERE user_id = $1 AND record_id = ANY($2)",
    )
    .bind(user_id)
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(shared.into_iter().collect())
}

fn parse_access(stored: &str) -> Result<ShareAccess> {
    ShareAccess::parse(stored)
        .ok_or_else(|| Error::Internal(format!("unknown share access {stored}")))
}

const COLUMNS: &str = "record_id, user_id, access, granted_by, created_at";

fn from_row(kind: RecordKind, row: &PgRow) -> Result<Share> {
    let access: String = row.try_get("access")?;
    Ok(Share {
        kind,
        record_id: row.try_get("record_id")?,
        user_id: row.try_get("user_id")?,
        access: parse_access(&access)?,
        granted_by: row.try_get("granted_by")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The owner of the live record the viewer reaches for `access`; NOT_FOUND otherwise, and
/// PERMISSION_DENIED when they only have it through a share too weak for `access`.
async fn reached_owner(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    id: Uuid,
    access: Access,
) -> Result<Uuid> {
    let owner: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT owner_id FROM {} WHERE id = $1 AND deleted_at IS NULL{}",
        table(kind),
        // Shares of a record change under its lock, as its other fields do.
        if access == Access::Read {
            ""
        } else {
            " FOR UPDATE"
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match owner {
        Some(owner) if reaches(tx, viewer, kind, access, id, owner).await? => Ok(owner),
        _ => Err(Error::NotFound(kind.name())),
    }
}

async fn existing(tx: &mut Tx, kind: RecordKind, id: Uuid, user_id: Uuid) -> Result<Option<Share>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM record_shares
         WHERE record_type = $1 AND record_id = $2 AND user_id = $3"
    )))
    .bind(kind.name())
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| from_row(kind, &r)).transpose()
}

#[async_trait]
impl SharingStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.share_record", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "share_record", tenant_id = %viewer.tenant_id, record_id = %id))]
    async fn share(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        id: Uuid,
        user_id: Uuid,
        access: ShareAccess,
    ) -> Result<Share> {
        let mut tx = self.tx(viewer).await?;
        let owner = reached_owner(&mut tx, viewer, kind, id, Access::Control).await?;
        let active = users::is_active(&mut tx, user_id).await?;
        check_recipient(owner, viewer.user_id, user_id, active)
            .map_err(|e| Error::invalid("user_id", e.to_string()))?;
        let before = existing(&mut tx, kind, id, user_id).await?;
        let share = match before {
            Some(share) if share.access == access => return Ok(share),
            Some(share) => {
                sqlx::query(
                    "UPDATE record_shares SET access = $4, granted_by = $5
                     WHERE record_type = $1 AND record_id = $2 AND user_id = $3",
                )
                .bind(kind.name())
                .bind(id)
                .bind(user_id)
                .bind(access.as_str())
                .bind(viewer.user_id)
                .execute(&mut *tx)
                .await?;
                Share {
                    access,
                    granted_by: viewer.user_id,
                    ..share
                }
            }
            None => {
                let count: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM record_shares WHERE record_type = $1 AND record_id = $2",
                )
                .bind(kind.name())
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_SHARES_PER_RECORD {
                    return Err(Error::FailedPrecondition(format!(
                        "the {} is already shared with {MAX_SHARES_PER_RECORD} users",
                        kind.name()
                    )));
                }
                let share = Share {
                    kind,
                    record_id: id,
                    user_id,
                    access,
                    granted_by: viewer.user_id,
                    created_at: now(),
                };
                // The record row is locked, so no concurrent share of it can slip in between.
                sqlx::query(
                    "INSERT INTO record_shares (tenant_id, record_type, record_id, user_id, access,
                         granted_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(viewer.tenant_id)
                .bind(kind.name())
                .bind(id)
                .bind(user_id)
                .bind(access.as_str())
                .bind(viewer.user_id)
                .bind(share.created_at)
                .execute(&mut *tx)
                .await?;
                share
            }
        };
        publish(
            &mut tx,
            &[crate::events::records::record_shared(viewer, &share, true)?],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user_id = %user_id, access = access.as_str(), "record shared");
        Ok(share)
    }

    #[tracing::instrument(name = "crm.postgres.record_shares", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "record_shares", tenant_id = %viewer.tenant_id, record_id = %id))]
    async fn shares(&self, viewer: Viewer, kind: RecordKind, id: Uuid) -> Result<Vec<Share>> {
        let mut tx = self.tx(viewer).await?;
        reached_owner(&mut tx, viewer, kind, id, Access::Read).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM record_shares
             WHERE record_type = $1 AND record_id = $2
             ORDER BY created_at, user_id"
        )))
        .bind(kind.name())
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(|r| from_row(kind, r)).collect()
    }

    #[tracing::instrument(name = "crm.postgres.unshare_record", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "unshare_record", tenant_id = %viewer.tenant_id, record_id = %id))]
    async fn unshare(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        id: Uuid,
        user_id: Uuid,
    ) -> Result<()> {
        let mut tx = self.tx(viewer).await?;
        reached_owner(&mut tx, viewer, kind, id, Access::Control).await?;
        let Some(share) = existing(&mut tx, kind, id, user_id).await? else {
            return Err(Error::NotFound("share"));
        };
        sqlx::query(
            "DELETE FROM record_shares WHERE record_type = $1 AND record_id = $2 AND user_id = $3",
        )
        .bind(kind.name())
        .bind(id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[crate::events::records::record_shared(
                viewer, &share, false,
            )?],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user_id = %user_id, "record unshared");
        Ok(())
    }
}
