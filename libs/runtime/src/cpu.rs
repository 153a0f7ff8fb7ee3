//! How many CPUs this process may keep busy, which sizes tokio's worker threads, the gateway's
//! upstream connections (one per worker) and the tenants service's password-hashing threads
//! (19 MiB each).
//!
//! Counting the node's cores is wrong in a container: a pod on a 64-core node with a 512 MiB
//! memory limit would start 64 hashing threads, and a login burst would need 1.2 GiB. So, first
//! match wins:
//! 1. `SALESCOMPASS_CPUS` (the Helm chart sets it from the container's CPU limit, or its request
//!    when there is no limit, through the downward API): a count, or a quantity like `1.5`/`500m`
//!    rounded up;
//! 2. the container's CPU quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`),
//!    rounded up;
//! 3. the CPUs the scheduler lets this process run on ([`std::thread::available_parallelism`]).
//!
//! 1 and 2 never exceed 3: more threads than usable CPUs only add contention. Always at least 1.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::OnceLock;

/// Environment variable that fixes the CPU count (like Go's `GOMAXPROCS`).
pub const CPUS_ENV: &str = "SALESCOMPASS_CPUS";
/// Where the container's own cgroup is mounted (cgroup namespaces make it the root).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// cgroup v1 controller directories that may hold the CPU quota.
const V1_CPU_DIRS: &[&str] = &["cpu", "cpu,cpuacct", "cpuacct,cpu"];

/// What decided the CPU count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `SALESCOMPASS_CPUS`.
    Setting,
    /// The cgroup CPU quota.
    CgroupQuota,
    /// The CPUs the process may run on (no setting, no quota).
    Host,
}

/// The CPU count and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    pub count: NonZeroUsize,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{CPUS_ENV}={value:?} is not a CPU count: use a positive number such as 2, 1.5 or 500m"
    )]
    InvalidSetting { value: String },
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// The CPU count of this process (computed once). An invalid `SALESCOMPASS_CPUS` is ignored
/// here; [`tokio_runtime`], which every binary starts with, refuses it first.
pub fn available() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| {
        detect()
            .map_or_else(|_| detect_from(None, Path::new(CGROUP_ROOT), host()), Ok)
            .map_or(1, |cpus| cpus.count.get())
    })
}

/// Detects the CPU count from the process environment, its cgroup and the scheduler.
pub fn detect() -> Result<Cpus, Error> {
    let setting = std::env::var(CPUS_ENV).ok();
    detect_from(setting.as_deref(), Path::new(CGROUP_ROOT), host())
}

/// A multi-threaded tokio runtime with one worker per available CPU, for every binary's `main`.
pub fn tokio_runtime() -> Result<tokio::runtime::Runtime, Error> {
    let cpus = detect()?;
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cpus.count.get())
        .enable_all()
        .build()?)
}

fn host() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// [`detect`] with its inputs spelled out: the setting, the cgroup mount and the host's count.
pub fn detect_from(
    setting: Option<&str>,
    cgroup_root: &Path,
    host: NonZeroUsize,
) -> Result<Cpus, Error> {
    let (count, source) = match setting.map(str::trim).filter(|s| !s.is_empty()) {
        Some(value) => {
            let count = parse_quantity(value).ok_or_else(|| Error::InvalidSetting {
                value: value.to_owned(),
            })?;
            (count, Source::Setting)
        }
        None => match cgroup_quota(cgroup_root) {
            Some(count) => (count, Source::CgroupQuota),
            None => (host, Source::Host),
        },
    };
    Ok(Cpus {
        count: count.min(host),
        source,
    })
}

/// `2`, `1.5` or `500m` (a Kubernetes CPU quantity), rounded up.
fn parse_quantity(value: &str) -> Option<NonZeroUsize> {
    let cpus = match value.strip_suffix('m') {
        Some(milli) => milli.parse::<u64>().ok()?.div_ceil(1000),
        None => {
            let cpus = value.parse::<f64>().ok()?;
            if !cpus.is_finite() || cpus <= 0.0 || cpus > f64::from(u32::MAX) {
                return None;
            }
            // Bounded above, so the cast cannot truncate.
            cpus.ceil() as u64
        }
    };
    NonZeroUsize::new(usize::try_from(cpus).ok()?)
}

/// The quota in CPUs (rounded up, at least 1), `None` when unlimited or unreadable.
fn cgroup_quota(root: &Path) -> Option<NonZeroUsize> {
    // cgroup v2: "max 100000" (no limit) or "<quota> <period>" in microseconds.
    if let Ok(text) = std::fs::read_to_string(root.join("cpu.max")) {
        let mut fields = text.split_whitespace();
        let quota = fields.next()?;
        let period = fields.next().unwrap_or("100000");
        return quota_cpus(quota, period);
    }
    // cgroup v1: cpu.cfs_quota_us is -1 without a limit.
    V1_CPU_DIRS.iter().find_map(|dir| {
        let dir = root.join(dir);
        let quota = std::fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok()?;
        let period = std::fs::read_to_string(dir.join("cpu.cfs_period_us")).ok()?;
        quota_cpus(quota.trim(), period.trim())
    })
}

fn quota_cpus(quota: &str, period: &str) -> Option<NonZeroUsize> {
    let quota: u64 = quota.parse().ok()?; // "max" and "-1" end here: no limit
    let period: u64 = period.parse().ok().filter(|p| *p > 0)?;
    let cpus = quota.div_ceil(period).max(1);
    NonZeroUsize::new(usize::try_from(cpus).ok()?)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A scratch directory laid out like /sys/fs/cgroup, removed on drop.
    struct FakeCgroup(PathBuf);

    impl FakeCgroup {
        fn new(files: &[(&str, &str)]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "runtime-cpu-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            for (path, contents) in files {
                let path = dir.join(path);
                std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
                std::fs::write(path, contents).expect("write");
            }
            std::fs::create_dir_all(&dir).expect("mkdir");
            Self(dir)
        }
    }

    impl Drop for FakeCgroup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn cpus(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    fn detect_in(setting: Option<&str>, files: &[(&str, &str)], host: usize) -> Cpus {
        let cgroup = FakeCgroup::new(files);
        detect_from(setting, &cgroup.0, cpus(host)).expect("valid")
    }

    #[test]
    fn a_cgroup_v2_quota_is_rounded_up_to_whole_cpus() {
        let found = detect_in(None, &[("cpu.max", "150000 100000\n")], 64);
        assert_eq!(
            found,
            Cpus {
                count: cpus(2),
                source: Source::CgroupQuota
            }
        );
        let small = detect_in(None, &[("cpu.max", "10000 100000\n")], 64);
        assert_eq!(small.count, cpus(1), "a fraction of a CPU is still one");
    }

    #[test]
    fn an_unlimited_cgroup_v2_falls_back_to_the_host() {
        let found = detect_in(None, &[("cpu.max", "max 100000\n")], 12);
        assert_eq!(
            found,
            Cpus {
                count: cpus(12),
                source: Source::Host
            }
        );
    }

    #[test]
    fn a_cgroup_v1_quota_is_read_from_the_cpu_controller() {
        for dir in ["cpu", "cpu,cpuacct"] {
            let quota = format!("{dir}/cpu.cfs_quota_us");
            let period = format!("{dir}/cpu.cfs_period_us");
            let found = detect_in(None, &[(&quota, "300000\n"), (&period, "100000\n")], 64);
            assert_eq!(found.count, cpus(3), "{dir}");
            assert_eq!(found.source, Source::CgroupQuota, "{dir}");
        }
        let unlimited = detect_in(
            None,
            &[
                ("cpu/cpu.cfs_quota_us", "-1\n"),
                ("cpu/cpu.cfs_period_us", "100000\n"),
            ],
            8,
        );
        assert_eq!(unlimited.source, Source::Host);
    }

    #[test]
    fn no_cgroup_files_means_the_host_count() {
        assert_eq!(detect_in(None, &[], 6).count, cpus(6));
    }

    #[test]
    fn the_setting_wins_over_the_quota_and_is_rounded_up() {
        let quota = [("cpu.max", "800000 100000")];
        for (setting, expected) in [("2", 2), ("1.5", 2), ("500m", 1), ("2500m", 3), (" 4 ", 4)] {
            let found = detect_in(Some(setting), &quota, 64);
            assert_eq!(found.count, cpus(expected), "{setting}");
            assert_eq!(found.source, Source::Setting, "{setting}");
        }
    }

    #[test]
    fn neither_setting_nor_quota_exceeds_the_usable_cpus() {
        assert_eq!(detect_in(Some("32"), &[], 4).count, cpus(4));
        assert_eq!(
            detect_in(None, &[("cpu.max", "1600000 100000")], 4).count,
            cpus(4)
        );
    }

    #[test]
    fn an_empty_setting_is_no_setting() {
        let found = detect_in(Some(""), &[("cpu.max", "200000 100000")], 8);
        assert_eq!(found.source, Source::CgroupQuota);
    }

    #[test]
    fn an_invalid_setting_is_refused_with_its_value() {
        let cgroup = FakeCgroup::new(&[]);
        for bad in ["0", "-1", "two", "0m", "1e400", "NaN", "2x"] {
            let err = detect_from(Some(bad), &cgroup.0, cpus(8)).expect_err(bad);
            assert!(err.to_string().contains(CPUS_ENV), "{err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn unreadable_quota_files_fall_back_to_the_host() {
        let found = detect_in(None, &[("cpu.max", "garbage")], 3);
        assert_eq!(found.source, Source::Host);
        let no_period = detect_in(None, &[("cpu/cpu.cfs_quota_us", "200000")], 3);
        assert_eq!(no_period.source, Source::Host);
    }

    #[test]
    fn the_runtime_has_one_worker_per_detected_cpu() {
        let runtime = tokio_runtime().expect("runtime");
        let expected = detect().expect("valid environment").count.get();
        assert_eq!(runtime.metrics().num_workers(), expected);
        assert!(available() >= 1);
    }
}
