//! Touch counts by ISO weekday and hour in the tenant's time zone.

use uuid::Uuid;

use super::Tx;
use crate::domain::heatmap::{Cell, HeatmapQuery};
use crate::error::Result;

/// The cells of `query` over the touches of records owned by `owners` (`None`: all), in
/// `time_zone` (an IANA name Postgres knows).
pub async fn cells(
    tx: &mut Tx,
    query: &HeatmapQuery,
    owners: Option<&[Uuid]>,
    time_zone: &str,
) -> Result<Vec<Cell>> {
    let rows: Vec<(i32, i32, i64)> = sqlx::query_as(
        "SELECT extract(isodow FROM occurred_at AT TIME ZONE $1)::int AS weekday,
                extract(hour FROM occurred_at AT TIME ZONE $1)::int AS hour,
                count(*) AS touches
         FROM engagement_events
         WHERE occurred_at >= $2 AND occurred_at < $3
           AND ($4::text IS NULL OR kind = $4)
           AND ($5::uuid IS NULL OR owner_id = $5)
           AND ($6::uuid IS NULL OR account_id = $6)
           AND ($7::uuid[] IS NULL OR owner_id = ANY($7))
         GROUP BY 1, 2
         ORDER BY 1, 2",
    )
    .bind(time_zone)
    .bind(query.start)
    .bind(query.end)
    .bind(query.kind.as_ref().map(|k| k.key()))
    .bind(query.owner_id)
    .bind(query.account_id)
    .bind(owners)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(weekday, hour, count)| Cell {
            weekday: u32::try_from(weekday).unwrap_or(0),
            hour: u32::try_from(hour).unwrap_or(0),
            count,
        })
        .collect())
}
