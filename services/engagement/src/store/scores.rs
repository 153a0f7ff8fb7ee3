//! Per-kind scores stored as of a time and decayed on read, and each record's summary (last
//! touch, state at the last touch).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Tx;
use crate::domain::engagement::engagement_at;
use crate::domain::{Decayed, Engagement, Kind, RecordRef, ScoringModel, State};
use crate::error::{Error, Result};

/// Merges what a batch adds into the stored scores. The update is [`Decayed::merge`] in SQL:
/// both scores brought to the later of their times, then summed. `sums` is sorted by key, so
/// concurrent batches lock rows in one order.
pub async fn merge(
    tx: &mut Tx,
    tenant_id: Uuid,
    model: &ScoringModel,
    sums: &BTreeMap<(RecordRef, Kind), Decayed>,
) -> Result<()> {
    if sums.is_empty() {
        return Ok(());
    }
    let record_types: Vec<&str> = sums.keys().map(|(r, _)| r.record_type.as_str()).collect();
    let record_ids: Vec<Uuid> = sums.keys().map(|(r, _)| r.id).collect();
    let kinds: Vec<String> = sums.keys().map(|(_, k)| k.key()).collect();
    let scores: Vec<f64> = sums.values().map(|d| d.score).collect();
    let as_of: Vec<DateTime<Utc>> = sums.values().map(|d| d.as_of).collect();
    sqlx::query(
        "INSERT INTO engagement_scores AS s (tenant_id, record_type, record_id, kind, score, as_of)
         SELECT $1, t.record_type, t.record_id, t.kind, t.score, t.as_of
         FROM unnest($2::text[], $3::uuid[], $4::text[], $5::float8[], $6::timestamptz[])
              AS t(record_type, record_id, kind, score, as_of)
         ON CONFLICT (tenant_id, record_type, record_id, kind) DO UPDATE SET
             score = s.score * power(2::float8,
                         -greatest(extract(epoch FROM EXCLUDED.as_of - s.as_of)::float8, 0) / $7)
                   + EXCLUDED.score * power(2::float8,
                         -greatest(extract(epoch FROM s.as_of - EXCLUDED.as_of)::float8, 0) / $7),
             as_of = greatest(s.as_of, EXCLUDED.as_of)",
    )
    .bind(tenant_id)
    .bind(&record_types)
    .bind(&record_ids)
    .bind(&kinds)
    .bind(&scores)
    .bind(&as_of)
    .bind(model.half_life_secs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The stored per-kind scores of `record`.
async fn stored_scores(tx: &mut Tx, record: RecordRef) -> Result<Vec<(Kind, Decayed)>> {
    let rows: Vec<(String, f64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT kind, score, as_of FROM engagement_scores
         WHERE record_type = $1 AND record_id = $2",
    )
    .bind(record.record_type.as_str())
    .bind(record.id)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(|(kind, score, as_of)| {
            let kind = Kind::from_key(&kind)
                .map_err(|_| Error::Internal(format!("stored kind {kind:?}")))?;
            Ok((kind, Decayed { score, as_of }))
        })
        .collect()
}

async fn summary(tx: &mut Tx, record: RecordRef) -> Result<Option<(DateTime<Utc>, State)>> {
    let row: Option<(DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT last_touch_at, state FROM engagement_summaries
         WHERE record_type = $1 AND record_id = $2",
    )
    .bind(record.record_type.as_str())
    .bind(record.id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.and_then(|(last, state)| State::parse(&state).map(|s| (last, s))))
}

/// `record`'s engagement at `now`.
pub async fn read(
    tx: &mut Tx,
    model: &ScoringModel,
    record: RecordRef,
    now: DateTime<Utc>,
) -> Result<Engagement> {
    let scores = stored_scores(tx, record).await?;
    let summary = summary(tx, record).await?;
    Ok(engagement_at(
        model,
        scores,
        summary.map(|(_, state)| state),
        summary.map(|(last, _)| last),
        now,
    ))
}

/// After a batch: each touched record's last touch and state (re-decided at `now` from its
/// previous state). Answers the records whose state changed, with the previous state and
/// the score.
pub async fn touch_summaries(
    tx: &mut Tx,
    tenant_id: Uuid,
    model: &ScoringModel,
    touched: &BTreeMap<RecordRef, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Vec<(RecordRef, Option<State>, State, f64)>> {
    let mut changes = Vec::new();
    let mut record_types = Vec::with_capacity(touched.len());
    let mut record_ids = Vec::with_capacity(touched.len());
    let mut last_touches = Vec::with_capacity(touched.len());
    let mut states = Vec::with_capacity(touched.len());
    for (record, last_touch) in touched {
        let current = read(tx, model, *record, now).await?;
        let previous = summary(tx, *record).await?.map(|(_, s)| s);
        if previous != Some(current.state) {
            changes.push((*record, previous, current.state, current.score));
        }
        record_types.push(record.record_type.as_str());
        record_ids.push(record.id);
        last_touches.push(*last_touch);
        states.push(current.state.as_str());
    }
    sqlx::query(
        "INSERT INTO engagement_summaries AS s (tenant_id, record_type, record_id, last_touch_at, state)
         SELECT $1, t.record_type, t.record_id, t.last_touch_at, t.state
         FROM unnest($2::text[], $3::uuid[], $4::timestamptz[], $5::text[])
              AS t(record_type, record_id, last_touch_at, state)
         ON CONFLICT (tenant_id, record_type, record_id) DO UPDATE SET
             last_touch_at = greatest(s.last_touch_at, EXCLUDED.last_touch_at),
             state = EXCLUDED.state",
    )
    .bind(tenant_id)
    .bind(&record_types)
    .bind(&record_ids)
    .bind(&last_touches)
    .bind(&states)
    .execute(&mut **tx)
    .await?;
    Ok(changes)
}

/// Recomputes every score of the tenant from its recorded touches that scored, with `model`'s
/// points and half-life, as of now. (Which touches scored under the daily caps is kept as
/// recorded.) Answers the number of scores written.
pub async fn rescore(tx: &mut Tx, tenant_id: Uuid, model: &ScoringModel) -> Result<u64> {
    let mut kinds: Vec<String> = Kind::built_in().map(|k| k.key()).collect();
    kinds.extend(
        model
            .rules
            .keys()
            .filter(|k| matches!(k, Kind::Custom(_)))
            .map(Kind::key),
    );
    let points: Vec<f64> = kinds
        .iter()
        .map(|key| Kind::from_key(key).map_or(0.0, |k| model.rule(&k).points))
        .collect();
    let default_custom = Kind::Custom("_".to_owned()).default_points();
    sqlx::query("DELETE FROM engagement_scores")
        .execute(&mut **tx)
        .await?;
    let written = sqlx::query(
        "WITH rules AS (
             SELECT * FROM unnest($2::text[], $3::float8[]) AS r(kind, points)
         ), touched AS (
             SELECT record_type, record_id, kind, occurred_at
             FROM engagement_events WHERE counted
             UNION ALL
             SELECT 'account', account_id, kind, occurred_at
             FROM engagement_events
             WHERE counted AND record_type = 'contact' AND account_id IS NOT NULL
         )
         INSERT INTO engagement_scores (tenant_id, record_type, record_id, kind, score, as_of)
         SELECT $1, t.record_type, t.record_id, t.kind,
                sum(coalesce(r.points, $4) * power(2::float8,
                    -greatest(extract(epoch FROM $5 - t.occurred_at)::float8, 0) / $6)),
                $5
         FROM touched t LEFT JOIN rules r ON r.kind = t.kind
         GROUP BY t.record_type, t.record_id, t.kind",
    )
    .bind(tenant_id)
    .bind(&kinds)
    .bind(&points)
    .bind(default_custom)
    .bind(super::now())
    .bind(model.half_life_secs)
    .execute(&mut **tx)
    .await?;
    Ok(written.rows_affected())
}
