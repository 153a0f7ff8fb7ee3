//! `sc-bench`: load generators (HTTP and gRPC), seeding, the pgbench ceiling and the
//! BENCHMARKS.md report of the side-by-side comparison (issue 8). Loopback targets only.

mod args;
mod grpc_load;
mod http_load;
mod load;
mod otlp_sink;
mod pgbench;
mod procstat;
mod reminders;
mod report;
mod scenario;
mod seed;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::args::{Loopback, parse_duration};
use crate::load::Limits;
use crate::procstat::{Watch, parse_watch};
use crate::scenario::{Scenario, Side};
use crate::stats::{RunInfo, Summary};

#[derive(Parser)]
#[command(
    name = "sc-bench",
    version,
    about = "SalesCompass benchmark tool (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP load against the SalesCompass gateway or the BottleCRM peer.
    Http(HttpArgs),
    /// gRPC load directly against the crm LeadService.
    Grpc(GrpcArgs),
    /// Provision a tenant and users through the tenants service, then bulk-load leads (and
    /// opportunities) into the crm schema.
    Seed(seed::SeedArgs),
    /// Run a pgbench script (the database ceiling) and summarize it like a load run.
    Pgbench(pgbench::PgbenchArgs),
    /// Write the comparison tables from result lines into BENCHMARKS.md.
    Report(report::ReportArgs),
    /// Reminder lateness with many pending reminders (needs a running crm service).
    Reminders(reminders::ReminderArgs),
    /// Receive OTLP trace exports and count the spans (prints the total on Ctrl-C).
    OtlpSink(otlp_sink::OtlpSinkArgs),
}

#[derive(Args, Clone)]
struct LoadArgs {
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured time (500ms, 5s, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Unrecorded load before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Stop after this many measured requests (or at the end of --duration).
    #[arg(long)]
    requests: Option<u64>,
    /// Lead ids read before the run for `get`.
    #[arg(long, default_value_t = 1000)]
    ids: usize,
    /// Rows before the deep page.
    #[arg(long, default_value_t = 5000)]
    deep_offset: usize,
    /// Search term (default: three letters of a last name in the data).
    #[arg(long)]
    search: Option<String>,
    /// Server process tree to sample (peak RSS, CPU): NAME=PID, repeatable.
    #[arg(long = "watch", value_parser = parse_watch)]
    watch: Vec<Watch>,
    /// Free text carried into the result (e.g. the round number).
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
    /// Append the JSON line to this file as well.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl LoadArgs {
    /// The deep page is walked to only when it is the scenario (a long walk on big data).
    fn deep_offset(&self) -> usize {
        if self.scenario == Scenario::Deep {
            self.deep_offset
        } else {
            0
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            connections: self.connections,
            duration: self.duration,
            warmup: self.warmup,
            requests: self.requests,
        }
    }
}

/// How SalesCompass calls are authorized.
#[derive(Args, Clone)]
struct ScAuth {
    /// tenants gRPC address (for --login).
    #[arg(long, default_value = "http://127.0.0.1:50051", value_parser = Loopback::parse)]
    tenants_addr: Loopback,
    /// Log in first: SLUG:EMAIL:PASSWORD.
    #[arg(long, env = "SC_BENCH_LOGIN", value_parser = grpc_load::parse_login)]
    login: Option<(String, String, String)>,
    /// A bearer token instead of --login.
    #[arg(long)]
    token: Option<String>,
    /// A file holding the bearer token (the peer's run/token.txt).
    #[arg(long)]
    token_file: Option<PathBuf>,
}

impl ScAuth {
    async fn bearer(&self) -> anyhow::Result<String> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        if let Some(file) = &self.token_file {
            let token = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            return Ok(token.trim().to_owned());
        }
        match &self.login {
            Some(login) => grpc_load::login(&self.tenants_addr, login).await,
            None => anyhow::bail!("give --login, --token or --token-file"),
        }
    }
}

#[derive(Args)]
struct HttpArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, value_enum, default_value = "sc")]
    side: Side,
    /// Base URL (default: the gateway for sc, 127.0.0.1:8001 for the peer).
    #[arg(long, value_parser = Loopback::parse)]
    base: Option<Loopback>,
    /// crm gRPC address, to read the SalesCompass fixture.
    #[arg(long, default_value = "http://127.0.0.1:50052", value_parser = Loopback::parse)]
    crm_addr: Loopback,
    #[command(flatten)]
    auth: ScAuth,
}

#[derive(Args)]
struct GrpcArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, default_value = "http://127.0.0.1:50052", value_parser = Loopback::parse)]
    crm_addr: Loopback,
    #[command(flatten)]
    auth: ScAuth,
}

/// Unique per run, so created leads never collide with an earlier run's.
fn run_tag() -> String {
    format!("r{}", chrono::Utc::now().timestamp_millis())
}

fn emit(load: &LoadArgs, summary: &Summary) -> anyhow::Result<()> {
    let line = serde_json::to_string(summary)?;
    if load.json {
        println!("{line}");
    } else {
        print!("{}", summary.to_text());
    }
    if let Some(path) = &load.out {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

async fn run_http(args: HttpArgs) -> anyhow::Result<()> {
    let load = &args.load;
    let target = match (&args.base, args.side) {
        (Some(base), _) => base.clone(),
        (None, Side::Sc) => Loopback::parse("http://127.0.0.1:8080").map_err(anyhow::Error::msg)?,
        (None, Side::Peer) => {
            Loopback::parse("http://127.0.0.1:8001").map_err(anyhow::Error::msg)?
        }
    };
    anyhow::ensure!(
        !(load.scenario == Scenario::Forecast && args.side == Side::Peer),
        "the peer has no forecast: run the forecast scenario with --side sc"
    );
    let bearer = args.auth.bearer().await?;
    let mut fixture = match args.side {
        Side::Sc => {
            grpc_load::sc_fixture(
                &args.crm_addr,
                &bearer,
                load.ids,
                load.deep_offset(),
                load.search.clone(),
            )
            .await?
        }
        Side::Peer => {
            http_load::peer_fixture(
                &target,
                &bearer,
                load.ids,
                load.deep_offset(),
                load.search.clone(),
            )
            .await?
        }
    };
    // The seed spreads the deals' close dates over the 180 days from the day it ran.
    let today = chrono::Utc::now().date_naive();
    fixture.forecast_start = today.to_string();
    fixture.forecast_end = (today + chrono::Duration::days(179)).to_string();
    let tag = run_tag();
    http_load::probe(&target, &bearer, args.side, load.scenario, &fixture, &tag).await?;
    let job = Arc::new(http_load::HttpJob {
        target,
        bearer,
        side: args.side,
        scenario: load.scenario,
        fixture,
        tag,
    });
    let info = RunInfo {
        label: load.label.clone(),
        side: args.side.name().to_owned(),
        scenario: load.scenario.name().to_owned(),
        protocol: "http".to_owned(),
        connections: load.connections,
    };
    let summary = load::drive(&load.limits(), info, load.watch.clone(), |i, clock| {
        http_load::connection(job.clone(), i, clock)
    })
    .await?;
    emit(load, &summary)
}

async fn run_grpc(args: GrpcArgs) -> anyhow::Result<()> {
    let load = &args.load;
    anyhow::ensure!(
        load.scenario != Scenario::Forecast,
        "the forecast scenario runs over REST: use sc-bench http"
    );
    let bearer = args.auth.bearer().await?;
    let fixture = grpc_load::sc_fixture(
        &args.crm_addr,
        &bearer,
        load.ids,
        load.deep_offset(),
        load.search.clone(),
    )
    .await?;
    let job = Arc::new(grpc_load::GrpcJob {
        target: args.crm_addr.clone(),
        bearer,
        scenario: load.scenario,
        fixture,
        tag: run_tag(),
    });
    grpc_load::probe(&job).await?;
    let info = RunInfo {
        label: load.label.clone(),
        side: "sc".to_owned(),
        scenario: load.scenario.name().to_owned(),
        protocol: "grpc".to_owned(),
        connections: load.connections,
    };
    let summary = load::drive(&load.limits(), info, load.watch.clone(), |i, clock| {
        grpc_load::connection(job.clone(), i, clock)
    })
    .await?;
    emit(load, &summary)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Http(args) => run_http(args).await,
        Command::Grpc(args) => run_grpc(args).await,
        Command::Seed(args) => seed::run(args).await,
        Command::Pgbench(args) => pgbench::run(args).await,
        Command::Report(args) => report::run(args),
        Command::OtlpSink(args) => otlp_sink::run(args).await,
        Command::Reminders(args) => reminders::run(args).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sc-bench").chain(args.iter().copied()))
    }

    #[test]
    fn http_run_takes_bounds_connections_and_watches() {
        let cli = parse(&[
            "http",
            "--side",
            "peer",
            "--scenario",
            "list",
            "--connections",
            "8",
            "--duration",
            "5s",
            "--warmup",
            "500ms",
            "--requests",
            "100",
            "--watch",
            "gunicorn=12",
            "--token-file",
            "/tmp/t",
            "--json",
        ])
        .expect("valid");
        let Command::Http(args) = cli.command else {
            panic!("not http");
        };
        assert_eq!(args.side, Side::Peer);
        assert_eq!(args.load.scenario, Scenario::List);
        let limits = args.load.limits();
        assert_eq!(limits.connections, 8);
        assert_eq!(limits.duration, Duration::from_secs(5));
        assert_eq!(limits.warmup, Duration::from_millis(500));
        assert_eq!(limits.requests, Some(100));
        assert_eq!(args.load.watch[0].pid, 12);
        assert!(args.load.json);
    }

    #[test]
    fn non_loopback_targets_are_refused_at_parse_time() {
        assert!(
            parse(&[
                "http",
                "--scenario",
                "get",
                "--base",
                "http://10.1.2.3:8080"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "grpc",
                "--scenario",
                "get",
                "--crm-addr",
                "http://example.com:50052"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "grpc",
                "--scenario",
                "get",
                "--tenants-addr",
                "8.8.8.8:50051"
            ])
            .is_err()
        );
    }

    #[test]
    fn unknown_scenarios_and_bad_durations_are_refused() {
        assert!(parse(&["grpc", "--scenario", "delete"]).is_err());
        assert!(parse(&["grpc", "--scenario", "get", "--duration", "soon"]).is_err());
    }
}
