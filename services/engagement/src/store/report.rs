//! The disengaged accounts report in one statement: each visible account's score now (the
//! stored per-kind scores decayed in SQL, as `Decayed::at` does), its state with hysteresis
//! (disengaged below `disengaged_enter`, or still disengaged below `disengaged_exit`), its last
//! touch and its open pipeline, keyset-paged by pipeline and id, both descending.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::ScoringModel;
use crate::domain::report::{DisengagedAccount, Money, ReportKey, ReportQuery};
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct Row {
    account_id: Uuid,
    owner_id: Option<Uuid>,
    score: f64,
    last_touch_at: Option<DateTime<Utc>>,
    pipeline_nanos: String,
}

/// One page (`limit` rows at most) after `after`; `owners` limits the accounts (`None`: all).
#[allow(clippy::too_many_arguments)]
pub async fn page(
    tx: &mut Tx,
    model: &ScoringModel,
    query: ReportQuery,
    owners: Option<&[Uuid]>,
    currency: &str,
    after: Option<&ReportKey>,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<(DisengagedAccount, ReportKey)>> {
    let rows: Vec<Row> = sqlx::query_as(
        "WITH accounts AS (
             SELECT record_id AS account_id, owner_id
             FROM engagement_records
             WHERE record_type = 'account' AND NOT deleted
               AND ($1::uuid[] IS NULL OR owner_id = ANY($1))
               AND ($2::uuid IS NULL OR owner_id = $2)
         ), scored AS (
             SELECT record_id AS account_id,
                    sum(score * power(2::float8,
                        -greatest(extract(epoch FROM $3 - as_of)::float8, 0) / $4)) AS score
             FROM engagement_scores
             WHERE record_type = 'account'
             GROUP BY record_id
         ), pipeline AS (
             SELECT account_id,
                    sum(amount_units::numeric * 1000000000 + amount_nanos) AS nanos
             FROM engagement_records
             WHERE record_type = 'opportunity' AND is_open AND NOT deleted
               AND currency_code = $5 AND account_id IS NOT NULL
             GROUP BY account_id
         ), report AS (
             SELECT a.account_id, a.owner_id, coalesce(s.score, 0) AS score,
                    m.last_touch_at, m.state, coalesce(p.nanos, 0) AS nanos
             FROM accounts a
             LEFT JOIN scored s ON s.account_id = a.account_id
             LEFT JOIN engagement_summaries m
                    ON m.record_type = 'account' AND m.record_id = a.account_id
             LEFT JOIN pipeline p ON p.account_id = a.account_id
         )
         SELECT account_id, owner_id, score, last_touch_at, nanos::text AS pipeline_nanos
         FROM report
         WHERE (score < $6
                OR (state = 'disengaged' AND score < $7)
                OR last_touch_at IS NULL
                OR last_touch_at < $3 - make_interval(days => $8))
           AND ($9::numeric IS NULL OR (nanos, account_id) < ($9::numeric, $10::uuid))
         ORDER BY nanos DESC, account_id DESC
         LIMIT $11",
    )
    .bind(owners)
    .bind(query.owner_id)
    .bind(now)
    .bind(model.half_life_secs)
    .bind(currency)
    .bind(model.thresholds.disengaged_enter)
    .bind(model.thresholds.disengaged_exit)
    .bind(i32::try_from(query.inactive_days).unwrap_or(i32::MAX))
    .bind(after.map(|(nanos, _)| nanos.as_str()))
    .bind(after.map(|(_, id)| *id))
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            let nanos: i128 = row
                .pipeline_nanos
                .parse()
                .map_err(|_| Error::Internal("open pipeline unreadable".to_owned()))?;
            let open_pipeline = Money::from_nanos(currency, nanos)
                .ok_or_else(|| Error::Internal("open pipeline out of range".to_owned()))?;
            Ok((
                DisengagedAccount {
                    account_id: row.account_id,
                    owner_id: row.owner_id,
                    score: row.score,
                    last_touch: row.last_touch_at,
                    open_pipeline,
                },
                (row.pipeline_nanos, row.account_id),
            ))
        })
        .collect()
}
