//! Manual adjustments and disputes.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Tx, audit, check_visible, now, publish};
use crate::domain::Viewer;
use crate::domain::adjustment::{
    Adjustment, AdjustmentStatus, Dispute, DisputeStatus, check_approval,
};
use crate::domain::period::{Period, PeriodKind};
use crate::domain::statement::Status;
use crate::error::{Error, Result};

async fn refuse_paid(tx: &mut Tx, participant: Uuid, period: Period) -> Result<()> {
    if super::lines::status(tx, participant, period).await? == Status::Paid {
        return Err(Error::FailedPrecondition(
            "the statement is paid and locked: adjust the current period instead".to_owned(),
        ));
    }
    Ok(())
}

pub async fn create(tx: &mut Tx, viewer: Viewer, adjustment: &Adjustment) -> Result<()> {
    if super::users::is_active(tx, adjustment.participant_id)
        .await?
        .is_none()
    {
        return Err(Error::invalid(
            "adjustment.participant_id",
            "no such user in this tenant",
        ));
    }
    refuse_paid(tx, adjustment.participant_id, adjustment.period).await?;
    sqlx::query(
        "INSERT INTO adjustments (id, tenant_id, participant_id, period_kind, period_start, amount,
             currency, reason, status, requested_by, approved_by, created_at, approved_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(adjustment.id)
    .bind(viewer.tenant_id)
    .bind(adjustment.participant_id)
    .bind(adjustment.period.kind.as_str())
    .bind(adjustment.period.start)
    .bind(adjustment.amount)
    .bind(&adjustment.currency)
    .bind(&adjustment.reason)
    .bind(adjustment.status.as_str())
    .bind(adjustment.requested_by)
    .bind(adjustment.approved_by)
    .bind(adjustment.created_at)
    .bind(adjustment.approved_by.map(|_| adjustment.created_at))
    .execute(&mut **tx)
    .await?;
    publish(
        tx,
        crate::events::publish::adjustment_changed(
            viewer.tenant_id,
            viewer.user_id,
            "created",
            adjustment,
        ),
    )
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "adjustment.created",
        Some(adjustment.id),
        &format!(
            "{} {} for {} ({}): {}",
            adjustment.amount,
            adjustment.currency,
            adjustment.participant_id,
            adjustment.status.as_str(),
            adjustment.reason
        ),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct AdjustmentRow {
    id: Uuid,
    participant_id: Uuid,
    period_kind: String,
    period_start: NaiveDate,
    amount: i64,
    currency: String,
    reason: String,
    status: String,
    requested_by: Uuid,
    approved_by: Option<Uuid>,
    created_at: DateTime<Utc>,
}

impl TryFrom<AdjustmentRow> for Adjustment {
    type Error = Error;

    fn try_from(row: AdjustmentRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Internal(format!("stored adjustment {}: {what}", row.id));
        Ok(Adjustment {
            id: row.id,
            participant_id: row.participant_id,
            period: Period {
                kind: PeriodKind::parse(&row.period_kind).ok_or_else(|| corrupt("period"))?,
                start: row.period_start,
            },
            currency: row.currency,
            amount: row.amount,
            reason: row.reason,
            status: AdjustmentStatus::parse(&row.status).ok_or_else(|| corrupt("status"))?,
            requested_by: row.requested_by,
            approved_by: row.approved_by,
            created_at: row.created_at,
        })
    }
}

const COLUMNS: &str = "id, participant_id, period_kind, period_start, amount, currency, reason, status, requested_by, approved_by, created_at";

/// Approves a pending adjustment; `None` when there is none with this id.
pub async fn approve(tx: &mut Tx, viewer: Viewer, id: Uuid) -> Result<Option<Adjustment>> {
    let row: Option<AdjustmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM adjustments WHERE id = $1 FOR UPDATE"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut adjustment = Adjustment::try_from(row)?;
    check_approval(
        adjustment.status,
        adjustment.requested_by,
        adjustment.participant_id,
        viewer.user_id,
    )
    .map_err(|e| Error::FailedPrecondition(e.to_owned()))?;
    refuse_paid(tx, adjustment.participant_id, adjustment.period).await?;
    sqlx::query(
        "UPDATE adjustments SET status = 'approved', approved_by = $2, approved_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(viewer.user_id)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "adjustment.approved",
        Some(id),
        "",
    )
    .await?;
    adjustment.status = AdjustmentStatus::Approved;
    adjustment.approved_by = Some(viewer.user_id);
    publish(
        tx,
        crate::events::publish::adjustment_changed(
            viewer.tenant_id,
            viewer.user_id,
            "approved",
            &adjustment,
        ),
    )
    .await?;
    Ok(Some(adjustment))
}

pub async fn in_statement(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
) -> Result<Vec<Adjustment>> {
    let rows: Vec<AdjustmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM adjustments
         WHERE participant_id = $1 AND period_kind = $2 AND period_start = $3 ORDER BY created_at, id"
    )))
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter().map(Adjustment::try_from).collect()
}

/// Flags a line the viewer can see; `None` when there is no such line.
pub async fn raise_dispute(
    tx: &mut Tx,
    viewer: Viewer,
    line_id: Uuid,
    comment: String,
) -> Result<Option<Dispute>> {
    let participant: Option<Uuid> =
        sqlx::query_scalar("SELECT participant_id FROM commission_lines WHERE id = $1")
            .bind(line_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(participant) = participant else {
        return Ok(None);
    };
    if check_visible(tx, viewer, participant).await.is_err() {
        return Ok(None);
    }
    let dispute = Dispute {
        id: Uuid::now_v7(),
        line_id,
        comment,
        status: DisputeStatus::Open,
        resolution: String::new(),
        raised_by: viewer.user_id,
        resolved_by: None,
        created_at: now(),
    };
    sqlx::query(
        "INSERT INTO disputes (id, tenant_id, line_id, raised_by, comment, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'open', $6)",
    )
    .bind(dispute.id)
    .bind(viewer.tenant_id)
    .bind(line_id)
    .bind(viewer.user_id)
    .bind(&dispute.comment)
    .bind(dispute.created_at)
    .execute(&mut **tx)
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "dispute.raised",
        Some(line_id),
        &dispute.comment,
    )
    .await?;
    Ok(Some(dispute))
}

pub async fn resolve_dispute(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    resolution: String,
) -> Result<Option<Dispute>> {
    let row: Option<(Uuid, Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT line_id, raised_by, comment, status, created_at FROM disputes WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((line_id, raised_by, comment, status, created_at)) = row else {
        return Ok(None);
    };
    if status != DisputeStatus::Open.as_str() {
        return Err(Error::FailedPrecondition(
            "the dispute is already resolved".to_owned(),
        ));
    }
    sqlx::query(
        "UPDATE disputes SET status = 'resolved', resolution = $2, resolved_by = $3, resolved_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(&resolution)
    .bind(viewer.user_id)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "dispute.resolved",
        Some(line_id),
        &resolution,
    )
    .await?;
    let dispute = Dispute {
        id,
        line_id,
        comment,
        status: DisputeStatus::Resolved,
        resolution,
        raised_by,
        resolved_by: Some(viewer.user_id),
        created_at,
    };
    // The participant learns of it with the statement the disputed line landed in.
    let (participant, kind, start): (Uuid, String, NaiveDate) = sqlx::query_as(
        "SELECT participant_id, period_kind, statement_period_start FROM commission_lines WHERE id = $1",
    )
    .bind(line_id)
    .fetch_one(&mut **tx)
    .await?;
    let kind = PeriodKind::parse(&kind)
        .ok_or_else(|| Error::Internal(format!("stored period kind {kind:?}")))?;
    publish(
        tx,
        crate::events::publish::dispute_resolved(
            viewer.tenant_id,
            viewer.user_id,
            participant,
            Period { kind, start },
            &dispute,
        ),
    )
    .await?;
    Ok(Some(dispute))
}
