//! Readiness that tells the truth: a process is ready while it serves (started, not draining)
//! and every dependency it needs to serve answered its last probe. `/readyz` and gRPC health
//! both follow it; liveness (`/healthz`) does not, so an outage of a dependency takes the pod
//! out of the load balancer without Kubernetes restarting it.
//!
//! Dependencies are probed in the background ([`probe`]), so `/readyz` answers from a cached
//! state however often it is scraped, and a slow database cannot slow the probe endpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The last probe result of one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not probed yet: not ready.
    Pending,
    Up,
    /// Down, with a short reason (never a URL or secret).
    Down(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    /// Started and not draining.
    serving: bool,
    dependencies: BTreeMap<&'static str, Status>,
}

impl State {
    fn is_ready(&self) -> bool {
        self.serving
            && self
                .dependencies
                .values()
                .all(|status| *status == Status::Up)
    }
}

/// Shared readiness: the serving flag (set once the service serves, cleared when draining) and
/// the status of each required dependency. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<watch::Sender<State>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(State::default())))
    }
}

impl Readiness {
    /// Sets the serving flag; draining clears it, and that wins over every dependency.
    pub fn set_ready(&self, ready: bool) {
        self.0.send_if_modified(|state| {
            let changed = state.serving != ready;
            state.serving = ready;
            changed
        });
    }

    /// Ready: serving, and every required dependency up.
    pub fn is_ready(&self) -> bool {
        self.0.borrow().is_ready()
    }

    /// Adds a dependency that must be [`Status::Up`] for the process to be ready.
    pub fn require(&self, name: &'static str) {
        self.0.send_modify(|state| {
            state.dependencies.entry(name).or_insert(Status::Pending);
        });
    }

    /// Records a probe result; logs when a dependency goes down or comes back.
    pub fn report(&self, name: &'static str, status: Status) {
        let mut previous = None;
        self.0.send_if_modified(|state| {
            let slot = state.dependencies.entry(name).or_insert(Status::Pending);
            if *slot == status {
                return false;
            }
            previous = Some(std::mem::replace(slot, status.clone()));
            true
        });
        match (previous, &status) {
            (None, _) => {}
            (Some(_), Status::Up) => tracing::info!(dependency = name, "dependency up"),
            (Some(Status::Down(_)), Status::Down(_)) | (Some(_), Status::Pending) => {}
            (Some(_), Status::Down(reason)) => {
                tracing::warn!(dependency = name, %reason, "dependency down: not ready");
            }
        }
    }

    /// The status of `name`, if required.
    pub fn status(&self, name: &str) -> Option<Status> {
        self.0.borrow().dependencies.get(name).cloned()
    }

    /// Whether the process is ready, and the `/readyz` body: the verdict, then one line per
    /// dependency (`database: down (timeout)`).
    pub fn describe(&self) -> (bool, String) {
        let state = self.0.borrow().clone();
        let ready = state.is_ready();
        let mut body = String::from(match (ready, state.serving) {
            (true, _) => "ready\n",
            (false, true) => "not ready\n",
            (false, false) => "not ready (starting or draining)\n",
        });
        for (name, status) in &state.dependencies {
            let _ = match status {
                Status::Pending => writeln!(body, "{name}: pending"),
                Status::Up => writeln!(body, "{name}: up"),
                Status::Down(reason) => writeln!(body, "{name}: down ({reason})"),
            };
        }
        (ready, body)
    }

    /// Notified on every change (gRPC health follows readiness through it).
    pub(crate) fn changes(&self) -> watch::Receiver<State> {
        self.0.subscribe()
    }

    /// Waits until `name` has been up, or `stop` is cancelled (then `false`). Background work
    /// that needs the dependency at its start (the outbox relay reads its schema) waits here
    /// instead of failing when the process starts during an outage.
    pub async fn until_up(&self, name: &str, stop: &CancellationToken) -> bool {
        let mut changes = self.0.subscribe();
        let up = changes.wait_for(|state| state.dependencies.get(name) == Some(&Status::Up));
        tokio::select! {
            result = up => result.is_ok(),
            () = stop.cancelled() => false,
        }
    }
}

impl Readiness {
    /// Runs `task` once `dependency` has been up (`None` when `stop` comes first): the relay,
    /// consumers and sweepers start when the database is there, not when the process is.
    pub fn after_up<F: Future>(
        &self,
        dependency: &'static str,
        stop: &CancellationToken,
        task: F,
    ) -> impl Future<Output = Option<F::Output>> + use<F> {
        let (readiness, stop) = (self.clone(), stop.clone());
        async move {
            if readiness.until_up(dependency, &stop).await {
                Some(task.await)
            } else {
                None
            }
        }
    }
}

/// A check of one dependency: `Ok` when usable, else a short reason for `/readyz`.
type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A dependency the process needs to serve, and how to check it cheaply.
#[derive(Clone)]
pub struct Dependency {
    name: &'static str,
    check: Check,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Dependency {
    /// `check` should be one cheap round trip (`SELECT 1` on the pool); the probe bounds it
    /// with its timeout.
    pub fn new<F, Fut, E>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let check: Check = Arc::new(move || {
            let attempt = check();
            Box::pin(async move { attempt.await.map_err(|error| error.to_string()) })
                as BoxFuture<'static, Result<(), String>>
        });
        Self { name, check }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// How often and how long dependencies are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    /// Between probes while the dependency is up.
    pub interval: Duration,
    /// Longest wait for one check; a slower answer counts as down (`timeout`).
    pub timeout: Duration,
}

impl Default for ProbeTiming {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
        }
    }
}

/// While down, the first re-checks come quickly (a blip costs little) and then back off to the
/// probe interval.
const FIRST_RETRY: Duration = Duration::from_millis(250);

/// Checks `dependency` once, within the probe timeout.
pub async fn check(dependency: &Dependency, timing: ProbeTiming) -> Status {
    match tokio::time::timeout(timing.timeout, (dependency.check)()).await {
        Ok(Ok(())) => Status::Up,
        Ok(Err(reason)) => Status::Down(reason),
        Err(_) => Status::Down(format!("timeout after {} ms", timing.timeout.as_millis())),
    }
}

/// Probes `dependency` until `stop`, reporting each result to `readiness`.
pub async fn probe(
    readiness: Readiness,
    dependency: Dependency,
    timing: ProbeTiming,
    stop: CancellationToken,
) {
    readiness.require(dependency.name);
    let mut retry = FIRST_RETRY;
    loop {
        let status = check(&dependency, timing).await;
        let wait = if status == Status::Up {
            retry = FIRST_RETRY;
            timing.interval
        } else {
            let wait = retry.min(timing.interval);
            retry = retry.saturating_mul(2);
            wait
        };
        readiness.report(dependency.name, status);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn ready_needs_serving_and_every_dependency_up() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready());
        readiness.set_ready(true);
        assert!(readiness.is_ready(), "no dependencies: ready once serving");

        readiness.require("database");
        assert!(!readiness.is_ready(), "a dependency not yet probed");
        readiness.report("database", Status::Up);
        assert!(readiness.is_ready());

        readiness.report("database", Status::Down("timeout".into()));
        let (ready, body) = readiness.describe();
        assert!(!ready);
        assert_eq!(body, "not ready\ndatabase: down (timeout)\n");

        readiness.report("database", Status::Up);
        readiness.set_ready(false);
        let (ready, body) = readiness.describe();
        assert!(!ready, "draining wins over healthy dependencies");
        assert_eq!(body, "not ready (starting or draining)\ndatabase: up\n");
    }

    #[tokio::test(start_paused = true)]
    async fn probe_follows_the_dependency_and_until_up_waits_for_it() {
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        let dependency = Dependency::new("database", move || {
            let up = flag.load(Ordering::SeqCst);
            async move { if up { Ok(()) } else { Err("unreachable") } }
        });
        let readiness = Readiness::default();
        readiness.set_ready(true);
        let stop = CancellationToken::new();
        let probing = tokio::spawn(probe(
            readiness.clone(),
            dependency,
            ProbeTiming::default(),
            stop.clone(),
        ));
        let waiter = {
            let (readiness, stop) = (readiness.clone(), stop.clone());
            tokio::spawn(async move { readiness.until_up("database", &stop).await })
        };

        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            readiness.status("database"),
            Some(Status::Down("unreachable".into()))
        );
        assert!(!waiter.is_finished());

        up.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(readiness.is_ready(), "re-checked within the probe interval");
        assert!(waiter.await.expect("joins"), "until_up returns once up");

        stop.cancel();
        probing.await.expect("probe stops");
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_slower_than_the_timeout_counts_as_down() {
        let dependency = Dependency::new("database", || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<(), String>(())
        });
        let readiness = Readiness::default();
        let stop = CancellationToken::new();
        let probing = tokio::spawn(probe(
            readiness.clone(),
            dependency,
            ProbeTiming::default(),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            readiness.status("database"),
            Some(Status::Down("timeout after 1000 ms".into()))
        );
        stop.cancel();
        probing.await.expect("probe stops");
    }
}
