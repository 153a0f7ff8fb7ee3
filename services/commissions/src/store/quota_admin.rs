//! Quota management beyond setting one: listing, reading and deleting a user's quotas, and the
//! CSV upload's rows (`domain::quota_upload` decides what a row's outcome means).

use chrono::NaiveDate;
use uuid::Uuid;

use super::browse::{KeyRow, cursor_of, holders, keyed};
use super::quotas::{self, Holder};
use super::{Tx, audit, check_visible, publish, users};
use crate::domain::listing::{Page, PageRequest, PeriodCursor, PeriodFilter};
use crate::domain::period::{Period, PeriodKind};
use crate::domain::quota::Quota;
use crate::domain::quota_upload::{RowReport, RowResult, UploadRow, refuse_repeats};
use crate::domain::{FieldViolation, Viewer};
use crate::error::{Error, Result};

/// The quotas the viewer may see, newest period first.
pub async fn list(
    tx: &mut Tx,
    viewer: Viewer,
    filter: PeriodFilter,
    page: PageRequest<PeriodCursor>,
) -> Result<Page<Quota, PeriodCursor>> {
    let visible = holders(tx, viewer, filter.holder).await?;
    let after = page.after;
    let rows: Vec<(Uuid, String, NaiveDate, String, i64)> = sqlx::query_as(
        "SELECT user_id, period_kind, period_start, currency, amount FROM quotas
         WHERE ($1::uuid[] IS NULL OR user_id = ANY($1))
           AND ($2::text IS NULL OR period_kind = $2)
           AND ($3::date IS NULL OR period_start = $3)
           AND ($4::date IS NULL OR period_start < $4
                OR (period_start = $4 AND (user_id, period_kind) > ($5, $6)))
         ORDER BY period_start DESC, user_id, period_kind
         LIMIT $7",
    )
    .bind(visible)
    .bind(filter.kind.map(PeriodKind::as_str))
    .bind(filter.start)
    .bind(after.map(|a| a.start))
    .bind(after.map(|a| a.holder))
    .bind(after.map(|a| a.kind.as_str()))
    .bind(i64::from(page.size) + 1)
    .fetch_all(&mut **tx)
    .await?;
    let (keys, amounts): (Vec<KeyRow>, Vec<(String, i64)>) = rows
        .into_iter()
        .map(|(user, kind, start, currency, amount)| ((user, kind, start), (currency, amount)))
        .unzip();
    let quotas = keyed(keys)?
        .into_iter()
        .zip(amounts)
        .map(|((user_id, period), (currency, amount))| Quota {
            user_id,
            period,
            currency,
            amount,
        })
        .collect();
    Ok(Page::from_rows(quotas, page.size, |q: &Quota| {
        cursor_of(&(q.user_id, q.period))
    }))
}

async fn find(tx: &mut Tx, user: Uuid, period: Period) -> Result<Option<Quota>> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT currency, amount FROM quotas
         WHERE user_id = $1 AND period_kind = $2 AND period_start = $3",
    )
    .bind(user)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(currency, amount)| Quota {
        user_id: user,
        period,
        currency,
        amount,
    }))
}

/// A visible user's quota for `period`.
pub async fn get(tx: &mut Tx, viewer: Viewer, user: Uuid, period: Period) -> Result<Quota> {
    check_visible(tx, viewer, user)
        .await
        .map_err(|_| Error::NotFound("quota"))?;
    find(tx, user, period)
        .await?
        .ok_or(Error::NotFound("quota"))
}

/// Deletes a quota no line was calculated against: lines of that credit period used it for
/// their multiplier bands, and a recalculation must keep finding it.
pub async fn delete(tx: &mut Tx, viewer: Viewer, user: Uuid, period: Period) -> Result<()> {
    let deleted: Option<(String, i64)> = sqlx::query_as(
        "DELETE FROM quotas WHERE user_id = $1 AND period_kind = $2 AND period_start = $3
         RETURNING currency, amount",
    )
    .bind(user)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((currency, amount)) = deleted else {
        return Err(Error::NotFound("quota"));
    };
    let used: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM commission_lines
                        WHERE participant_id = $1 AND period_kind = $2 AND credit_period_start = $3)",
    )
    .bind(user)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_one(&mut **tx)
    .await?;
    if used {
        return Err(Error::FailedPrecondition(format!(
            "commission lines of the {} starting {} were calculated against this quota; set a new amount instead",
            period.kind.as_str(),
            period.start
        )));
    }
    publish(
        tx,
        crate::events::publish::quota_deleted(viewer.tenant_id, user, period),
    )
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "quota.deleted",
        Some(user),
        &format!(
            "{} {}: {amount} {currency}",
            period.kind.as_str(),
            period.start
        ),
    )
    .await
}

/// Writes the good rows of an upload, each after checking its user is known; a row that fails
/// writes nothing. The caller commits or rolls back as `quota_upload::settle` says.
pub async fn upload(
    tx: &mut Tx,
    viewer: Viewer,
    mut rows: Vec<UploadRow>,
) -> Result<Vec<RowReport>> {
    refuse_repeats(&mut rows);
    let mut reports = Vec::with_capacity(rows.len());
    for row in rows {
        let result = match row.quota {
            Err(violations) => RowResult::Failed(violations),
            Ok(quota) => {
                if users::is_active(tx, quota.user_id).await?.is_none() {
                    RowResult::Failed(vec![FieldViolation::new(
                        "user_id",
                        "no such user in this tenant",
                    )])
                } else {
                    let existed = find(tx, quota.user_id, quota.period).await?.is_some();
                    quotas::set(tx, viewer, Holder::User, &quota).await?;
                    if existed {
                        RowResult::Updated
                    } else {
                        RowResult::Created
                    }
                }
            }
        };
        reports.push(RowReport {
            row: row.row,
            key: row.key,
            result,
        });
    }
    Ok(reports)
}
