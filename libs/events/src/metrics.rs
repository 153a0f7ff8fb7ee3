//! Prometheus metrics in the default registry, which the runtime serves on the admin port.
//! Label `outbox` is the producer's schema, `queue` the consumer's queue, so services sharing one
//! process (the local launcher) keep separate series; `component` is the service's schema (named
//! after the service), by which each service's admin port shows only its own series.
//!
//! Every series is created at zero when the relay or consumer is built, so alerts on them
//! (`increase(events_dead_letters_total[10m]) > 0`, absent-series checks) work before the first
//! event, failure or reconnect.

use std::sync::LazyLock;

use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    core::Collector,
};

/// The runtime's component label (`runtime::exposition::COMPONENT_LABEL`; this crate does not
/// depend on the runtime).
const COMPONENT: &str = "component";

/// How a consumer settles a delivery (`events_consumed_total{outcome}`).
pub(crate) const OUTCOMES: [&str; 3] = ["applied", "duplicate", "dead_lettered"];

/// The label values of a relay's series: its component is its outbox's schema.
pub(crate) fn outbox_labels(schema: &str) -> [&str; 2] {
    [schema, schema]
}

/// The component of a service's pool: the schema `db::connect` names its sessions after.
pub(crate) fn component_of(pool: &sqlx::PgPool) -> Option<String> {
    pool.connect_options()
        .get_application_name()
        .map(str::to_owned)
}

pub(crate) struct Metrics {
    pub(crate) outbox_backlog: IntGaugeVec,
    pub(crate) outbox_oldest_pending_seconds: GaugeVec,
    pub(crate) published: IntCounterVec,
    pub(crate) publish_failures: IntCounterVec,
    pub(crate) relay_batch_seconds: HistogramVec,
    pub(crate) relay_reconnects: IntCounterVec,
    pub(crate) outbox_pruned: IntCounterVec,
    pub(crate) consumed: IntCounterVec,
    pub(crate) consumer_lag_seconds: HistogramVec,
    pub(crate) consumer_queue_depth: IntGaugeVec,
    pub(crate) redeliveries: IntCounterVec,
    pub(crate) handler_retries: IntCounterVec,
    pub(crate) dead_letters: IntCounterVec,
    pub(crate) consumer_reconnects: IntCounterVec,
}

/// Latency buckets from 1 ms to 1 min: commit-to-effect is milliseconds when healthy, and the
/// upper buckets show a backlog draining after an outage.
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub(crate) static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = prometheus::default_registry();
    Metrics {
        outbox_backlog: register(
            registry,
            IntGaugeVec::new(
                Opts::new("events_outbox_backlog", "Outbox rows not yet published"),
                &[COMPONENT, "outbox"],
            ),
        ),
        outbox_oldest_pending_seconds: register(
            registry,
            GaugeVec::new(
                Opts::new(
                    "events_outbox_oldest_pending_seconds",
                    "Age of the oldest outbox row not yet published",
                ),
                &[COMPONENT, "outbox"],
            ),
        ),
        published: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_published_total",
                    "Events published and confirmed by the broker",
                ),
                &[COMPONENT, "outbox"],
            ),
        ),
        publish_failures: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_publish_failures_total",
                    "Publishes rejected by the broker or lost with the connection",
                ),
                &[COMPONENT, "outbox"],
            ),
        ),
        relay_batch_seconds: register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "events_relay_batch_seconds",
                    "Time to claim, publish, confirm and mark one outbox batch",
                )
                .buckets(LAG_BUCKETS.to_vec()),
                &[COMPONENT, "outbox"],
            ),
        ),
        relay_reconnects: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_relay_reconnects_total",
                    "Relay sessions ended by an error",
                ),
                &[COMPONENT, "outbox"],
            ),
        ),
        outbox_pruned: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_outbox_pruned_total",
                    "Sent outbox rows deleted after retention",
                ),
                &[COMPONENT, "outbox"],
            ),
        ),
        consumed: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_consumed_total",
                    "Deliveries settled, by outcome (applied, duplicate, dead_lettered)",
                ),
                &[COMPONENT, "queue", "outcome"],
            ),
        ),
        consumer_lag_seconds: register(
            registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "events_consumer_lag_seconds",
                    "From the event's commit (occurred_at) to its effect committed",
                )
                .buckets(LAG_BUCKETS.to_vec()),
                &[COMPONENT, "queue"],
            ),
        ),
        consumer_queue_depth: register(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "events_consumer_queue_depth",
                    "Messages ready in the consumer's queue",
                ),
                &[COMPONENT, "queue"],
            ),
        ),
        redeliveries: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_redeliveries_total",
                    "Deliveries the broker flagged as redelivered",
                ),
                &[COMPONENT, "queue"],
            ),
        ),
        handler_retries: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_handler_retries_total",
                    "Handler failures that were retried",
                ),
                &[COMPONENT, "queue"],
            ),
        ),
        dead_letters: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_dead_letters_total",
                    "Events moved to the dead-letter queue",
                ),
                &[COMPONENT, "queue"],
            ),
        ),
        consumer_reconnects: register(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "events_consumer_reconnects_total",
                    "Consumer sessions ended by an error",
                ),
                &[COMPONENT, "queue"],
            ),
        ),
    }
});

impl Metrics {
    /// Creates every series of the relay of `schema` at zero (or keeps them).
    pub(crate) fn precreate_outbox(&self, schema: &str) {
        let labels = outbox_labels(schema);
        self.outbox_backlog.with_label_values(&labels);
        self.outbox_oldest_pending_seconds
            .with_label_values(&labels);
        self.published.with_label_values(&labels);
        self.publish_failures.with_label_values(&labels);
        self.relay_batch_seconds.with_label_values(&labels);
        self.relay_reconnects.with_label_values(&labels);
        self.outbox_pruned.with_label_values(&labels);
    }

    /// Creates every series of the consumer of `queue` in `component` at zero (or keeps them).
    pub(crate) fn precreate_queue(&self, component: &str, queue: &str) {
        let labels = [component, queue];
        for outcome in OUTCOMES {
            self.consumed
                .with_label_values(&[component, queue, outcome]);
        }
        self.consumer_lag_seconds.with_label_values(&labels);
        self.consumer_queue_depth.with_label_values(&labels);
        self.redeliveries.with_label_values(&labels);
        self.handler_retries.with_label_values(&labels);
        self.dead_letters.with_label_values(&labels);
        self.consumer_reconnects.with_label_values(&labels);
    }
}

/// Registers `collector`; a name clash (another crate registered the same name) is logged and the
/// metric still works, unregistered, so metrics can never take the service down.
fn register<C>(registry: &Registry, collector: prometheus::Result<C>) -> C
where
    C: Collector + Clone + 'static,
{
    // The definitions above are static; an invalid one is a programming error caught by any test.
    let collector = collector.expect("valid metric definition");
    if let Err(error) = registry.register(Box::new(collector.clone())) {
        tracing::warn!(%error, "events metric not registered");
    }
    collector
}
