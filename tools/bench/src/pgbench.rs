//! The database ceiling: runs a pgbench script (after an unrecorded warm-up) with per-transaction
//! logs and reports it in the same shape as a load run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use crate::args::parse_duration;
use crate::procstat::{self, Watch, parse_watch};
use crate::stats::{Outcome, Recorder, RunInfo, Summary};

#[derive(Args)]
pub struct PgbenchArgs {
    /// The rendered script (see tools/bench/pgbench).
    #[arg(long)]
    script: PathBuf,
    /// Scenario name for the report (create, get, list).
    #[arg(long)]
    scenario: String,
    #[arg(long, default_value_t = 4)]
    connections: usize,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    #[arg(long, default_value = "salescompass")]
    dbname: String,
    #[arg(long, default_value = "postgres")]
    user: String,
    #[arg(long, default_value_t = 5432)]
    port: u16,
    /// Schema and role the service uses.
    #[arg(long, default_value = "crm")]
    schema: String,
    #[arg(long, default_value = "crm_app")]
    role: String,
    /// Server process tree to sample: NAME=PID, repeatable.
    #[arg(long = "watch", value_parser = parse_watch)]
    watch: Vec<Watch>,
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    out: Option<PathBuf>,
}

fn pgbench(args: &PgbenchArgs, duration: Duration, log_prefix: Option<&Path>) -> Command {
    let mut cmd = Command::new("pgbench");
    cmd.env(
        "PGOPTIONS",
        format!("-c search_path={} -c role={}", args.schema, args.role),
    )
    .args(["-h", "127.0.0.1", "-n", "-M", "prepared"])
    .args(["-p", &args.port.to_string(), "-U", &args.user])
    .args(["-c", &args.connections.to_string()])
    .args(["-j", &args.connections.min(2).to_string()])
    .args(["-T", &duration.as_secs().max(1).to_string()])
    .arg("-f")
    .arg(&args.script);
    if let Some(prefix) = log_prefix {
        cmd.arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
    }
    cmd.arg(&args.dbname);
    cmd
}

/// `tps = 1234.5 (without initial connection time)` from pgbench's report.
pub fn parse_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find(|l| l.starts_with("tps = ") && l.contains("without initial connection time"))
        .and_then(|l| l.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Records one per-transaction log line: `client_id transaction_no time script_no time_epoch
/// time_us`, where `time` is the latency in µs, or `failed`/`skipped`.
pub fn record_log_line(line: &str, recorder: &mut Recorder) {
    let mut fields = line.split_whitespace();
    let Some(latency) = fields.nth(2) else {
        return;
    };
    match latency.parse::<u64>() {
        Ok(us) => recorder.record(Duration::from_micros(us), Outcome::Ok),
        Err(_) => recorder.record(Duration::ZERO, Outcome::Refused(latency.to_owned())),
    }
}

pub async fn run(args: PgbenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("sc-bench-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if !args.warmup.is_zero() {
        let warm = pgbench(&args, args.warmup, None)
            .output()
            .context("running pgbench")?;
        anyhow::ensure!(
            warm.status.success(),
            "pgbench warm-up failed: {}",
            String::from_utf8_lossy(&warm.stderr)
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(procstat::sample(
        args.watch.clone(),
        Instant::now(),
        stop.clone(),
    ));
    let prefix = dir.join("pgbench");
    let mut cmd = pgbench(&args, args.duration, Some(&prefix));
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .context("running pgbench")?;
    stop.store(true, Ordering::Relaxed);
    let (processes, machine) = sampler.await?;
    let report = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}{}",
        String::from_utf8_lossy(&output.stderr),
        report
    );

    let mut recorder = Recorder::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        text.lines()
            .for_each(|line| record_log_line(line, &mut recorder));
    }
    std::fs::remove_dir_all(&dir)?;
    let info = RunInfo {
        label: args.label.clone(),
        side: "ceiling".to_owned(),
        scenario: args.scenario.clone(),
        protocol: "pgbench".to_owned(),
        connections: args.connections,
    };
    let mut summary: Summary = recorder.summarize(info, args.duration);
    // pgbench's own rate excludes connection set-up, like the load runs' keep-alive connections.
    if let Some(tps) = parse_tps(&report) {
        summary.rps = tps;
    }
    summary.processes = processes;
    summary.machine_cpu_pct = machine;
    let line = serde_json::to_string(&summary)?;
    if args.json {
        println!("{line}");
    } else {
        print!("{}", summary.to_text());
    }
    if let Some(path) = &args.out {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_the_report() {
        let report = "number of transactions actually processed: 5000\n\
            latency average = 0.8 ms\n\
            initial connection time = 3.1 ms\n\
            tps = 4987.123456 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(4987.123456));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn log_lines_become_latencies_and_failures() {
        let mut r = Recorder::new();
        record_log_line("0 1 850 0 1700000000 123456", &mut r);
        record_log_line("1 7 1250 0 1700000000 223456", &mut r);
        record_log_line("1 8 failed 0 1700000000 323456", &mut r);
        record_log_line("", &mut r);
        let s = r.summarize(RunInfo::default(), Duration::from_secs(1));
        assert_eq!((s.ok, s.non_2xx), (2, 1));
        assert!((s.max_ms - 1.25).abs() < 0.01);
    }
}
