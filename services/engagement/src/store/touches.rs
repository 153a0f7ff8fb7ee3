//! Recording touches: idempotent on the tenant's request ids, daily caps counted per record,
//! kind and UTC day, scores merged into the stored per-kind scores (as of the latest touch), the
//! record's summary (last touch, state) updated, and a record leaving the disengaged state
//! announced through the outbox.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Tx, now, scores};
use crate::domain::batch::{self, CapKey};
use crate::domain::record::KnownRecord;
use crate::domain::touch::{Attribution, NewTouch, Touch};
use crate::domain::{Kind, RecordRef, RecordType, ScoringModel, State};
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct TouchRow {
    id: Uuid,
    request_id: String,
    kind: String,
    record_type: String,
    record_id: Uuid,
    user_id: Option<Uuid>,
    channel: String,
    source: String,
    campaign: String,
    utm_source: String,
    utm_medium: String,
    utm_campaign: String,
    utm_term: String,
    utm_content: String,
    occurred_at: DateTime<Utc>,
    points: f64,
    created_at: DateTime<Utc>,
}

impl TryFrom<TouchRow> for Touch {
    type Error = Error;

    fn try_from(row: TouchRow) -> Result<Self> {
        let kind = Kind::from_key(&row.kind)
            .map_err(|_| Error::Internal(format!("stored kind {:?}", row.kind)))?;
        let record_type = RecordType::parse(&row.record_type)
            .ok_or_else(|| Error::Internal(format!("stored record type {:?}", row.record_type)))?;
        Ok(Touch {
            id: row.id,
            touch: NewTouch {
                request_id: row.request_id,
                kind,
                record: RecordRef {
                    record_type,
                    id: row.record_id,
                },
                occurred_at: row.occurred_at,
                user_id: row.user_id,
                attribution: Attribution {
                    channel: row.channel,
                    source: row.source,
                    campaign: row.campaign,
                    utm_source: row.utm_source,
                    utm_medium: row.utm_medium,
                    utm_campaign: row.utm_campaign,
                    utm_term: row.utm_term,
                    utm_content: row.utm_content,
                },
            },
            points: row.points,
            created_at: row.created_at,
        })
    }
}

/// Records `touches` (`known[i]` is the projection's view of touch i's record) and answers every
/// touch as recorded, in order: a request id recorded before (in an earlier batch, or earlier
/// in this one) answers the first recording.
pub async fn record(
    tx: &mut Tx,
    tenant_id: Uuid,
    model: &ScoringModel,
    touches: Vec<NewTouch>,
    known: &[KnownRecord],
) -> Result<Vec<Touch>> {
    let created_at = now();
    // The first touch of each request id is the one recorded.
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, touch) in touches.iter().enumerate() {
        first.entry(touch.request_id.as_str()).or_insert(i);
    }
    let mut candidates: Vec<usize> = first.values().copied().collect();
    candidates.sort_unstable();
    let ids: Vec<Uuid> = candidates.iter().map(|_| Uuid::now_v7()).collect();

    // Insert first, unscored: the unique request id decides which touches are new, also against
    // a concurrent batch with the same ids (which this insert waits for).
    let inserted: Vec<String> = insert(
        tx,
        tenant_id,
        &touches,
        known,
        &candidates,
        &ids,
        created_at,
    )
    .await?;
    let inserted: std::collections::HashSet<String> = inserted.into_iter().collect();
    let new: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|i| inserted.contains(&touches[*i].request_id))
        .collect();

    if !new.is_empty() {
        let new_touches: Vec<NewTouch> = new.iter().map(|i| touches[*i].clone()).collect();
        let accounts: Vec<Option<Uuid>> = new
            .iter()
            .map(|i| account_of(&touches[*i], known[*i]))
            .collect();
        let groups = batch::cap_groups(&new_touches);
        let totals = count_daily(tx, tenant_id, &groups).await?;
        let points = batch::points(model, &new_touches, &groups, &totals);
        set_points(tx, &new_touches, &points).await?;
        let sums = batch::contributions(model, &new_touches, &points, &accounts);
        scores::merge(tx, tenant_id, model, &sums).await?;
        let mut touched: BTreeMap<RecordRef, DateTime<Utc>> = BTreeMap::new();
        for (i, touch) in new_touches.iter().enumerate() {
            let mut note = |record: RecordRef| {
                let last = touched.entry(record).or_insert(touch.occurred_at);
                *last = (*last).max(touch.occurred_at);
            };
            note(touch.record);
            if let Some(account) =
                accounts[i].filter(|_| touch.record.record_type == RecordType::Contact)
            {
                note(RecordRef {
                    record_type: RecordType::Account,
                    id: account,
                });
            }
        }
        let changes = scores::touch_summaries(tx, tenant_id, model, &touched, created_at).await?;
        for (record, previous, state, score) in changes {
            publish_state_change(tx, tenant_id, record, previous, state, score, created_at).await?;
        }
    }

    let request_ids: Vec<String> = touches.iter().map(|t| t.request_id.clone()).collect();
    let rows: Vec<TouchRow> = sqlx::query_as(
        "SELECT id, request_id, kind, record_type, record_id, user_id, channel, source, campaign,
                utm_source, utm_medium, utm_campaign, utm_term, utm_content, occurred_at, points,
                created_at
         FROM engagement_events
         WHERE request_id = ANY($1)",
    )
    .bind(&request_ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut by_request: HashMap<String, Touch> = HashMap::with_capacity(rows.len());
    for row in rows {
        let touch = Touch::try_from(row)?;
        by_request.insert(touch.touch.request_id.clone(), touch);
    }
    touches
        .iter()
        .map(|t| {
            by_request
                .get(&t.request_id)
                .cloned()
                .ok_or_else(|| Error::Internal("recorded touch missing".to_owned()))
        })
        .collect()
}

/// The account a touch also counts for: a contact's account, or the account itself.
fn account_of(touch: &NewTouch, known: KnownRecord) -> Option<Uuid> {
    match touch.record.record_type {
        RecordType::Account => Some(touch.record.id),
        RecordType::Contact => known.account_id,
        RecordType::Lead => None,
    }
}

/// Inserts the candidates unscored; answers the request ids that were new.
async fn insert(
    tx: &mut Tx,
    tenant_id: Uuid,
    touches: &[NewTouch],
    known: &[KnownRecord],
    candidates: &[usize],
    ids: &[Uuid],
    created_at: DateTime<Utc>,
) -> Result<Vec<String>> {
    let pick = |f: &dyn Fn(&NewTouch) -> String| -> Vec<String> {
        candidates.iter().map(|i| f(&touches[*i])).collect()
    };
    let request_ids = pick(&|t| t.request_id.clone());
    let kinds = pick(&|t| t.kind.key());
    let record_types = pick(&|t| t.record.record_type.as_str().to_owned());
    let record_ids: Vec<Uuid> = candidates.iter().map(|i| touches[*i].record.id).collect();
    let accounts: Vec<Option<Uuid>> = candidates
        .iter()
        .map(|i| account_of(&touches[*i], known[*i]))
        .collect();
    let owners: Vec<Option<Uuid>> = candidates.iter().map(|i| known[*i].owner_id).collect();
    let users: Vec<Option<Uuid>> = candidates.iter().map(|i| touches[*i].user_id).collect();
    let channel = pick(&|t| t.attribution.channel.clone());
    let source = pick(&|t| t.attribution.source.clone());
    let campaign = pick(&|t| t.attribution.campaign.clone());
    let utm_source = pick(&|t| t.attribution.utm_source.clone());
    let utm_medium = pick(&|t| t.attribution.utm_medium.clone());
    let utm_campaign = pick(&|t| t.attribution.utm_campaign.clone());
    let utm_term = pick(&|t| t.attribution.utm_term.clone());
    let utm_content = pick(&|t| t.attribution.utm_content.clone());
    let occurred: Vec<DateTime<Utc>> = candidates.iter().map(|i| touches[*i].occurred_at).collect();
    Ok(sqlx::query_scalar(
        "INSERT INTO engagement_events (id, tenant_id, request_id, kind, record_type, record_id,
             account_id, owner_id, user_id, channel, source, campaign, utm_source, utm_medium,
             utm_campaign, utm_term, utm_content, occurred_at, counted, points, created_at)
         SELECT t.id, $1, t.request_id, t.kind, t.record_type, t.record_id, t.account_id,
                t.owner_id, t.user_id, t.channel, t.source, t.campaign, t.utm_source,
                t.utm_medium, t.utm_campaign, t.utm_term, t.utm_content, t.occurred_at, false, 0,
                $19
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::uuid[],
                     $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[],
                     $14::text[], $15::text[], $16::text[], $17::text[], $18::timestamptz[])
              AS t(id, request_id, kind, record_type, record_id, account_id, owner_id, user_id,
                   channel, source, campaign, utm_source, utm_medium, utm_campaign, utm_term,
                   utm_content, occurred_at)
         ON CONFLICT (tenant_id, request_id) DO NOTHING
         RETURNING request_id",
    )
    .bind(tenant_id)
    .bind(ids)
    .bind(&request_ids)
    .bind(&kinds)
    .bind(&record_types)
    .bind(&record_ids)
    .bind(&accounts)
    .bind(&owners)
    .bind(&users)
    .bind(&channel)
    .bind(&source)
    .bind(&campaign)
    .bind(&utm_source)
    .bind(&utm_medium)
    .bind(&utm_campaign)
    .bind(&utm_term)
    .bind(&utm_content)
    .bind(&occurred)
    .bind(created_at)
    .fetch_all(&mut **tx)
    .await?)
}

/// Adds each group's touches to its daily counter; answers the counters after the batch.
async fn count_daily(
    tx: &mut Tx,
    tenant_id: Uuid,
    groups: &BTreeMap<CapKey, Vec<usize>>,
) -> Result<BTreeMap<CapKey, u32>> {
    let keys: Vec<&CapKey> = groups.keys().collect();
    let record_types: Vec<&str> = keys.iter().map(|k| k.record.record_type.as_str()).collect();
    let record_ids: Vec<Uuid> = keys.iter().map(|k| k.record.id).collect();
    let kinds: Vec<String> = keys.iter().map(|k| k.kind.key()).collect();
    let days: Vec<NaiveDate> = keys.iter().map(|k| k.day).collect();
    let added: Vec<i32> = groups
        .values()
        .map(|v| i32::try_from(v.len()).unwrap_or(i32::MAX))
        .collect();
    let rows: Vec<(String, Uuid, String, NaiveDate, i32)> = sqlx::query_as(
        "INSERT INTO engagement_daily_counts (tenant_id, record_type, record_id, kind, day, touches)
         SELECT $1, t.record_type, t.record_id, t.kind, t.day, t.added
         FROM unnest($2::text[], $3::uuid[], $4::text[], $5::date[], $6::int[])
              AS t(record_type, record_id, kind, day, added)
         ON CONFLICT (tenant_id, record_type, record_id, kind, day)
         DO UPDATE SET touches = engagement_daily_counts.touches + EXCLUDED.touches
         RETURNING record_type, record_id, kind, day, touches",
    )
    .bind(tenant_id)
    .bind(&record_types)
    .bind(&record_ids)
    .bind(&kinds)
    .bind(&days)
    .bind(&added)
    .fetch_all(&mut **tx)
    .await?;
    let mut totals = BTreeMap::new();
    for (record_type, record_id, kind, day, touches) in rows {
        let (Some(record_type), Ok(kind)) =
            (RecordType::parse(&record_type), Kind::from_key(&kind))
        else {
            return Err(Error::Internal("stored daily count unreadable".to_owned()));
        };
        totals.insert(
            CapKey {
                record: RecordRef {
                    record_type,
                    id: record_id,
                },
                kind,
                day,
            },
            u32::try_from(touches).unwrap_or(0),
        );
    }
    Ok(totals)
}

/// Stores the points of the touches that scored.
async fn set_points(tx: &mut Tx, touches: &[NewTouch], points: &[f64]) -> Result<()> {
    let (request_ids, scored): (Vec<String>, Vec<f64>) = touches
        .iter()
        .zip(points)
        .filter(|(_, p)| **p > 0.0)
        .map(|(t, p)| (t.request_id.clone(), *p))
        .unzip();
    if request_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE engagement_events e SET counted = true, points = t.points
         FROM unnest($1::text[], $2::float8[]) AS t(request_id, points)
         WHERE e.request_id = t.request_id",
    )
    .bind(&request_ids)
    .bind(&scored)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// `engagement.<account|lead>.disengaged|reengaged` when a record crosses into the disengaged
/// state or out of it. Contacts' states are kept but not announced.
pub(crate) async fn publish_state_change(
    tx: &mut Tx,
    tenant_id: Uuid,
    record: RecordRef,
    previous: Option<State>,
    state: State,
    score: f64,
    at: DateTime<Utc>,
) -> Result<()> {
    let verb = match (previous, state) {
        (Some(State::Disengaged), State::Engaged | State::Cooling) => "reengaged",
        (Some(State::Engaged | State::Cooling), State::Disengaged) => "disengaged",
        _ => return Ok(()),
    };
    if record.record_type == RecordType::Contact {
        return Ok(());
    }
    let event =
        crate::events::publish::state_changed(tenant_id, record, verb, previous, state, score, at)
            .map_err(Error::Events)?;
    events::outbox::enqueue(tx, &event)
        .await
        .map_err(Error::Events)?;
    Ok(())
}
