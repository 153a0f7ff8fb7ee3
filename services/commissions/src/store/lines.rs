//! Commission lines and statements. A line belongs to the period its deal counts toward (its
//! credit period) and lands in a statement period: the same one, unless that statement is
//! already paid, in which case it lands in the first unpaid period from today on.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Tx, audit, now, publish};
use crate::domain::Viewer;
use crate::domain::engine::{Line, LineKind, PeriodState, Rule};
use crate::domain::period::{Period, PeriodKind, Window};
use crate::domain::statement::{Statement, Status, StoredLine, Totals, opening_balance};
use crate::error::{Error, Result};

/// How many periods ahead a line may be pushed past paid statements.
const MAX_PERIODS_AHEAD: usize = 36;

#[derive(sqlx::FromRow)]
struct LineRow {
    id: Uuid,
    participant_id: Uuid,
    deal_id: Uuid,
    plan_version_id: Uuid,
    period_kind: String,
    credit_period_start: NaiveDate,
    statement_period_start: NaiveDate,
    kind: String,
    rule: String,
    pipeline_id: Option<Uuid>,
    product_id: Option<Uuid>,
    base: i64,
    rate: i64,
    multiplier: i64,
    tier: Option<i32>,
    band: Option<i32>,
    amount: i64,
    currency: String,
    reversal: bool,
    explanation: String,
    created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, participant_id, deal_id, plan_version_id, period_kind, credit_period_start,
    statement_period_start, kind, rule, pipeline_id, product_id, base, rate, multiplier, tier,
    band, amount, currency, reversal, explanation, created_at";

impl TryFrom<LineRow> for StoredLine {
    type Error = Error;

    fn try_from(row: LineRow) -> Result<Self> {
        let corrupt = |what: &str| Error::Internal(format!("stored line {}: {what}", row.id));
        let kind = PeriodKind::parse(&row.period_kind).ok_or_else(|| corrupt("period kind"))?;
        let line_kind = LineKind::parse(&row.kind).ok_or_else(|| corrupt("kind"))?;
        let rule = match (row.rule.as_str(), row.pipeline_id, row.product_id) {
            ("schedule", ..) => Rule::Schedule,
            ("pipeline", Some(pipeline), _) => Rule::Pipeline(pipeline),
            ("product", _, Some(product)) => Rule::Product(product),
            ("cap", ..) => Rule::Cap,
            _ => return Err(corrupt("rule")),
        };
        let index = |value: Option<i32>| value.and_then(|v| u32::try_from(v).ok());
        Ok(StoredLine {
            id: row.id,
            participant_id: row.participant_id,
            plan_version_id: row.plan_version_id,
            period: Period {
                kind,
                start: row.credit_period_start,
            },
            statement_period_start: row.statement_period_start,
            currency: row.currency,
            created_at: row.created_at,
            line: Line {
                deal_id: row.deal_id,
                kind: line_kind,
                rule,
                base: row.base,
                rate: row.rate,
                multiplier: row.multiplier,
                tier: index(row.tier),
                band: index(row.band),
                amount: row.amount,
                reversal: row.reversal,
                explanation: row.explanation,
            },
        })
    }
}

fn stored(rows: Vec<LineRow>) -> Result<Vec<StoredLine>> {
    rows.into_iter().map(StoredLine::try_from).collect()
}

/// Lines counting toward `participant`'s credit `period` (wherever they landed), in order.
pub async fn credited_in(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
) -> Result<Vec<StoredLine>> {
    let rows: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM commission_lines
         WHERE participant_id = $1 AND period_kind = $2 AND credit_period_start = $3 ORDER BY seq"
    )))
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_all(&mut **tx)
    .await?;
    stored(rows)
}

/// Credited bookings of `participant` over `window`, net of clawbacks: each credit period
/// measured on its own (as the engine does), then added up.
pub async fn attained_over(tx: &mut Tx, participant: Uuid, window: Window) -> Result<i64> {
    let lines = if window.year_to_date {
        let rows: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM commission_lines
             WHERE participant_id = $1 AND period_kind = $2
               AND credit_period_start >= $3 AND credit_period_start < $4
             ORDER BY seq"
        )))
        .bind(participant)
        .bind(window.kind.as_str())
        .bind(window.start)
        .bind(window.end)
        .fetch_all(&mut **tx)
        .await?;
        stored(rows)?
    } else {
        let period = Period {
            kind: window.kind,
            start: window.start,
        };
        credited_in(tx, participant, period).await?
    };
    let mut by_period: BTreeMap<NaiveDate, Vec<&Line>> = BTreeMap::new();
    for stored in &lines {
        by_period
            .entry(stored.period.start)
            .or_default()
            .push(&stored.line);
    }
    Ok(by_period
        .into_values()
        .map(|lines| PeriodState::from_lines(lines).attained)
        .sum())
}

/// Lines landing in `participant`'s statement for `period`, in order.
pub async fn in_statement(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
) -> Result<Vec<StoredLine>> {
    let rows: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM commission_lines
         WHERE participant_id = $1 AND period_kind = $2 AND statement_period_start = $3 ORDER BY seq"
    )))
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_all(&mut **tx)
    .await?;
    stored(rows)
}

/// The lines of a deal for `participant` not yet reversed.
pub async fn in_force_of_deal(
    tx: &mut Tx,
    participant: Uuid,
    deal_id: Uuid,
) -> Result<Vec<StoredLine>> {
    let rows: Vec<LineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM commission_lines
         WHERE participant_id = $1 AND deal_id = $2 AND NOT reversal AND NOT reversed ORDER BY seq"
    )))
    .bind(participant)
    .bind(deal_id)
    .fetch_all(&mut **tx)
    .await?;
    stored(rows)
}

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    participant: Uuid,
    version_id: Uuid,
    period: Period,
    statement_start: NaiveDate,
    currency: &str,
    lines: &[Line],
    event_id: Uuid,
) -> Result<()> {
    let created_at = now();
    for line in lines {
        let (rule, pipeline, product) = match line.rule {
            Rule::Schedule => ("schedule", None, None),
            Rule::Pipeline(pipeline) => ("pipeline", Some(pipeline), None),
            Rule::Product(product) => ("product", None, Some(product)),
            Rule::Cap => ("cap", None, None),
        };
        let index = |value: Option<u32>| value.and_then(|v| i32::try_from(v).ok());
        sqlx::query(
            "INSERT INTO commission_lines (id, tenant_id, participant_id, deal_id, plan_version_id,
                 period_kind, credit_period_start, statement_period_start, kind, rule, pipeline_id,
                 product_id, base, rate, multiplier, tier, band, amount, currency, reversal,
                 explanation, event_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20, $21, $22, $23)",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(participant)
        .bind(line.deal_id)
        .bind(version_id)
        .bind(period.kind.as_str())
        .bind(period.start)
        .bind(statement_start)
        .bind(line.kind.as_str())
        .bind(rule)
        .bind(pipeline)
        .bind(product)
        .bind(line.base)
        .bind(line.rate)
        .bind(line.multiplier)
        .bind(index(line.tier))
        .bind(index(line.band))
        .bind(line.amount)
        .bind(currency)
        .bind(line.reversal)
        .bind(&line.explanation)
        .bind(event_id)
        .bind(created_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub async fn mark_reversed(tx: &mut Tx, ids: &[Uuid]) -> Result<()> {
    sqlx::query("UPDATE commission_lines SET reversed = true WHERE id = ANY($1)")
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn status(tx: &mut Tx, participant: Uuid, period: Period) -> Result<Status> {
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT status FROM statements WHERE participant_id = $1 AND period_kind = $2 AND period_start = $3",
    )
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_optional(&mut **tx)
    .await?;
    match stored {
        None => Ok(Status::Draft),
        Some(name) => Status::parse(&name)
            .ok_or_else(|| Error::Internal(format!("stored statement status {name:?}"))),
    }
}

/// Where a line of credit `period` lands: that period's statement unless it is paid, else the
/// first unpaid period from `today` on (paid statements are locked).
pub async fn statement_period(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
    fiscal_start_month: u32,
    today: NaiveDate,
) -> Result<NaiveDate> {
    if status(tx, participant, period).await? != Status::Paid {
        return Ok(period.start);
    }
    let mut candidate =
        Period::containing(period.kind, fiscal_start_month, today.max(period.end()));
    for _ in 0..MAX_PERIODS_AHEAD {
        if status(tx, participant, candidate).await? != Status::Paid {
            return Ok(candidate.start);
        }
        candidate = Period::containing(period.kind, fiscal_start_month, candidate.end());
    }
    Err(Error::FailedPrecondition(
        "every statement in the next periods is already paid".to_owned(),
    ))
}

pub async fn statement(tx: &mut Tx, participant: Uuid, period: Period) -> Result<Statement> {
    let lines = in_statement(tx, participant, period).await?;
    let status = status(tx, participant, period).await?;
    let adjustments = super::adjustments::in_statement(tx, participant, period).await?;
    let currency = lines
        .first()
        .map(|l| l.currency.clone())
        .or_else(|| adjustments.first().map(|a| a.currency.clone()))
        .unwrap_or_default();
    let adjusted = adjustments
        .iter()
        .filter(|a| a.status == crate::domain::adjustment::AdjustmentStatus::Approved)
        .map(|a| a.amount)
        .sum();
    let opening = opening_balance(earlier_totals(tx, participant, period, &currency).await?);
    Ok(Statement {
        opening,
        adjusted,
        adjustments,
        participant_id: participant,
        period,
        currency,
        status,
        totals: Totals::of(lines.iter().map(|l| &l.line)),
        lines,
    })
}

/// Totals (lines and approved adjustments) of `participant`'s statements of `period`'s kind
/// before it, oldest first; only those in `currency` when it is known.
async fn earlier_totals(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
    currency: &str,
) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT sum(amount)::bigint FROM (
             SELECT statement_period_start AS period_start, amount FROM commission_lines
             WHERE participant_id = $1 AND period_kind = $2 AND statement_period_start < $3
               AND ($4 = '' OR currency = $4)
             UNION ALL
             SELECT period_start, amount FROM adjustments
             WHERE participant_id = $1 AND period_kind = $2 AND period_start < $3
               AND status = 'approved' AND ($4 = '' OR currency = $4)
         ) earlier
         GROUP BY period_start ORDER BY period_start",
    )
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .bind(currency)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn set_status(
    tx: &mut Tx,
    viewer: Viewer,
    participant: Uuid,
    period: Period,
    to: Status,
) -> Result<()> {
    sqlx::query(
        "SELECT 1 FROM statements WHERE participant_id = $1 AND period_kind = $2 AND period_start = $3 FOR UPDATE",
    )
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .fetch_optional(&mut **tx)
    .await?;
    let from = status(tx, participant, period).await?;
    from.transition(to).map_err(Error::FailedPrecondition)?;
    sqlx::query(
        "INSERT INTO statements (tenant_id, participant_id, period_kind, period_start, status, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id, participant_id, period_kind, period_start) DO UPDATE SET
             status = EXCLUDED.status, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
    )
    .bind(viewer.tenant_id)
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .bind(to.as_str())
    .bind(viewer.user_id)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    publish(
        tx,
        crate::events::publish::statement_status_changed(
            viewer.tenant_id,
            viewer.user_id,
            participant,
            period,
            to,
        ),
    )
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "statement.status_changed",
        Some(participant),
        &format!(
            "{} {}: {} -> {}",
            period.kind.as_str(),
            period.start,
            from.as_str(),
            to.as_str()
        ),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct SequencedRow {
    seq: i64,
    #[sqlx(flatten)]
    line: LineRow,
}

/// Up to `limit` lines landing in `participant`'s statement for `period` after the line
/// recorded at `after` (its `seq`), in order, each with its `seq` (the page cursor).
pub async fn in_statement_after(
    tx: &mut Tx,
    participant: Uuid,
    period: Period,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, StoredLine)>> {
    let rows: Vec<SequencedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT seq, {COLUMNS} FROM commission_lines
         WHERE participant_id = $1 AND period_kind = $2 AND statement_period_start = $3
           AND ($4::bigint IS NULL OR seq > $4)
         ORDER BY seq LIMIT $5"
    )))
    .bind(participant)
    .bind(period.kind.as_str())
    .bind(period.start)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|row| Ok((row.seq, StoredLine::try_from(row.line)?)))
        .collect()
}
