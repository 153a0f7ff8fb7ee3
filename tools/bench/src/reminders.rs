//! Reminder lateness (issue 23): how late the crm's scheduler fires reminders while many are
//! pending. Lateness = fire time (`reminded_at`, set in the transaction that fires the reminder
//! and writes its event) − remind time.
//!
//! Method: a synthetic tenant gets `--pending` reminders due a day later (the load the scheduler
//! must not be slowed by: its index, its next-due query) and `--probes` reminders spread evenly
//! over `--window`, starting `--lead` from now. The running crm service fires them; once every
//! probe fired (or the deadline passed) the probes' lateness is summarized. Everything is
//! written straight into the crm schema as the owner (so no API validation, and no thousands of
//! RPCs to set up), then deleted. The crm service must run against the same database and schema.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use hdrhistogram::Histogram;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::args::parse_duration;
use crate::seed::is_loopback_db;

/// How long after the last probe's time the run waits for it before giving up.
const GRACE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(250);

#[derive(Args)]
pub struct ReminderArgs {
    /// The platform database (owner connection; the crm schema is inside).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/salescompass"
    )]
    database_url: String,
    #[arg(long, default_value = "crm")]
    schema: String,
    /// Reminders pending during the run (due a day later).
    #[arg(long, default_value_t = 100_000)]
    pending: u32,
    /// Reminders measured, due evenly over the window.
    #[arg(long, default_value_t = 1000)]
    probes: u32,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    window: Duration,
    /// Time from the end of the setup to the first probe.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    lead: Duration,
    /// Leave the rows in place (for a look at them afterwards).
    #[arg(long)]
    keep: bool,
}

pub async fn run(args: ReminderArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        is_loopback_db(&args.database_url),
        "the database must be on loopback"
    );
    anyhow::ensure!(
        args.schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_'),
        "--schema must be a plain lowercase identifier"
    );
    anyhow::ensure!(args.probes > 0, "--probes must be at least 1");
    let mut db = PgConnection::connect(&args.database_url)
        .await
        .context("connecting to the database")?;
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(&args.schema)
        .execute(&mut db)
        .await?;
    let tenant = Uuid::now_v7();
    let owner = Uuid::now_v7();
    // The owner acting on their own reminders: no "assigned to you" notification per row.
    sqlx::query("SELECT set_config('crm.actor_id', $1, false)")
        .bind(owner.to_string())
        .execute(&mut db)
        .await?;
    eprintln!(
        "tenant {tenant}: inserting {} pending reminders",
        args.pending
    );
    insert(
        &mut db,
        tenant,
        owner,
        args.pending,
        "bench pending",
        Utc::now() + chrono::Duration::days(1),
        Duration::ZERO,
    )
    .await?;

    let first = Utc::now() + chrono::Duration::from_std(args.lead)?;
    let step = args.window / args.probes;
    eprintln!(
        "inserting {} probes due from {first} every {step:?}",
        args.probes
    );
    insert(
        &mut db,
        tenant,
        owner,
        args.probes,
        "bench probe",
        first,
        step,
    )
    .await?;

    let deadline = Instant::now() + args.lead + args.window + GRACE;
    let fired = loop {
        let (fired, total): (i64, i64) = sqlx::query_as(
            "SELECT count(reminded_at), count(*) FROM activities
             WHERE tenant_id = $1 AND subject = 'bench probe'",
        )
        .bind(tenant)
        .fetch_one(&mut db)
        .await?;
        if fired == total || Instant::now() >= deadline {
            break fired;
        }
        tokio::time::sleep(POLL).await;
    };
    let rows: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT remind_at, reminded_at FROM activities
         WHERE tenant_id = $1 AND subject = 'bench probe'",
    )
    .bind(tenant)
    .fetch_all(&mut db)
    .await?;
    let mut lateness = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    let mut early = 0;
    for (due, at) in rows.iter().filter_map(|(due, at)| at.map(|at| (*due, at))) {
        let late = (at - due).num_microseconds().unwrap_or(i64::MAX);
        if late < 0 {
            early += 1;
        }
        lateness.saturating_record(u64::try_from(late.max(1)).unwrap_or(u64::MAX));
    }
    let ms = |q: f64| lateness.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "reminders pending={} probes={} fired={} early={} lateness_ms p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        args.pending,
        args.probes,
        fired,
        early,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        lateness.max() as f64 / 1000.0
    );
    if !args.keep {
        for table in ["activities", "notifications", "outbox"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE tenant_id = $1"
            )))
            .bind(tenant)
            .execute(&mut db)
            .await?;
        }
    }
    anyhow::ensure!(
        fired == i64::from(args.probes),
        "{} probes did not fire in time",
        i64::from(args.probes) - fired
    );
    Ok(())
}

/// `count` task reminders of `owner`, the n-th due at `first + n * step`.
async fn insert(
    db: &mut PgConnection,
    tenant: Uuid,
    owner: Uuid,
    count: u32,
    subject: &str,
    first: DateTime<Utc>,
    step: Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO activities (id, tenant_id, kind, subject, related_type, related_id,
             remind_at, owner_id, created_at, updated_at)
         SELECT gen_random_uuid(), $1, 'task', $2, 'lead', $1, $3 + n * $4::interval, $5, now(),
             now()
         FROM generate_series(0, $6 - 1) AS n",
    )
    .bind(tenant)
    .bind(subject)
    .bind(first)
    .bind(format!("{} microseconds", step.as_micros()))
    .bind(owner)
    .bind(i64::from(count))
    .execute(&mut *db)
    .await
    .context("inserting reminders")?;
    Ok(())
}
