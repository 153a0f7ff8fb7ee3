//! Full-size measurements of issue 24 against the real PostgreSQL and RabbitMQ, with the service
//! spawned in this process (as the tests do, on its own schema, queue and exchange), called over
//! gRPC on loopback:
//!
//! 1. Ingestion: `EVENTS` touches in batches of `BATCH` (≤ 500) from `CONNECTIONS` concurrent
//!    clients, each touch on one of `CONTACTS` contacts. Prints events/s.
//! 2. Score reads: `READS` GetContactEngagement calls from 32 concurrent clients. Prints p50/p99.
//! 3. Heatmap: `HEATMAP_EVENTS` touches of one tenant seeded in bulk over 90 days, then a 90-day
//!    heatmap, `HEATMAP_RUNS` times. Prints p50/max.
//! 4. Event to score: `RATE` `crm.activity.logged` events per second for `DURATION_SECS` seconds
//!    published to the exchange; per event, the touch's `created_at` (written in the consumer's
//!    transaction) minus the publish time. Prints p50, p99 and max.
//!
//! ```text
//! cargo bench -p engagement --bench full_size
//! EVENTS=2000 READS=500 HEATMAP_EVENTS=10000 DURATION_SECS=2 cargo bench --profile dev -p engagement --bench full_size
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auth::BuiltinRole;
use chrono::{DateTime, Utc};
use prost::Message;
use proto::crm as crm_pb;
use proto::engagement as pb;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tonic::Request;
use tonic::transport::Channel;
use uuid::Uuid;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn req<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).expect("nanos"),
    }
}

/// The value at quantile `q` of sorted `values`.
fn pick(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let i = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

struct Bench {
    service: engagement::testing::TestEngagement,
    pool: PgPool,
    channel: Channel,
    tenant_id: Uuid,
    token: String,
    owner: Uuid,
    contacts: Arc<Vec<Uuid>>,
}

impl Bench {
    async fn start(contacts: u64) -> Self {
        let service = engagement::testing::spawn().await;
        let options: PgConnectOptions = testkit::database_url().parse().expect("database url");
        let options = options.options([("search_path", service.schema.name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect to the bench schema");
        let channel = service.channel().await;
        let tenant_id = Uuid::now_v7();
        let owner = Uuid::now_v7();
        let token = service.token(tenant_id, owner, BuiltinRole::Admin);
        let contacts: Vec<Uuid> = (0..contacts).map(|_| Uuid::now_v7()).collect();
        let account = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO engagement_records (tenant_id, record_type, record_id, owner_id, account_id, source_time)
             SELECT $1, 'contact', c, $2, $3, now() FROM unnest($4::uuid[]) AS c
             UNION ALL SELECT $1, 'account', $3, $2, NULL, now()",
        )
        .bind(tenant_id)
        .bind(owner)
        .bind(account)
        .bind(&contacts)
        .execute(&pool)
        .await
        .expect("records projected");
        Self {
            service,
            pool,
            channel,
            tenant_id,
            token,
            owner,
            contacts: Arc::new(contacts),
        }
    }

    fn client(&self) -> pb::engagement_service_client::EngagementServiceClient<Channel> {
        pb::engagement_service_client::EngagementServiceClient::new(self.channel.clone())
    }
}

async fn ingestion(bench: &Bench, events: u64, batch: u64, connections: u64) {
    let batches = events.div_ceil(batch);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = bench.client();
        let token = bench.token.clone();
        let contacts = bench.contacts.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = client;
            let mut n = c;
            while n < batches {
                let now = Utc::now();
                let events = (0..batch)
                    .map(|i| pb::EngagementEvent {
                        request_id: format!("bench-{n}-{i}"),
                        kind: pb::EngagementKind::WebVisit as i32,
                        contact_id: contacts[((n * batch + i) as usize) % contacts.len()]
                            .to_string(),
                        occur_time: Some(ts(now)),
                        source: "bench".into(),
                        ..Default::default()
                    })
                    .collect();
                client
                    .batch_create_engagement_events(req(
                        &token,
                        pb::BatchCreateEngagementEventsRequest { events },
                    ))
                    .await
                    .expect("batch recorded");
                n += connections;
            }
        }));
    }
    for task in tasks {
        task.await.expect("ingestion task");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ingestion: {} events in batches of {batch} over {connections} connections in {secs:.2} s: {:.0} events/s",
        batches * batch,
        (batches * batch) as f64 / secs
    );
}

async fn score_reads(bench: &Bench, reads: u64) {
    const CONNECTIONS: u64 = 32;
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let mut client = bench.client();
        let token = bench.token.clone();
        let contacts = bench.contacts.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = c;
            while n < reads {
                let contact = contacts[(n as usize) % contacts.len()];
                let started = Instant::now();
                client
                    .get_contact_engagement(req(
                        &token,
                        pb::GetContactEngagementRequest {
                            contact_id: contact.to_string(),
                        },
                    ))
                    .await
                    .expect("score read");
                latencies.push(started.elapsed().as_secs_f64() * 1e3);
                n += CONNECTIONS;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("read task"));
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "score reads at {CONNECTIONS} connections: {} reads, p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        pick(&latencies, 0.50),
        pick(&latencies, 0.99)
    );
}

async fn heatmap(bench: &Bench, events: u64, runs: u64) {
    // Spread over 90 days, as the service records them (one row per touch).
    sqlx::query(
        "INSERT INTO engagement_events (id, tenant_id, request_id, kind, record_type, record_id,
             account_id, owner_id, occurred_at, counted, points, created_at)
         SELECT gen_random_uuid(), $1, 'seed-' || g, 'email_opened', 'contact',
                ($4::uuid[])[1 + g % array_length($4::uuid[], 1)], NULL, $2,
                now() - (g % (90 * 86400)) * interval '1 second', true, 2, now()
         FROM generate_series(1, $3) AS g",
    )
    .bind(bench.tenant_id)
    .bind(bench.owner)
    .bind(i64::try_from(events).expect("count"))
    .bind(bench.contacts.as_slice())
    .execute(&bench.pool)
    .await
    .expect("touches seeded");
    sqlx::query("ANALYZE engagement_events")
        .execute(&bench.pool)
        .await
        .expect("analyze");
    let mut client = bench.client();
    let mut latencies = Vec::new();
    for _ in 0..runs {
        let now = Utc::now();
        let started = Instant::now();
        let answer = client
            .get_engagement_heatmap(req(
                &bench.token,
                pb::GetEngagementHeatmapRequest {
                    start_time: Some(ts(now - chrono::Duration::days(90))),
                    end_time: Some(ts(now)),
                    ..Default::default()
                },
            ))
            .await
            .expect("heatmap")
            .into_inner();
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(!answer.cells.is_empty());
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "heatmap over 90 days of {events} seeded touches: {runs} runs, p50 {:.1} ms, max {:.1} ms",
        pick(&latencies, 0.50),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

fn call_logged(tenant_id: Uuid, contact: Uuid, owner: Uuid) -> proto::events::Envelope {
    let payload = crm_pb::ActivityChanged {
        activity: Some(crm_pb::Activity {
            id: Uuid::now_v7().to_string(),
            kind: crm_pb::ActivityKind::Call as i32,
            subject: "call".into(),
            related_to: Some(crm_pb::RecordRef {
                r#type: crm_pb::RecordType::Contact as i32,
                id: contact.to_string(),
            }),
            owner_id: owner.to_string(),
            ..Default::default()
        }),
        actor_id: owner.to_string(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.activity.logged",
        tenant_id,
        "activity",
        Uuid::now_v7(),
        &payload,
    )
    .expect("event")
    .to_envelope()
}

async fn event_latency(bench: &Bench, rate: u64, seconds: u64) {
    let settings = &bench.service.settings;
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut sent: Vec<(String, SystemTime)> = Vec::with_capacity(total as usize);
    let mut ticker = tokio::time::interval(interval);
    for n in 0..total {
        ticker.tick().await;
        let contact = bench.contacts[(n as usize) % bench.contacts.len()];
        let envelope = call_logged(bench.tenant_id, contact, bench.owner);
        let request_id = format!("event:{}", envelope.id);
        let at = SystemTime::now();
        testkit::amqp::publish(
            &settings.amqp.exchange,
            &[(envelope.event_type.as_str(), envelope.encode_to_vec())],
        )
        .await;
        sent.push((request_id, at));
    }
    let ids: Vec<String> = sent.iter().map(|(id, _)| id.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows: Vec<(String, DateTime<Utc>)> = loop {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT request_id, created_at FROM engagement_events WHERE request_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&bench.pool)
        .await
        .expect("touches readable");
        if rows.len() == ids.len() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let recorded: std::collections::HashMap<String, DateTime<Utc>> = rows.into_iter().collect();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| {
            let done = recorded.get(id)?;
            let published: DateTime<Utc> = (*at).into();
            Some((*done - published).num_microseconds()? as f64 / 1e3)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "event -> score at {rate}/s for {seconds} s: {} of {total} touches, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pick(&latencies, 0.50),
        pick(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let bench = Bench::start(env("CONTACTS", 10_000).max(1)).await;
        ingestion(
            &bench,
            env("EVENTS", 200_000).max(1),
            env("BATCH", 500).clamp(1, 500),
            env("CONNECTIONS", 4).max(1),
        )
        .await;
        score_reads(&bench, env("READS", 50_000).max(1)).await;
        heatmap(
            &bench,
            env("HEATMAP_EVENTS", 1_000_000).max(1),
            env("HEATMAP_RUNS", 10).max(1),
        )
        .await;
        event_latency(&bench, env("RATE", 500).max(1), env("DURATION_SECS", 30)).await;
    });
}
