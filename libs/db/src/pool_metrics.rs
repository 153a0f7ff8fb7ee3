//! Metrics of each service's connection pool, labelled `component` with the pool's schema (the
//! runtime's component label; schemas are named after their service):
//!
//! - `db_pool_connections{state="in_use"|"idle"}` and `db_pool_max_connections`: sampled every
//!   [`SAMPLE_INTERVAL`] and at every transaction start; `in_use` counts every connection the
//!   pool lent, including those a [`crate::Sessions`] cache keeps between its transactions;
//! - `db_pool_acquire_waiters`: tasks inside [`crate::begin`] / [`crate::begin_with`] /
//!   [`crate::Sessions::begin`] that have not got their connection yet;
//! - `db_pool_acquire_duration_seconds`: how long those took (waiting for a connection, or
//!   opening one; through `begin`/`begin_with` also the `BEGIN` round trip).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry, core::Collector};
use sqlx::PgPool;

/// The label the runtime serves each component's series by (`runtime::exposition`).
const COMPONENT: &str = "component";

/// A pool not opened by [`crate::connect`] has no schema name.
const UNNAMED: &str = "unknown";

/// How often a pool's sizes are sampled between transactions.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// From an idle pool's instant hand-out to a saturated pool's acquire timeout (5 s default).
const ACQUIRE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

struct PoolMetrics {
    connections: IntGaugeVec,
    max_connections: IntGaugeVec,
    waiters: IntGaugeVec,
    acquire_seconds: HistogramVec,
}

static METRICS: LazyLock<PoolMetrics> = LazyLock::new(|| {
    let registry = prometheus::default_registry();
    PoolMetrics {
        connections: register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_connections",
                    "Connections of the pool, by state (in_use, idle)",
                ),
                &[COMPONENT, "state"],
            ),
        ),
        max_connections: register(
            registry,
            IntGaugeVec::new(
                Opts::new("db_pool_max_connections", "The pool's connection limit"),
                &[COMPONENT],
            ),
        ),
        waiters: register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "db_pool_acquire_waiters",
                    "Tasks waiting for a connection and its transaction",
                ),
                &[COMPONENT],
            ),
        ),
        acquire_seconds: register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "db_pool_acquire_duration_seconds",
                    "Time to get a connection from the pool and begin a transaction",
                )
                .buckets(ACQUIRE_BUCKETS.to_vec()),
                &[COMPONENT],
            ),
        ),
    }
});

fn register<C>(registry: &Registry, collector: prometheus::Result<C>) -> C
where
    C: Collector + Clone + 'static,
{
    // The definitions above are static; an invalid one is a programming error any test catches.
    let collector = collector.expect("valid metric definition");
    if let Err(error) = registry.register(Box::new(collector.clone())) {
        tracing::warn!(%error, "pool metric not registered");
    }
    collector
}

/// The pool's component: the schema [`crate::connect`] names its sessions after.
fn component(pool: &PgPool) -> String {
    pool.connect_options()
        .get_application_name()
        .unwrap_or(UNNAMED)
        .to_owned()
}

/// Creates the pool's series and samples its sizes every [`SAMPLE_INTERVAL`] until it closes.
/// The sampler holds the pool, so it lives until the pool is closed or the runtime stops.
pub(crate) fn watch(pool: &PgPool) {
    let component = component(pool);
    METRICS.waiters.with_label_values(&[&component]);
    METRICS.acquire_seconds.with_label_values(&[&component]);
    sample(pool, &component);
    let pool = pool.clone();
    tokio::spawn(async move {
        while !pool.is_closed() {
            sample(&pool, &component);
            tokio::time::sleep(SAMPLE_INTERVAL).await;
        }
    });
}

fn sample(pool: &PgPool, component: &str) {
    let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX);
    let size = i64::from(pool.size());
    let max = i64::from(pool.options().get_max_connections());
    let connections = &METRICS.connections;
    connections
        .with_label_values(&[component, "in_use"])
        .set((size - idle).max(0));
    connections
        .with_label_values(&[component, "idle"])
        .set(idle);
    METRICS
        .max_connections
        .with_label_values(&[component])
        .set(max);
}

/// Measures one acquisition: a waiter until dropped, its time recorded by [`Acquiring::done`].
#[must_use = "an acquisition counts as waiting until dropped"]
pub(crate) struct Acquiring {
    component: String,
    started: Instant,
}

impl Acquiring {
    pub(crate) fn start(pool: &PgPool) -> Self {
        let component = component(pool);
        METRICS.waiters.with_label_values(&[&component]).inc();
        Self {
            component,
            started: Instant::now(),
        }
    }

    /// Records the acquisition's time and the pool's sizes with the connection taken.
    pub(crate) fn done(self, pool: &PgPool) {
        METRICS
            .acquire_seconds
            .with_label_values(&[&self.component])
            .observe(self.started.elapsed().as_secs_f64());
        sample(pool, &self.component);
    }
}

impl Drop for Acquiring {
    fn drop(&mut self) {
        METRICS.waiters.with_label_values(&[&self.component]).dec();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::DatabaseSettings;

    /// A series' value (a histogram's count) in the default registry, or `None` if absent.
    fn value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        prometheus::default_registry()
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .find(|metric| {
                labels.iter().all(|(key, value)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|pair| pair.name() == *key && pair.value() == *value)
                })
            })
            .map(|metric| {
                metric.get_gauge().get_value() + metric.get_histogram().get_sample_count() as f64
            })
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_pool_reports_its_connections_waiters_and_acquire_times() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let schema = format!("pool_metrics_{nanos}");
        let settings = DatabaseSettings {
            url: "postgres://postgres@127.0.0.1:5432/postgres".to_owned(),
            migrate_url: None,
            schema: schema.clone(),
            // The login role itself: no SET ROLE, no role to create.
            app_role: Some("postgres".to_owned()),
            max_connections: 1,
            acquire_timeout_secs: 10,
            test_before_acquire: false,
            migrate_on_start: false,
        };
        let pool = crate::connect(&settings).await.expect("postgres reachable");
        let component = [(COMPONENT, schema.as_str())];
        let in_use = [(COMPONENT, schema.as_str()), ("state", "in_use")];
        let duration = "db_pool_acquire_duration_seconds";
        assert_eq!(value("db_pool_max_connections", &component), Some(1.0));
        assert_eq!(value("db_pool_acquire_waiters", &component), Some(0.0));
        assert_eq!(value(duration, &component), Some(0.0), "created at zero");

        let first = crate::begin(&pool).await.expect("begins");
        assert_eq!(value(duration, &component), Some(1.0));
        assert_eq!(value("db_pool_connections", &in_use), Some(1.0));

        // The only connection is taken: the second transaction waits for it.
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { crate::begin(&pool).await }
        });
        until("a waiter", || {
            value("db_pool_acquire_waiters", &component) == Some(1.0)
        })
        .await;
        first.rollback().await.expect("rolls back");
        let second = second.await.expect("joined").expect("begins");
        assert_eq!(value("db_pool_acquire_waiters", &component), Some(0.0));
        assert_eq!(value(duration, &component), Some(2.0));
        second.rollback().await.expect("rolls back");
        pool.close().await;
    }
}
