//! Browsing statements and lines page by page, limited to the participants the viewer may see.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{Tx, check_visible, lines, users};
use crate::domain::Viewer;
use crate::domain::listing::{Page, PageRequest, PeriodCursor, PeriodFilter};
use crate::domain::period::{Period, PeriodKind};
use crate::domain::statement::{Statement, StoredLine};
use crate::error::{Error, Result};

/// Whose rows a listing may return: `None` for everyone (admins), else the viewer and, for
/// managers, everyone below them. A named holder the viewer may not see is not found.
pub(crate) async fn holders(
    tx: &mut Tx,
    viewer: Viewer,
    named: Option<Uuid>,
) -> Result<Option<Vec<Uuid>>> {
    if let Some(holder) = named {
        check_visible(tx, viewer, holder).await?;
        return Ok(Some(vec![holder]));
    }
    if viewer.is_admin() {
        return Ok(None);
    }
    let mut visible = vec![viewer.user_id];
    if viewer.needs_team() {
        visible.extend(users::reports(tx, viewer.user_id).await?);
    }
    Ok(Some(visible))
}

/// Rows of a period listing as fetched: holder, kind, first day.
pub(crate) type KeyRow = (Uuid, String, NaiveDate);

pub(crate) fn cursor_of(row: &(Uuid, Period)) -> PeriodCursor {
    PeriodCursor {
        start: row.1.start,
        holder: row.0,
        kind: row.1.kind,
    }
}

pub(crate) fn keyed(rows: Vec<KeyRow>) -> Result<Vec<(Uuid, Period)>> {
    rows.into_iter()
        .map(|(holder, kind, start)| {
            let kind = PeriodKind::parse(&kind)
                .ok_or_else(|| Error::Internal(format!("stored period kind {kind:?}")))?;
            Ok((holder, Period { kind, start }))
        })
        .collect()
}

/// The statements the viewer may see: those with a line, an adjustment or a status, newest
/// period first. Each carries its totals and balances, without lines and adjustments.
pub async fn statements(
    tx: &mut Tx,
    viewer: Viewer,
    filter: PeriodFilter,
    page: PageRequest<PeriodCursor>,
) -> Result<Page<Statement, PeriodCursor>> {
    let visible = holders(tx, viewer, filter.holder).await?;
    let after = page.after;
    let rows: Vec<KeyRow> = sqlx::query_as(
        "WITH keys AS (
             SELECT participant_id, period_kind, statement_period_start AS period_start
             FROM commission_lines
             UNION SELECT participant_id, period_kind, period_start FROM adjustments
             UNION SELECT participant_id, period_kind, period_start FROM statements
         )
         SELECT participant_id, period_kind, period_start FROM keys
         WHERE ($1::uuid[] IS NULL OR participant_id = ANY($1))
           AND ($2::text IS NULL OR period_kind = $2)
           AND ($3::date IS NULL OR period_start = $3)
           AND ($4::date IS NULL OR period_start < $4
                OR (period_start = $4 AND (participant_id, period_kind) > ($5, $6)))
         ORDER BY period_start DESC, participant_id, period_kind
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
    let keys = Page::from_rows(keyed(rows)?, page.size, cursor_of);
    let mut items = Vec::with_capacity(keys.items.len());
    for (participant, period) in keys.items {
        let mut statement = lines::statement(tx, participant, period).await?;
        statement.lines.clear();
        statement.adjustments.clear();
        items.push(statement);
    }
    Ok(Page {
        items,
        next: keys.next,
    })
}

/// One page of the lines landing in `participant`'s statement for `period`; the cursor is the
/// last line's recording sequence.
pub async fn lines(
    tx: &mut Tx,
    viewer: Viewer,
    participant: Uuid,
    period: Period,
    page: PageRequest<i64>,
) -> Result<Page<StoredLine, i64>> {
    check_visible(tx, viewer, participant).await?;
    let rows = lines::in_statement_after(
        tx,
        participant,
        period,
        page.after,
        i64::from(page.size) + 1,
    )
    .await?;
    let found = Page::from_rows(rows, page.size, |(seq, _)| *seq);
    Ok(Page {
        items: found.items.into_iter().map(|(_, line)| line).collect(),
        next: found.next,
    })
}
