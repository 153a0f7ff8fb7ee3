//! Latency recording (HDR histogram, microseconds) and the summary every run reports.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Longest latency the histogram tracks exactly; slower requests are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// What one request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A non-2xx HTTP status or a non-OK gRPC code.
    Refused(String),
    /// No answer: connect, write or read failed.
    Transport(String),
}

/// The measurements of one connection (or of a whole run, once merged).
#[derive(Debug, Clone)]
pub struct Recorder {
    latency: Histogram<u64>,
    ok: u64,
    refused: u64,
    transport: u64,
    codes: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid (low >= 1, high >= 2 * low)"),
            ok: 0,
            refused: 0,
            transport: 0,
            codes: BTreeMap::new(),
            first_error: None,
        }
    }

    /// Every request is timed, failed ones too: a fast error must not hide as a fast success.
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_LATENCY_US)
            .clamp(1, MAX_LATENCY_US);
        self.latency.saturating_record(us);
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Refused(code) => {
                self.refused += 1;
                self.first_error.get_or_insert_with(|| code.clone());
                *self.codes.entry(code).or_default() += 1;
            }
            Outcome::Transport(error) => {
                self.transport += 1;
                self.first_error.get_or_insert(error);
                *self.codes.entry("transport".to_owned()).or_default() += 1;
            }
        }
    }

    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        self.refused += other.refused;
        self.transport += other.transport;
        for (code, n) in &other.codes {
            *self.codes.entry(code.clone()).or_default() += n;
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.refused + self.transport
    }

    pub fn first_error(&self) -> Option<&str> {
        self.first_error.as_deref()
    }

    /// The summary of a run that measured for `elapsed`.
    pub fn summarize(&self, run: RunInfo, elapsed: Duration) -> Summary {
        let ms = |us: u64| us as f64 / 1000.0;
        let seconds = elapsed.as_secs_f64();
        let empty = self.latency.is_empty();
        let at = |q: f64| {
            if empty {
                0.0
            } else {
                ms(self.latency.value_at_quantile(q))
            }
        };
        Summary {
            label: run.label,
            side: run.side,
            scenario: run.scenario,
            protocol: run.protocol,
            connections: run.connections,
            seconds,
            requests: self.requests(),
            ok: self.ok,
            non_2xx: self.refused,
            transport_errors: self.transport,
            errors_by_code: self.codes.clone(),
            rps: if seconds > 0.0 {
                self.requests() as f64 / seconds
            } else {
                0.0
            },
            mean_ms: if empty {
                0.0
            } else {
                self.latency.mean() / 1000.0
            },
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: if empty { 0.0 } else { ms(self.latency.max()) },
            processes: Vec::new(),
            machine_cpu_pct: None,
        }
    }
}

/// What a run was, for its report line.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub label: String,
    pub side: String,
    pub scenario: String,
    pub protocol: String,
    pub connections: usize,
}

/// Resource use of one watched server process tree during the measured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessUse {
    pub name: String,
    pub pid: u32,
    /// Peak of the summed RSS of the process and its descendants.
    pub peak_rss_mb: f64,
    /// 100 = one core busy for the whole window.
    pub cpu_pct: f64,
}

/// One measured run, printed as text or as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub label: String,
    /// `sc`, `peer`, `ceiling`, ...
    pub side: String,
    pub scenario: String,
    /// `http`, `grpc` or `pgbench`.
    pub protocol: String,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub ok: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    #[serde(default)]
    pub errors_by_code: BTreeMap<String, u64>,
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    #[serde(default)]
    pub processes: Vec<ProcessUse>,
    /// Whole machine, 100 = every core busy.
    #[serde(default)]
    pub machine_cpu_pct: Option<f64>,
}

impl Summary {
    pub fn errors(&self) -> u64 {
        self.non_2xx + self.transport_errors
    }

    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} {} {} ({}), {} connections, {:.1} s\n  requests {}  ok {}  non-2xx {}  transport errors {}\n  {:.1} req/s  latency ms: mean {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}\n",
            self.label,
            self.side,
            self.scenario,
            self.protocol,
            self.connections,
            self.seconds,
            self.requests,
            self.ok,
            self.non_2xx,
            self.transport_errors,
            self.rps,
            self.mean_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
        );
        if !self.errors_by_code.is_empty() {
            let codes: Vec<String> = self
                .errors_by_code
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            out.push_str(&format!("  errors: {}\n", codes.join(", ")));
        }
        for p in &self.processes {
            out.push_str(&format!(
                "  {} (pid {}): peak RSS {:.1} MB, CPU {:.0} % of one core\n",
                p.name, p.pid, p.peak_rss_mb, p.cpu_pct
            ));
        }
        if let Some(cpu) = self.machine_cpu_pct {
            out.push_str(&format!("  machine CPU {cpu:.0} % (all cores)\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            label: "t".into(),
            side: "sc".into(),
            scenario: "get".into(),
            protocol: "http".into(),
            connections: 2,
        }
    }

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut r = Recorder::new();
        for ms in 1..=100u64 {
            r.record(Duration::from_millis(ms), Outcome::Ok);
        }
        let s = r.summarize(info(), Duration::from_secs(2));
        assert_eq!(s.requests, 100);
        assert!((s.rps - 50.0).abs() < 1e-9);
        // Three significant digits: within 0.1 % of the true value.
        assert!((s.p50_ms - 50.0).abs() <= 0.06, "p50 {}", s.p50_ms);
        assert!((s.p90_ms - 90.0).abs() <= 0.1, "p90 {}", s.p90_ms);
        assert!((s.p99_ms - 99.0).abs() <= 0.1, "p99 {}", s.p99_ms);
        assert!((s.max_ms - 100.0).abs() <= 0.1, "max {}", s.max_ms);
    }

    #[test]
    fn errors_are_counted_by_kind_and_code_and_still_timed() {
        let mut a = Recorder::new();
        a.record(Duration::from_millis(5), Outcome::Ok);
        a.record(Duration::from_millis(1), Outcome::Refused("503".into()));
        let mut b = Recorder::new();
        b.record(Duration::from_millis(2), Outcome::Refused("503".into()));
        b.record(Duration::from_millis(3), Outcome::Transport("reset".into()));
        a.merge(&b);
        let s = a.summarize(info(), Duration::from_secs(1));
        assert_eq!((s.ok, s.non_2xx, s.transport_errors), (1, 2, 1));
        assert_eq!(s.errors(), 3);
        assert_eq!(s.errors_by_code.get("503"), Some(&2));
        assert_eq!(s.errors_by_code.get("transport"), Some(&1));
        assert_eq!(s.requests, 4);
        assert_eq!(a.first_error(), Some("503"));
    }

    #[test]
    fn an_empty_run_reports_zeroes_not_garbage() {
        let s = Recorder::new().summarize(info(), Duration::ZERO);
        assert_eq!((s.requests, s.rps, s.p99_ms, s.max_ms), (0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn summary_round_trips_through_json() {
        let mut r = Recorder::new();
        r.record(Duration::from_micros(1500), Outcome::Ok);
        let s = r.summarize(info(), Duration::from_secs(1));
        let line = serde_json::to_string(&s).expect("serialize");
        let back: Summary = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, s);
    }
}
