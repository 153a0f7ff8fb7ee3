//! The SLA sweeper: every few seconds, marks the cases that missed a target as breached and
//! emits `crm.case.sla_breached` through the outbox. Replicas may all run it: the sweep locks
//! the cases it marks with `FOR UPDATE SKIP LOCKED` and marks each case once.

use std::sync::Arc;
use std::time::Duration;

use runtime::CancellationToken;
use serde::Deserialize;

use crate::store::cases::CaseStore;

#[derive(Debug, Clone, Deserialize)]
pub struct SlaSettings {
    /// Seconds between two sweeps.
    pub sweep_interval_secs: u64,
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self {
            sweep_interval_secs: 30,
        }
    }
}

pub struct SlaSweeper {
    store: Arc<dyn CaseStore>,
    interval: Duration,
}

impl SlaSweeper {
    pub fn new(store: Arc<dyn CaseStore>, settings: &SlaSettings) -> Self {
        Self {
            store,
            interval: Duration::from_secs(settings.sweep_interval_secs.max(1)),
        }
    }

    /// Sweeps until `shutdown` is cancelled; a failed sweep is logged and retried next round.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.store.sweep_sla(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(marked) => tracing::info!(marked, "cases marked sla breached"),
                Err(error) => tracing::warn!(%error, "sla sweep failed"),
            }
        }
    }
}
