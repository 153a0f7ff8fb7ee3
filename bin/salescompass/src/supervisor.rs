//! Runs the platform's parts until a shutdown signal or until one of them stops, then stops them
//! one at a time in reverse start order: the gateway (started last) drains first while the
//! services behind it still answer the requests it accepted, then each service before the ones
//! it depends on (the token issuer last).

use std::future::Future;

use runtime::CancellationToken;
use tokio::task::{JoinError, JoinHandle};

/// The started parts, in start order.
#[derive(Default)]
pub struct Supervisor {
    parts: Vec<Part>,
}

struct Part {
    name: &'static str,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Supervisor {
    /// Spawns `run` with the token that stops this part alone.
    pub fn start<F>(&mut self, name: &'static str, run: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(stop.clone()));
        self.parts.push(Part { name, stop, task });
    }

    /// Waits for `signal` or for any part to stop (a half-running local platform would only
    /// confuse), then stops the rest in reverse start order. The first failure is returned.
    pub async fn run(mut self, signal: CancellationToken) -> anyhow::Result<()> {
        let mut failure = None;
        if self.parts.is_empty() {
            signal.cancelled().await;
            return Ok(());
        }
        let ended = tokio::select! {
            () = signal.cancelled() => None,
            (joined, index, _) = futures::future::select_all(
                self.parts.iter_mut().map(|part| &mut part.task)
            ) => Some((index, joined)),
        };
        if let Some((index, joined)) = ended {
            let part = self.parts.remove(index);
            tracing::warn!(
                component = part.name,
                "stopped on its own, stopping the platform"
            );
            record(&mut failure, part.name, joined);
        }
        self.stop_parts(&mut failure).await;
        failure.map_or(Ok(()), Err)
    }

    /// Stops every part in reverse start order (when starting the platform failed half-way).
    pub async fn stop(mut self) {
        let mut failure = None;
        self.stop_parts(&mut failure).await;
    }

    async fn stop_parts(&mut self, failure: &mut Option<anyhow::Error>) {
        while let Some(part) = self.parts.pop() {
            tracing::info!(component = part.name, "stopping");
            part.stop.cancel();
            record(failure, part.name, part.task.await);
        }
    }
}

fn record(
    failure: &mut Option<anyhow::Error>,
    name: &'static str,
    joined: Result<anyhow::Result<()>, JoinError>,
) {
    let error = match joined {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error,
        Err(join) => anyhow::Error::from(join),
    };
    tracing::error!(component = name, error = %format!("{error:#}"), "component failed");
    failure.get_or_insert(error.context(name));
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The order in which the fake parts finished stopping.
    #[derive(Clone, Default)]
    struct StopLog(Arc<Mutex<Vec<&'static str>>>);

    impl StopLog {
        fn push(&self, name: &'static str) {
            self.0.lock().expect("log lock").push(name);
        }
        fn names(&self) -> Vec<&'static str> {
            self.0.lock().expect("log lock").clone()
        }
    }

    /// Serves until stopped, then drains for `drain_steps` scheduler turns before it is done:
    /// parts stopped all at once would finish in order of their drain, not of their stop.
    fn fake(
        name: &'static str,
        drain_steps: usize,
        log: &StopLog,
    ) -> impl FnOnce(CancellationToken) -> futures::future::BoxFuture<'static, anyhow::Result<()>>
    {
        let log = log.clone();
        move |stop| {
            Box::pin(async move {
                stop.cancelled().await;
                for _ in 0..drain_steps {
                    tokio::task::yield_now().await;
                }
                log.push(name);
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn a_signal_stops_the_gateway_first_then_the_services_in_reverse_start_order() {
        let log = StopLog::default();
        let mut supervisor = Supervisor::default();
        supervisor.start("tenants", fake("tenants", 1, &log));
        supervisor.start("crm", fake("crm", 2, &log));
        supervisor.start("commissions", fake("commissions", 3, &log));
        supervisor.start("gateway", fake("gateway", 20, &log));
        let signal = CancellationToken::new();
        signal.cancel();

        supervisor
            .run(signal)
            .await
            .expect("every part stops cleanly");

        assert_eq!(log.names(), ["gateway", "commissions", "crm", "tenants"]);
    }

    #[tokio::test]
    async fn a_failing_service_stops_the_platform_gateway_first_and_is_reported() {
        let log = StopLog::default();
        let mut supervisor = Supervisor::default();
        supervisor.start("tenants", fake("tenants", 1, &log));
        supervisor.start("crm", |_stop| async {
            Err(anyhow::anyhow!("database connection lost"))
        });
        supervisor.start("gateway", fake("gateway", 20, &log));

        let error = supervisor
            .run(CancellationToken::new())
            .await
            .expect_err("the failure is returned");

        assert_eq!(format!("{error:#}"), "crm: database connection lost");
        assert_eq!(log.names(), ["gateway", "tenants"]);
    }

    #[tokio::test]
    async fn stopping_after_a_failed_start_stops_what_was_started_in_reverse_order() {
        let log = StopLog::default();
        let mut supervisor = Supervisor::default();
        supervisor.start("tenants", fake("tenants", 5, &log));
        supervisor.start("crm", fake("crm", 1, &log));

        supervisor.stop().await;

        assert_eq!(log.names(), ["crm", "tenants"]);
    }
}
