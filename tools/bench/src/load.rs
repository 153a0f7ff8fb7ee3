//! The closed-loop engine shared by the HTTP and gRPC generators: N connections, each sending
//! its next request when the previous answer arrived, a warm-up that is not recorded, and a
//! bound on time and/or measured requests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::procstat::{self, Watch};
use crate::stats::{Recorder, RunInfo, Summary};

#[derive(Debug, Clone)]
pub struct Limits {
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Measured requests in all; the run stops at whichever bound comes first.
    pub requests: Option<u64>,
}

/// When each connection may send, and whether that request counts.
#[derive(Debug)]
pub struct Clock {
    measure_start: Instant,
    end: Instant,
    budget: Option<u64>,
    issued: AtomicU64,
}

/// Whether to send the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    WarmUp,
    Measured,
    Stop,
}

impl Clock {
    pub fn new(limits: &Limits, now: Instant) -> Self {
        let measure_start = now + limits.warmup;
        Self {
            measure_start,
            end: measure_start + limits.duration,
            budget: limits.requests,
            issued: AtomicU64::new(0),
        }
    }

    pub fn measure_start(&self) -> Instant {
        self.measure_start
    }

    pub fn turn_at(&self, now: Instant) -> Turn {
        if now >= self.end {
            return Turn::Stop;
        }
        if now < self.measure_start {
            return Turn::WarmUp;
        }
        if let Some(budget) = self.budget
            && self.issued.fetch_add(1, Ordering::Relaxed) >= budget
        {
            return Turn::Stop;
        }
        Turn::Measured
    }

    pub fn turn(&self) -> Turn {
        self.turn_at(Instant::now())
    }
}

/// What one connection measured.
#[derive(Debug, Default)]
pub struct ConnectionResult {
    pub recorder: Recorder,
    pub last_done: Option<Instant>,
}

/// Runs `connection(i, clock)` for every connection while sampling the watched processes, and
/// summarizes. Throughput is measured requests over the measured window (up to the last answer
/// when a request bound ended the run early).
pub async fn drive<F, Fut>(
    limits: &Limits,
    info: RunInfo,
    watches: Vec<Watch>,
    connection: F,
) -> anyhow::Result<Summary>
where
    F: Fn(usize, Arc<Clock>) -> Fut,
    Fut: Future<Output = ConnectionResult> + Send + 'static,
{
    anyhow::ensure!(limits.connections > 0, "at least one connection");
    let clock = Arc::new(Clock::new(limits, Instant::now()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(procstat::sample(
        watches,
        clock.measure_start(),
        stop.clone(),
    ));
    let tasks: Vec<_> = (0..limits.connections)
        .map(|i| tokio::spawn(connection(i, clock.clone())))
        .collect();
    let mut recorder = Recorder::new();
    let mut last_done: Option<Instant> = None;
    for task in tasks {
        let result = task.await?;
        recorder.merge(&result.recorder);
        last_done = last_done.max(result.last_done);
    }
    stop.store(true, Ordering::Relaxed);
    let (processes, machine) = sampler.await?;
    let elapsed = match last_done {
        Some(t) if t > clock.measure_start() => t - clock.measure_start(),
        _ => limits.duration,
    };
    if let Some(error) = recorder.first_error() {
        eprintln!("first error: {error}");
    }
    let mut summary = recorder.summarize(info, elapsed);
    summary.processes = processes;
    summary.machine_cpu_pct = machine;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(requests: Option<u64>) -> Limits {
        Limits {
            connections: 2,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            requests,
        }
    }

    #[test]
    fn warm_up_comes_first_then_measurement_until_the_end() {
        let t0 = Instant::now();
        let clock = Clock::new(&limits(None), t0);
        assert_eq!(clock.turn_at(t0), Turn::WarmUp);
        assert_eq!(clock.turn_at(t0 + Duration::from_secs(2)), Turn::Measured);
        assert_eq!(clock.turn_at(t0 + Duration::from_secs(11)), Turn::Measured);
        assert_eq!(clock.turn_at(t0 + Duration::from_secs(12)), Turn::Stop);
    }

    #[test]
    fn the_request_bound_counts_measured_requests_only() {
        let t0 = Instant::now();
        let clock = Clock::new(&limits(Some(3)), t0);
        for _ in 0..5 {
            assert_eq!(clock.turn_at(t0), Turn::WarmUp);
        }
        let measuring = t0 + Duration::from_secs(3);
        for _ in 0..3 {
            assert_eq!(clock.turn_at(measuring), Turn::Measured);
        }
        assert_eq!(clock.turn_at(measuring), Turn::Stop);
    }
}
