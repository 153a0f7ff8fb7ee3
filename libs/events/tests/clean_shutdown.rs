//! A clean shutdown of a relay and a consumer logs no ERROR, lapin's included.
//!
//! Its own test binary: lapin logs from its internal tasks and its I/O thread, so only a
//! process-wide subscriber sees all of it, and no other test (some cut connections on purpose)
//! may log into the same process.

use std::{
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
};

use events::{Consumer, Relay};
use tokio_util::sync::CancellationToken;
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{Layer, layer::Context, prelude::*};

// The fixtures of the main integration suite; this test needs only some of them.
#[allow(dead_code)]
#[path = "it/support.rs"]
mod support;

use support::{Broker, EffectHandler, ITEM_CHANGED, TestDb, amqp_url, commit_event, item_event};

/// Records every ERROR event as `target: fields`.
#[derive(Clone, Default)]
struct ErrorRecorder(Arc<Mutex<Vec<String>>>);

impl ErrorRecorder {
    fn recorded(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl<S: Subscriber> Layer<S> for ErrorRecorder {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let mut line = format!("{}:", event.metadata().target());
        event.record(&mut |field: &Field, value: &dyn std::fmt::Debug| {
            let _ = write!(line, " {}={value:?}", field.name());
        });
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_of_relay_and_consumer_logs_no_error() {
    const EVENTS: u64 = 50;
    let errors = ErrorRecorder::default();
    tracing_subscriber::registry().with(errors.clone()).init();

    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("clean-shutdown");
    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.item.*"]),
        EffectHandler::default(),
    );
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    for n in 0..EVENTS {
        commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", n, n)).await;
    }
    support::eventually("every event applied", || async {
        db.count("SELECT count(*) FROM effects").await == EVENTS as i64
    })
    .await;

    shutdown.cancel();
    relaying
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops cleanly");

    let recorded = errors.recorded();
    assert!(
        recorded.is_empty(),
        "a normal stop logged errors: {recorded:#?}"
    );
}
