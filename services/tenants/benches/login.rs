//! Login throughput of a running tenants service: provisions a throwaway tenant with one user per
//! connection (so accounts do not contend on one row), then logs in over N connections for a
//! bounded time and count, and reports logins/s and latency percentiles.
//!
//! ```text
//! cargo bench -p tenants --bench login -- --operator-token "$SC_OPERATOR_TOKEN" --connections 4
//! ```

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use proto::tenants as pb;
use tonic::transport::{Channel, Endpoint};

const PASSWORD: &str = "bench horse 1234";

#[derive(Parser, Debug)]
#[command(about = "Login load against the tenants service")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    url: String,
    #[arg(long, env = "SC_OPERATOR_TOKEN")]
    operator_token: String,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 100_000)]
    max_requests: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn authed<T>(token: &str, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

async fn setup(channel: Channel, args: &Args) -> anyhow::Result<(String, Vec<String>)> {
    let slug = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let admin_email = format!("admin@{slug}.test");
    let mut tenants = pb::tenant_service_client::TenantServiceClient::new(channel.clone());
    tenants
        .provision_tenant(authed(
            &args.operator_token,
            pb::ProvisionTenantRequest {
                tenant: Some(pb::Tenant {
                    slug: slug.clone(),
                    display_name: "Login bench".into(),
                    ..Default::default()
                }),
                admin: Some(pb::AdminSpec {
                    email: admin_email.clone(),
                    password: PASSWORD.into(),
                    display_name: "Bench".into(),
                }),
            },
        )?)
        .await
        .context("provisioning the bench tenant")?;
    let mut auth = pb::auth_service_client::AuthServiceClient::new(channel.clone());
    let admin = auth
        .login(pb::LoginRequest {
            tenant_slug: slug.clone(),
            email: admin_email,
            password: PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token;
    let mut users = pb::user_service_client::UserServiceClient::new(channel);
    let mut emails = Vec::new();
    for i in 0..args.connections {
        let email = format!("user{i}@{slug}.test");
        users
            .create_user(authed(
                &admin,
                pb::CreateUserRequest {
                    email: email.clone(),
                    password: PASSWORD.into(),
                    display_name: format!("User {i}"),
                    role: pb::Role::SalesRep as i32,
                    ..Default::default()
                },
            )?)
            .await?;
        emails.push(email);
    }
    Ok((slug, emails))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let endpoint = Endpoint::from_shared(args.url.clone())?.tcp_nodelay(true);
    let (slug, emails) = setup(endpoint.connect().await?, &args).await?;
    let issued = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for email in emails {
        let mut client = pb::auth_service_client::AuthServiceClient::new(endpoint.connect().await?);
        let (slug, issued, max) = (slug.clone(), issued.clone(), args.max_requests);
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < deadline
                && issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < max
            {
                let sent = Instant::now();
                let request = pb::LoginRequest {
                    tenant_slug: slug.clone(),
                    email: email.clone(),
                    password: PASSWORD.into(),
                };
                match client.login(request).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for worker in workers {
        let (latencies, e) = worker.await?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((p / 100.0) * (all.len().saturating_sub(1)) as f64).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "logins={} errors={} connections={} duration={elapsed:.1}s",
        all.len(),
        errors,
        args.connections
    );
    println!("Logins/sec: {:.1}", all.len() as f64 / elapsed);
    println!(
        "Latency ms: p50={:.1} p90={:.1} p99={:.1} max={:.1}",
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0)
    );
    Ok(())
}
