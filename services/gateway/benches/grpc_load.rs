//! Direct gRPC load for the gateway benchmark: `ListUsers(page_size)` over N connections (one
//! request in flight per connection, like wrk's connections) for a bounded time and count,
//! reporting requests/s and latency percentiles in wrk's units. No gRPC load tool is packaged
//! here (no ghz), hence this one. Run by `scripts/gateway-bench.sh`:
//!
//! ```text
//! cargo bench -p gateway --bench grpc_load -- --url http://127.0.0.1:50051 --token "$TOKEN"
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use proto::tenants::ListUsersRequest;
use proto::tenants::user_service_client::UserServiceClient;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Endpoint;

#[derive(Parser, Debug)]
#[command(about = "Direct gRPC ListUsers load")]
struct Args {
    /// The tenants service's gRPC URL.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    url: String,
    /// Access token of a user allowed to list users.
    #[arg(long, env = "BENCH_TOKEN")]
    token: String,
    /// Connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Upper bound on requests, whatever the duration.
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    #[arg(long, default_value_t = 50)]
    page_size: i32,
    /// Also writes every latency as "microseconds count" lines, ascending (the format of
    /// `scripts/wrk-latencies.lua`), so a benchmark can pool the latencies of several runs.
    #[arg(long)]
    latencies: Option<std::path::PathBuf>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let auth: AsciiMetadataValue = format!("Bearer {}", args.token)
        .parse()
        .context("token is not ASCII")?;
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        // One HTTP/2 connection per worker, so the load has the shape of wrk's.
        let channel = Endpoint::from_shared(args.url.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.url))?;
        let mut client = UserServiceClient::new(channel);
        let (auth, issued, errors) = (auth.clone(), issued.clone(), errors.clone());
        let (max, page_size) = (args.max_requests, args.page_size);
        workers.push(tokio::spawn(async move {
            let mut latencies_us: Vec<u32> = Vec::with_capacity(64 * 1024);
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max {
                let mut request = tonic::Request::new(ListUsersRequest {
                    page_size,
                    ..Default::default()
                });
                request.metadata_mut().insert("authorization", auth.clone());
                let sent = Instant::now();
                match client.list_users(request).await {
                    Ok(response) if response.get_ref().users.len() == page_size as usize => {
                        let us = sent.elapsed().as_micros();
                        latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies_us
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let index = ((p / 100.0) * (all.len() - 1) as f64).round() as usize;
        f64::from(all[index.min(all.len() - 1)]) / 1000.0
    };
    let ok = all.len();
    println!(
        "grpc ListUsers(page_size={}) connections={} duration={:.1}s requests={} errors={}",
        args.page_size,
        args.connections,
        elapsed,
        ok,
        errors.load(Ordering::Relaxed)
    );
    println!("Requests/sec: {:.1}", ok as f64 / elapsed);
    println!(
        "Latency ms: p50={:.3} p75={:.3} p90={:.3} p99={:.3} max={:.3}",
        pct(50.0),
        pct(75.0),
        pct(90.0),
        pct(99.0),
        pct(100.0)
    );
    if let Some(path) = &args.latencies {
        write_latencies(path, &all).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Sorted latencies as one "value count" line per distinct value.
fn write_latencies(path: &std::path::Path, sorted_us: &[u32]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for run in sorted_us.chunk_by(|a, b| a == b) {
        writeln!(out, "{} {}", run[0], run.len())?;
    }
    out.flush()
}
