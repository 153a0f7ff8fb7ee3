//! Process-wide series: CPU, memory, file descriptors and start time read from `/proc` (on
//! Linux, where the services run; elsewhere they are absent), and `salescompass_build_info`.
//! They carry no component label, so one admin port per process serves them
//! ([`crate::exposition`]).

use std::collections::HashMap;
use std::sync::Once;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};
use prometheus::{IntGaugeVec, Opts};

/// The workspace version and the commit the build script found.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("SALESCOMPASS_COMMIT");

/// Linux reports CPU times in clock ticks of `USER_HZ`, 100 on every architecture we build for
/// (reading `sysconf` would need `unsafe`, which the workspace forbids).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// Registers the process collector and the build info in the default registry, once.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let registry = prometheus::default_registry();
        if let Err(error) = registry.register(Box::new(ProcessCollector::new())) {
            tracing::warn!(%error, "process metrics not registered");
        }
        match IntGaugeVec::new(
            Opts::new(
                "salescompass_build_info",
                "Always 1; the labels name the running version and commit",
            ),
            &["version", "commit"],
        ) {
            Ok(info) => {
                info.with_label_values(&[VERSION, COMMIT]).set(1);
                if let Err(error) = registry.register(Box::new(info)) {
                    tracing::warn!(%error, "build info not registered");
                }
            }
            Err(error) => tracing::warn!(%error, "build info not created"),
        }
    });
}

struct Series {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
}

const SERIES: [Series; 5] = [
    Series {
        name: "process_cpu_seconds_total",
        help: "User and system CPU time spent, in seconds",
        kind: MetricType::COUNTER,
    },
    Series {
        name: "process_resident_memory_bytes",
        help: "Resident memory size, in bytes",
        kind: MetricType::GAUGE,
    },
    Series {
        name: "process_open_fds",
        help: "Open file descriptors",
        kind: MetricType::GAUGE,
    },
    Series {
        name: "process_max_fds",
        help: "Limit on open file descriptors",
        kind: MetricType::GAUGE,
    },
    Series {
        name: "process_start_time_seconds",
        help: "Start time of the process since the Unix epoch, in seconds",
        kind: MetricType::GAUGE,
    },
];

/// Reads `/proc/self` at every scrape.
struct ProcessCollector {
    descs: Vec<Desc>,
}

impl ProcessCollector {
    fn new() -> Self {
        let descs = SERIES
            .iter()
            .filter_map(|series| {
                Desc::new(
                    series.name.to_owned(),
                    series.help.to_owned(),
                    Vec::new(),
                    HashMap::new(),
                )
                .ok()
            })
            .collect();
        Self { descs }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(sample) = ProcessSample::read() else {
            return Vec::new();
        };
        let values = [
            sample.cpu_seconds,
            sample.resident_bytes,
            sample.open_fds,
            sample.max_fds,
            sample.start_time_seconds,
        ];
        SERIES
            .iter()
            .zip(values)
            .map(|(series, value)| family(series, value))
            .collect()
    }
}

fn family(series: &Series, value: f64) -> MetricFamily {
    let mut metric = Metric::default();
    if series.kind == MetricType::COUNTER {
        let mut counter = Counter::default();
        counter.set_value(value);
        metric.set_counter(counter);
    } else {
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        metric.set_gauge(gauge);
    }
    let mut family = MetricFamily::default();
    family.set_name(series.name.to_owned());
    family.set_help(series.help.to_owned());
    family.set_field_type(series.kind);
    family.set_metric(vec![metric]);
    family
}

/// One reading of `/proc`.
#[derive(Debug)]
struct ProcessSample {
    cpu_seconds: f64,
    resident_bytes: f64,
    open_fds: f64,
    max_fds: f64,
    start_time_seconds: f64,
}

impl ProcessSample {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        let stat = StatFields::parse(&stat)?;
        Some(Self {
            cpu_seconds: (stat.utime + stat.stime) as f64 / CLOCK_TICKS_PER_SECOND,
            resident_bytes: resident_kib(&status)? * 1024.0,
            // The directory handle read_dir held is closed again.
            open_fds: open_fds.saturating_sub(1) as f64,
            max_fds: max_open_files(&limits)?,
            start_time_seconds: boot_time(&boot)?
                + stat.start_ticks as f64 / CLOCK_TICKS_PER_SECOND,
        })
    }
}

/// The fields of `/proc/self/stat` we need, counted after the parenthesised command name (which
/// may itself contain spaces and parentheses).
struct StatFields {
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

impl StatFields {
    fn parse(stat: &str) -> Option<Self> {
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // proc(5) numbers fields from 1; the third (state) is the first after the name.
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        Some(Self {
            utime: field(14)?,
            stime: field(15)?,
            start_ticks: field(22)?,
        })
    }
}

fn resident_kib(status: &str) -> Option<f64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(f64::INFINITY),
        number => number.parse().ok(),
    }
}

fn boot_time(stat: &str) -> Option<f64> {
    let line = stat.lines().find(|line| line.starts_with("btime "))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 12345 \
                    1000 200 18446744073709551615";
        let fields = StatFields::parse(stat).expect("parses");
        assert_eq!(
            (fields.utime, fields.stime, fields.start_ticks),
            (250, 50, 12345)
        );
    }

    #[test]
    fn limits_and_status_lines_are_read() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(resident_kib("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048.0));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_measured() {
        let sample = ProcessSample::read().expect("/proc is readable");
        assert!(sample.resident_bytes > 1_000_000.0, "{sample:?}");
        assert!(sample.open_fds >= 3.0, "{sample:?}");
        assert!(sample.max_fds >= sample.open_fds, "{sample:?}");
        assert!(sample.start_time_seconds > 1_600_000_000.0, "{sample:?}");
        assert!(sample.cpu_seconds >= 0.0, "{sample:?}");
    }
}
