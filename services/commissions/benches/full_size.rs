//! Full-size measurements of issue 6 against the real PostgreSQL and RabbitMQ, with the service
//! spawned in this process (as the tests do, on its own schema, queue and exchange):
//!
//! 1. Recalculation: `DEALS` won deals for `REPS` reps in one quarter under a flat 5 % plan,
//!    seeded in bulk as the ledger records them (a `deal_steps` row and a commission line per
//!    deal), then `RecalculatePeriod` over gRPC for every rep, one after another. Prints the wall
//!    time and the peak resident memory of this process (service and client; PostgreSQL's own
//!    memory is not included).
//! 2. Event to line: `RATE` won-deal events per second for `DURATION_SECS` seconds published to
//!    the exchange; for each deal, the commission line's `created_at` (written in the consumer's
//!    transaction) minus the publish time. Prints p50, p99 and max.
//!
//! ```text
//! cargo bench -p commissions --bench full_size
//! DEALS=2000 REPS=20 DURATION_SECS=2 cargo bench --profile dev -p commissions --bench full_size
//! ```

use std::time::{Duration, Instant, SystemTime};

use auth::BuiltinRole;
use chrono::{DateTime, Utc};
use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use prost::Message;
use proto::commissions as pb;
use proto::crm as crm_pb;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tonic::Request;
use tonic::transport::Channel;
use uuid::Uuid;

const QUARTER: &str = "2026-04-01";
/// 5 % in millionths.
const RATE_MILLIONTHS: i64 = 50_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set of this process (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn req<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

struct Bench {
    service: commissions::testing::TestCommissions,
    pool: PgPool,
    channel: Channel,
    tenant_id: Uuid,
    admin: (Uuid, String),
}

impl Bench {
    async fn start() -> Self {
        let service = commissions::testing::spawn().await;
        let options: PgConnectOptions = testkit::database_url().parse().expect("database url");
        let options = options.options([("search_path", service.schema.name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect to the bench schema");
        let channel = service.channel().await;
        let tenant_id = Uuid::now_v7();
        let admin_id = Uuid::now_v7();
        let token = service.token(tenant_id, admin_id, BuiltinRole::Admin);
        let bench = Self {
            service,
            pool,
            channel,
            tenant_id,
            admin: (admin_id, token),
        };
        bench.project(&[admin_id], BuiltinRole::Admin).await;
        bench
    }

    async fn project(&self, users: &[Uuid], role: BuiltinRole) {
        sqlx::query(
            "INSERT INTO commission_users (tenant_id, user_id, manager_id, role, active, source_time)
             SELECT $1, u, NULL, $3, true, now() FROM unnest($2::uuid[]) AS u",
        )
        .bind(self.tenant_id)
        .bind(users)
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .expect("users projected");
    }

    /// A flat 5 % quarterly plan for `reps`; returns the version id.
    async fn plan(&self, name: &str, reps: &[Uuid]) -> Uuid {
        let plan = pb::plan_service_client::PlanServiceClient::new(self.channel.clone())
            .create_plan(req(
                &self.admin.1,
                pb::CreatePlanRequest {
                    name: name.to_owned(),
                    version: Some(pb::PlanVersion {
                        effective_from: "2026-01-01".into(),
                        participant_ids: reps.iter().map(Uuid::to_string).collect(),
                        currency_code: "USD".into(),
                        period: pb::PeriodKind::Quarter as i32,
                        flat_rate_millionths: RATE_MILLIONTHS,
                        ..Default::default()
                    }),
                },
            ))
            .await
            .expect("plan created")
            .into_inner();
        plan.versions[0].id.parse().expect("version id")
    }
}

fn reps(count: u64) -> Vec<Uuid> {
    (0..count).map(|_| Uuid::now_v7()).collect()
}

async fn recalculation(deals: u64, rep_count: u64) {
    let bench = Bench::start().await;
    let reps = reps(rep_count);
    bench.project(&reps, BuiltinRole::SalesRep).await;
    let version = bench.plan("Recalc 5%", &reps).await;
    // Deal i goes to rep i % REPS; amounts 1 000.00 to 50 999.00 in steps of 0.20 (5 % is exact).
    let seeded = Instant::now();
    sqlx::query(
        "WITH deals AS (
             SELECT i, ($2::uuid[])[1 + i % cardinality($2::uuid[])] AS rep,
                    gen_random_uuid() AS deal_id, gen_random_uuid() AS event_id,
                    100000 + (i * 104729 % 250000) * 20 AS credited
             FROM generate_series(0, $3 - 1) AS i
         ), steps AS (
             INSERT INTO deal_steps (tenant_id, participant_id, plan_version_id, period_kind,
                 period_start, deal_id, step, credited, pipeline_id, event_id, recorded_at, close_date)
             SELECT $1, rep, $4, 'quarter', $5, deal_id, 'won', credited, NULL, event_id, now(), $5
             FROM deals ORDER BY i
         )
         INSERT INTO commission_lines (id, tenant_id, participant_id, deal_id, plan_version_id,
             period_kind, credit_period_start, statement_period_start, kind, rule, pipeline_id,
             base, rate, multiplier, tier, band, amount, currency, reversal, explanation, event_id,
             created_at)
         SELECT gen_random_uuid(), $1, rep, deal_id, $4, 'quarter', $5, $5, 'commission',
             'schedule', NULL, credited, $6, 1000000, NULL, NULL, credited * $6 / 1000000, 'USD',
             false, 'seeded', event_id, now()
         FROM deals ORDER BY i",
    )
    .bind(bench.tenant_id)
    .bind(&reps)
    .bind(i64::try_from(deals).expect("deal count"))
    .bind(version)
    .bind(chrono::NaiveDate::parse_from_str(QUARTER, "%Y-%m-%d").expect("date"))
    .bind(RATE_MILLIONTHS)
    .execute(&bench.pool)
    .await
    .expect("deals seeded");
    sqlx::query("ANALYZE deal_steps; ANALYZE commission_lines")
        .execute(&bench.pool)
        .await
        .ok();
    println!(
        "seeded {deals} won deals for {rep_count} reps in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    let mut client =
        pb::commission_service_client::CommissionServiceClient::new(bench.channel.clone());
    let started = Instant::now();
    let (mut stored, mut recalculated, mut lines) = (0_i64, 0_i64, 0_usize);
    for rep in &reps {
        let response = client
            .recalculate_period(req(
                &bench.admin.1,
                pb::RecalculatePeriodRequest {
                    participant_id: rep.to_string(),
                    period: pb::PeriodKind::Quarter as i32,
                    period_start: QUARTER.into(),
                },
            ))
            .await
            .expect("recalculated")
            .into_inner();
        stored += response.stored_total_minor;
        recalculated += response.recalculated_total_minor;
        lines += response.recalculated_lines.len();
    }
    let elapsed = started.elapsed();
    println!(
        "recalculated {deals} deals for {rep_count} reps in {:.3} s: {lines} lines, total {recalculated} (stored {stored}, equal: {}); peak RSS {:.1} MiB",
        elapsed.as_secs_f64(),
        recalculated == stored,
        peak_rss_mib()
    );
}

fn won(tenant_id: Uuid, rep: Uuid, deal_id: Uuid, units: i64) -> Vec<u8> {
    let payload = crm_pb::OpportunityClosed {
        opportunity: Some(crm_pb::Opportunity {
            id: deal_id.to_string(),
            ..Default::default()
        }),
        amount: Some(proto::google::r#type::Money {
            currency_code: "USD".into(),
            units,
            nanos: 0,
        }),
        owner_id: rep.to_string(),
        pipeline_id: Uuid::now_v7().to_string(),
        close_date: "2026-05-12".into(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.opportunity.won",
        tenant_id,
        "opportunity",
        deal_id,
        &payload,
    )
    .expect("event")
    .to_envelope()
    .encode_to_vec()
}

async fn event_latency(rate: u64, seconds: u64, rep_count: u64) {
    let bench = Bench::start().await;
    let reps = reps(rep_count);
    bench.project(&reps, BuiltinRole::SalesRep).await;
    bench.plan("Latency 5%", &reps).await;
    let settings = &bench.service.settings.amqp;
    let connection = Connection::connect(&settings.url, ConnectionProperties::default())
        .await
        .expect("connect to rabbitmq");
    let channel = connection.create_channel().await.expect("channel");
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let mut ticker = tokio::time::interval(interval);
    let mut sent: Vec<(Uuid, SystemTime)> = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let deal_id = Uuid::now_v7();
        let rep = reps[(i % rep_count) as usize];
        let body = won(bench.tenant_id, rep, deal_id, 1_000 + (i as i64 % 5_000));
        let at = SystemTime::now();
        channel
            .basic_publish(
                settings.exchange.as_str().into(),
                "crm.opportunity.won".into(),
                BasicPublishOptions::default(),
                &body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        sent.push((deal_id, at));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let created: Vec<(Uuid, DateTime<Utc>)> = loop {
        let rows: Vec<(Uuid, DateTime<Utc>)> =
            sqlx::query_as("SELECT deal_id, created_at FROM commission_lines WHERE NOT reversal")
                .fetch_all(&bench.pool)
                .await
                .expect("lines readable");
        if rows.len() as u64 >= total || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let created: std::collections::HashMap<Uuid, DateTime<Utc>> = created.into_iter().collect();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(deal, at)| {
            let line = created.get(deal)?;
            let published: DateTime<Utc> = (*at).into();
            Some((*line - published).num_microseconds()? as f64 / 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "event -> line at {rate}/s for {seconds} s: {} of {total} lines, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pick(0.50),
        pick(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    let _ = connection.close(200, "done".into()).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        recalculation(env("DEALS", 100_000), env("REPS", 500).max(1)).await;
        event_latency(
            env("RATE", 100).max(1),
            env("DURATION_SECS", 30),
            env("REPS", 500).max(1),
        )
        .await;
    });
}
