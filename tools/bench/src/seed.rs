//! Seeding: one tenant provisioned through the real tenants service (so logins, tokens and the
//! crm's user projection are the real ones), then leads and opportunities bulk-loaded with COPY
//! into the crm schema, shaped exactly like the rows the crm service writes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Args;
use proto::crm::pipeline_service_client::PipelineServiceClient;
use proto::crm::{ListPipelinesRequest, StageCategory};
use proto::tenants::tenant_service_client::TenantServiceClient;
use proto::tenants::user_service_client::UserServiceClient;
use proto::tenants::{
    AdminSpec, CreateUserRequest, ListUsersRequest, ProvisionTenantRequest, Role, Tenant,
};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::args::Loopback;
use crate::grpc_load::{authorized, channel, login};

/// Rows per COPY chunk sent to the server.
const CHUNK: usize = 20_000;
/// How long the crm may take to learn the users from the tenants events.
const PROJECTION_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct SeedArgs {
    /// The platform database (owner connection; the crm schema is inside).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/salescompass"
    )]
    database_url: String,
    #[arg(long, default_value = "crm")]
    schema: String,
    #[arg(long, default_value = "http://127.0.0.1:50051", value_parser = Loopback::parse)]
    tenants_addr: Loopback,
    #[arg(long, default_value = "http://127.0.0.1:50052", value_parser = Loopback::parse)]
    crm_addr: Loopback,
    /// The platform operator token (printed by `salescompass dev`).
    #[arg(long, env = "SC_OPERATOR_TOKEN")]
    operator_token: String,
    #[arg(long, default_value = "bench")]
    slug: String,
    #[arg(long, default_value = "bench-password-2026")]
    password: String,
    /// Sales reps besides the admin; leads are owned round-robin by all of them.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Managers the reps report to (round-robin; 0: the reps report to nobody), for the
    /// forecast's per-manager roll-up.
    #[arg(long, default_value_t = 0)]
    managers: usize,
    #[arg(long, default_value_t = 10_000)]
    leads: usize,
    #[arg(long, default_value_t = 0)]
    opportunities: usize,
    /// Write the tenant, login and user ids here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn is_loopback_db(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host_port.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1") || host.starts_with("127.")
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
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
    let admin_email = format!("admin@{}.test", args.slug);
    let started = Instant::now();

    // Tenant and admin, through the operator API; an existing tenant is reused.
    let mut tenants = TenantServiceClient::new(channel(&args.tenants_addr).await?);
    let provisioned = tenants
        .provision_tenant(authorized(
            ProvisionTenantRequest {
                tenant: Some(Tenant {
                    slug: args.slug.clone(),
                    display_name: format!("Benchmark {}", args.slug),
                    ..Default::default()
                }),
                admin: Some(AdminSpec {
                    email: admin_email.clone(),
                    password: args.password.clone(),
                    display_name: "Bench Admin".to_owned(),
                }),
            },
            &args.operator_token,
        )?)
        .await;
    match provisioned {
        Ok(_) => eprintln!("provisioned tenant {}", args.slug),
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            eprintln!("tenant {} exists: reusing it", args.slug)
        }
        Err(status) => return Err(status).context("provisioning the tenant"),
    }
    let login_triple = (
        args.slug.clone(),
        admin_email.clone(),
        args.password.clone(),
    );
    let bearer = login(&args.tenants_addr, &login_triple).await?;

    let mut users = UserServiceClient::new(channel(&args.tenants_addr).await?);
    let mut manager_ids = Vec::with_capacity(args.managers);
    for m in 1..=args.managers {
        let created = users
            .create_user(authorized(
                CreateUserRequest {
                    email: format!("manager{m}@{}.test", args.slug),
                    password: args.password.clone(),
                    display_name: format!("Manager {m}"),
                    role: Role::Manager as i32,
                    ..Default::default()
                },
                &bearer,
            )?)
            .await;
        match created {
            Ok(user) => manager_ids.push(user.into_inner().id),
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(status).context("creating a manager"),
        }
    }
    for r in 1..=args.reps {
        let manager_id = if manager_ids.is_empty() {
            String::new()
        } else {
            manager_ids[r % manager_ids.len()].clone()
        };
        let created = users
            .create_user(authorized(
                CreateUserRequest {
                    email: format!("rep{r}@{}.test", args.slug),
                    password: args.password.clone(),
                    display_name: format!("Rep {r}"),
                    role: Role::SalesRep as i32,
                    manager_id,
                    ..Default::default()
                },
                &bearer,
            )?)
            .await;
        match created {
            Ok(_) => {}
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(status).context("creating a sales rep"),
        }
    }
    let listed = users
        .list_users(authorized(
            ListUsersRequest {
                page_size: 1000,
                ..Default::default()
            },
            &bearer,
        )?)
        .await
        .context("listing users")?
        .into_inner()
        .users;
    let tenant_id: Uuid = listed
        .first()
        .context("the tenant has no users")?
        .tenant_id
        .parse()?;
    let admin_id: Uuid = listed
        .iter()
        .find(|u| u.email == admin_email)
        .context("the admin is not among the users")?
        .id
        .parse()?;
    let owners: Vec<Uuid> = listed
        .iter()
        .filter(|u| u.active)
        .map(|u| u.id.parse())
        .collect::<Result<_, _>>()?;

    let mut db = PgConnection::connect(&args.database_url)
        .await
        .context("connecting to the database")?;
    wait_for_projection(&mut db, &args.schema, tenant_id, &owners).await?;

    let have: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}.leads WHERE tenant_id = $1",
        args.schema
    )))
    .bind(tenant_id)
    .fetch_one(&mut db)
    .await?;
    let missing = args
        .leads
        .saturating_sub(usize::try_from(have).unwrap_or(0));
    if missing > 0 {
        let plan = LeadPlan::new(tenant_id, owners.clone(), missing);
        copy_rows(&mut db, &args.schema, LEAD_COPY, missing, |i, out| {
            plan.row(i, out)
        })
        .await?;
    }

    let mut opportunity_count = 0;
    if args.opportunities > 0 {
        let have: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {}.opportunities WHERE tenant_id = $1",
            args.schema
        )))
        .bind(tenant_id)
        .fetch_one(&mut db)
        .await?;
        let missing = args
            .opportunities
            .saturating_sub(usize::try_from(have).unwrap_or(0));
        if missing > 0 {
            let plan =
                opportunity_plan(&args.crm_addr, &bearer, tenant_id, owners.clone(), missing)
                    .await?;
            copy_rows(
                &mut db,
                &args.schema,
                OPPORTUNITY_COPY,
                missing,
                |i, out| plan.row(i, out),
            )
            .await?;
        }
        opportunity_count = args.opportunities;
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ANALYZE {0}.leads; ANALYZE {0}.opportunities",
        args.schema
    )))
    .execute(&mut db)
    .await?;

    let summary = serde_json::json!({
        "tenant_id": tenant_id,
        "slug": args.slug,
        "admin_email": admin_email,
        "admin_id": admin_id,
        "login": format!("{}:{}:{}", args.slug, admin_email, args.password),
        "owners": owners,
        "leads": args.leads,
        "opportunities": opportunity_count,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{summary}");
    Ok(())
}

/// Leads may only be owned by users the crm knows (it learns them from tenants events).
async fn wait_for_projection(
    db: &mut PgConnection,
    schema: &str,
    tenant_id: Uuid,
    users: &[Uuid],
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PROJECTION_DEADLINE;
    loop {
        let known: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {schema}.crm_users WHERE tenant_id = $1 AND user_id = ANY($2)"
        )))
        .bind(tenant_id)
        .bind(users)
        .fetch_one(&mut *db)
        .await?;
        if usize::try_from(known).unwrap_or(0) == users.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the crm knows {known} of {} users after {PROJECTION_DEADLINE:?}: is RabbitMQ up?",
            users.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const LEAD_COPY: &str = "leads (id, tenant_id, first_name, last_name, email, phone, company, \
    title, source, country_code, employee_count, status, rating, score, owner_id, created_at, \
    updated_at)";
const OPPORTUNITY_COPY: &str = "opportunities (id, tenant_id, name, amount_currency, \
    amount_units, amount_nanos, close_date, pipeline_id, stage_id, owner_id, stage_entered_at, \
    created_at, updated_at)";

async fn copy_rows(
    db: &mut PgConnection,
    schema: &str,
    target: &str,
    count: usize,
    row: impl Fn(usize, &mut String),
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut copy = db
        .copy_in_raw(&format!("COPY {schema}.{target} FROM STDIN"))
        .await?;
    let mut buffer = String::with_capacity(CHUNK * 256);
    for i in 0..count {
        row(i, &mut buffer);
        if (i + 1) % CHUNK == 0 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    let rows = copy.finish().await?;
    eprintln!(
        "copied {rows} rows into {schema}.{} in {:.1} s",
        target.split(' ').next().unwrap_or(target),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A deterministic spread of values (splitmix64), so two seedings produce the same data.
fn mix(i: u64, salt: u64) -> u64 {
    let mut z = i
        .wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(pool: &[&'a str], i: u64, salt: u64) -> &'a str {
    pool[(mix(i, salt) % pool.len() as u64) as usize]
}

const FIRST: &[&str] = &[
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Dennis",
    "Radia",
    "John",
    "Katherine",
    "Niklaus",
    "Hedy",
    "Tim",
    "Sophie",
    "Linus",
    "Anita",
    "Guido",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Perlman",
    "McCarthy",
    "Johnson",
    "Wirth",
    "Lamarr",
    "Berners-Lee",
    "Wilson",
    "Torvalds",
    "Borg",
    "Rossum",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "White",
    "Hughes",
    "Edwards",
    "Green",
    "Hall",
    "Wood",
    "Harris",
];
const COMPANIES: &[&str] = &[
    "Analytical Engines",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Acme",
    "Soylent",
    "Vandelay Industries",
    "Massive Dynamic",
    "Tyrell",
];
const TITLES: &[&str] = &[
    "CTO",
    "CEO",
    "VP Sales",
    "Head of IT",
    "Buyer",
    "Engineer",
    "CFO",
];
const SOURCES: &[&str] = &["web", "referral", "event", "partner", "call", "email"];
const COUNTRIES: &[&str] = &["GB", "US", "DE", "FR", "NL", "SE", "ES", "IT"];
/// Weighted like a working pipeline: mostly new and working leads.
const STATUSES: &[&str] = &[
    "LEAD_STATUS_NEW",
    "LEAD_STATUS_NEW",
    "LEAD_STATUS_NEW",
    "LEAD_STATUS_NEW",
    "LEAD_STATUS_WORKING",
    "LEAD_STATUS_WORKING",
    "LEAD_STATUS_WORKING",
    "LEAD_STATUS_QUALIFIED",
    "LEAD_STATUS_QUALIFIED",
    "LEAD_STATUS_DISQUALIFIED",
];
const RATINGS: &[&str] = &[
    "LEAD_RATING_UNSPECIFIED",
    "LEAD_RATING_COLD",
    "LEAD_RATING_WARM",
    "LEAD_RATING_HOT",
];

/// Microseconds, like the service's `now()` (the database's precision).
fn copy_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
}

/// A UUIDv7 for `t`, like `Uuid::now_v7()` at that instant.
fn v7_at(t: DateTime<Utc>) -> Uuid {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        u64::try_from(t.timestamp()).unwrap_or(0),
        t.timestamp_subsec_nanos(),
    );
    Uuid::new_v7(ts)
}

/// Rows spaced 10 ms apart, ending a minute ago: created_at and id order agree, as they do for
/// records the service creates.
fn spaced(count: usize, i: usize, now: DateTime<Utc>) -> DateTime<Utc> {
    let step = chrono::Duration::milliseconds(10);
    let first =
        now - chrono::Duration::minutes(1) - step * i32::try_from(count).unwrap_or(i32::MAX);
    first + step * i32::try_from(i).unwrap_or(i32::MAX)
}

struct LeadPlan {
    tenant_id: Uuid,
    owners: Vec<Uuid>,
    count: usize,
    now: DateTime<Utc>,
    /// Different for each seeding, so a top-up never repeats an email of an earlier one.
    salt: u64,
}

impl LeadPlan {
    fn new(tenant_id: Uuid, owners: Vec<Uuid>, count: usize) -> Self {
        let now = Utc::now();
        Self {
            tenant_id,
            owners,
            count,
            now,
            salt: u64::try_from(now.timestamp_millis()).unwrap_or(0),
        }
    }

    /// One COPY text line (no value contains tabs, newlines or backslashes).
    fn row(&self, i: usize, out: &mut String) {
        use std::fmt::Write;
        let k = i as u64;
        let at = spaced(self.count, i, self.now);
        let first = pick(FIRST, k, 1);
        let last = pick(LAST, k, 2);
        let owner = self.owners[i % self.owners.len().max(1)];
        let _ = writeln!(
            out,
            "{}\t{}\t{first}\t{last}\t{}.{}.{:x}{i}@example.test\t+4420{:07}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{owner}\t{ts}\t{ts}",
            v7_at(at),
            self.tenant_id,
            first.to_lowercase(),
            last.to_lowercase(),
            self.salt % 4096,
            mix(k, 3) % 10_000_000,
            pick(COMPANIES, k, 4),
            pick(TITLES, k, 5),
            pick(SOURCES, k, 6),
            pick(COUNTRIES, k, 7),
            mix(k, 8) % 5000,
            pick(STATUSES, k, 9),
            pick(RATINGS, k, 10),
            mix(k, 11) % 101,
            ts = copy_time(at),
        );
    }
}

struct OpportunityPlan {
    tenant_id: Uuid,
    owners: Vec<Uuid>,
    pipeline_id: Uuid,
    open_stages: Vec<Uuid>,
    count: usize,
    now: DateTime<Utc>,
}

/// The tenant's default pipeline, through the crm (which creates it on first use).
async fn opportunity_plan(
    crm: &Loopback,
    bearer: &str,
    tenant_id: Uuid,
    owners: Vec<Uuid>,
    count: usize,
) -> anyhow::Result<OpportunityPlan> {
    let mut pipelines = PipelineServiceClient::new(channel(crm).await?);
    let listed = pipelines
        .list_pipelines(authorized(ListPipelinesRequest {}, bearer)?)
        .await
        .context("listing pipelines")?
        .into_inner()
        .pipelines;
    let default = listed
        .iter()
        .find(|p| p.is_default)
        .or(listed.first())
        .context("the tenant has no pipeline")?;
    let open_stages: Vec<Uuid> = default
        .stages
        .iter()
        .filter(|s| s.category == StageCategory::Open as i32)
        .map(|s| s.id.parse())
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(
        !open_stages.is_empty(),
        "the default pipeline has no open stage"
    );
    Ok(OpportunityPlan {
        tenant_id,
        owners,
        pipeline_id: default.id.parse()?,
        open_stages,
        count,
        now: Utc::now(),
    })
}

impl OpportunityPlan {
    fn row(&self, i: usize, out: &mut String) {
        use std::fmt::Write;
        let k = i as u64;
        let at = spaced(self.count, i, self.now);
        let close = (self.now
            + chrono::Duration::days(i64::try_from(mix(k, 21) % 180).unwrap_or(0)))
        .date_naive();
        let _ = writeln!(
            out,
            "{}\t{}\t{} deal {i}\tUSD\t{}\t0\t{close}\t{}\t{}\t{}\t{ts}\t{ts}\t{ts}",
            v7_at(at),
            self.tenant_id,
            pick(COMPANIES, k, 20),
            1000 + mix(k, 22) % 200_000,
            self.pipeline_id,
            self.open_stages[i % self.open_stages.len()],
            self.owners[i % self.owners.len().max(1)],
            ts = copy_time(at),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> LeadPlan {
        LeadPlan::new(Uuid::now_v7(), vec![Uuid::now_v7(), Uuid::now_v7()], 3)
    }

    #[test]
    fn lead_rows_have_every_copied_column_and_valid_values() {
        let plan = plan();
        let mut out = String::new();
        for i in 0..3 {
            plan.row(i, &mut out);
        }
        let columns = LEAD_COPY.matches(',').count() + 1;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        for (i, line) in lines.iter().enumerate() {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), columns, "{line}");
            assert!(fields[11].starts_with("LEAD_STATUS_"));
            assert_ne!(fields[11], "LEAD_STATUS_CONVERTED");
            assert!(fields[4].ends_with("@example.test"));
            assert!(fields[5].starts_with('+') && fields[5].len() == 12);
            let score: i32 = fields[13].parse().expect("score");
            assert!((0..=100).contains(&score));
            assert_eq!(fields[14], plan.owners[i % 2].to_string());
            assert_eq!(fields[15], fields[16]);
        }
    }

    #[test]
    fn ids_and_creation_times_ascend_together() {
        let plan = plan();
        let mut out = String::new();
        for i in 0..3 {
            plan.row(i, &mut out);
        }
        let keys: Vec<(String, String)> = out
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[15].to_owned(), f[0].to_owned())
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(keys.iter().all(|(_, id)| id.as_bytes()[14] == b'7'));
    }

    #[test]
    fn only_loopback_databases_are_seeded() {
        assert!(is_loopback_db(
            "postgres://postgres@127.0.0.1:5432/salescompass"
        ));
        assert!(is_loopback_db("postgres://localhost/x"));
        assert!(!is_loopback_db("postgres://u:p@db.example.com:5432/x"));
        assert!(!is_loopback_db("postgres://10.0.0.5/x"));
    }
}
