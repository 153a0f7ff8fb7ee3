use std::{collections::HashMap, time::Duration};

use events::{Consumer, Error, Relay, RelayConfig, outbox};
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::support::{
    Broker, EffectHandler, ITEM_CHANGED, ItemChanged, Proxy, TestDb, amqp_url, commit_event,
    eventually, item_event, metric, postgres_address, series_exists,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_relay_replicas_publish_each_row_once_in_order_per_aggregate() {
    const AGGREGATES: u64 = 20;
    const PER_AGGREGATE: u64 = 100;
    const TOTAL: usize = (AGGREGATES * PER_AGGREGATE) as usize;
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;

    // Half the events are waiting when the replicas start, half arrive while they run.
    let enqueue = |from: u64, to: u64| {
        let pool = db.pool.clone();
        async move {
            for position in from..to {
                let batch: Vec<_> = (0..AGGREGATES)
                    .map(|a| {
                        item_event(
                            ITEM_CHANGED,
                            &format!("agg-{a}"),
                            a * 1_000 + position,
                            position,
                        )
                    })
                    .collect();
                let mut tx = pool.begin().await.expect("begin");
                outbox::enqueue_all(&mut tx, &batch).await.expect("enqueue");
                tx.commit().await.expect("commit");
            }
        }
    };
    enqueue(0, PER_AGGREGATE / 2).await;

    let shutdown = CancellationToken::new();
    // Small batches so the replicas interleave and contend for the same aggregates.
    let config = RelayConfig {
        batch_size: 25,
        ..broker.relay_config()
    };
    let replicas: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(
                Relay::new(db.pool.clone(), amqp_url(), config.clone()).run(shutdown.clone()),
            )
        })
        .collect();
    enqueue(PER_AGGREGATE / 2, PER_AGGREGATE).await;

    eventually("every row published", || async { tap.len() >= TOTAL }).await;
    eventually("every row marked sent", || async {
        db.pending().await == 0
    })
    .await;
    // A second publish of any row would arrive right behind the first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    for replica in replicas {
        replica
            .await
            .expect("relay task")
            .expect("relay stops cleanly");
    }

    let envelopes = tap.envelopes();
    assert_eq!(envelopes.len(), TOTAL, "a row was published twice");
    let mut last_position: HashMap<String, i64> = HashMap::new();
    for envelope in &envelopes {
        let payload =
            ItemChanged::decode(envelope.payload.as_ref().expect("payload").value.as_slice())
                .expect("payload");
        let last = last_position
            .entry(envelope.aggregate_id.clone())
            .or_insert(-1);
        assert_eq!(
            i64::try_from(payload.position).expect("position"),
            *last + 1,
            "aggregate {} out of order",
            envelope.aggregate_id
        );
        *last += 1;
    }
    assert_eq!(last_position.len(), AGGREGATES as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_crash_between_publish_and_mark_sent_duplicates_into_the_consumers_idempotency() {
    const EVENTS: u64 = 50;
    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("crash");
    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.#"]),
        EffectHandler::default(),
    );
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));

    for n in 0..EVENTS {
        commit_event(
            &db.pool,
            &item_event(ITEM_CHANGED, &format!("agg-{}", n % 5), n, n / 5),
        )
        .await;
    }

    let crashed = Relay::new(db.pool.clone(), amqp_url(), broker.relay_config())
        .crash_after_publish()
        .run(shutdown.clone())
        .await;
    assert!(matches!(crashed, Err(Error::SimulatedCrash)), "{crashed:?}");
    // Published and applied, yet not marked sent.
    eventually("first publish applied", || async {
        db.count("SELECT count(*) FROM effects").await == EVENTS as i64
    })
    .await;
    assert_eq!(db.pending().await, EVENTS as i64);

    let restarted = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    eventually("outbox drained after restart", || async {
        db.pending().await == 0
    })
    .await;
    eventually("duplicates absorbed", || async {
        metric(
            "events_consumed_total",
            &[("queue", &queue), ("outcome", "duplicate")],
        ) >= EVENTS as f64
    })
    .await;

    assert_eq!(
        db.count("SELECT count(*) FROM effects").await,
        EVENTS as i64
    );
    assert_eq!(
        db.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        EVENTS as i64
    );
    assert_eq!(
        metric(
            "events_consumed_total",
            &[("queue", &queue), ("outcome", "applied")]
        ),
        EVENTS as f64
    );
    shutdown.cancel();
    restarted
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_notify_an_idle_relay_but_not_one_that_is_polling() {
    let db = TestDb::new().await;
    let mut listener = sqlx::postgres::PgListener::connect_with(&db.pool)
        .await
        .expect("listener");
    listener
        .listen(&format!("outbox_{}", db.schema))
        .await
        .expect("listen");

    commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", 1, 1)).await;
    tokio::time::timeout(Duration::from_secs(5), listener.recv())
        .await
        .expect("an idle outbox notifies")
        .expect("notification");

    db.execute("UPDATE outbox_relay SET polling_until = now() + interval '1 hour'")
        .await;
    commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", 2, 2)).await;
    let silent = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(
        silent.is_err(),
        "no NOTIFY while a relay holds the polling lease"
    );

    let mut tx = db.pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, &item_event(ITEM_CHANGED, "agg", 3, 3))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");
    db.execute("UPDATE outbox_relay SET polling_until = 'epoch'")
        .await;
    let mut tx = db.pool.begin().await.expect("begin");
    outbox::enqueue(&mut tx, &item_event(ITEM_CHANGED, "agg", 4, 4))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");
    let silent = tokio::time::timeout(Duration::from_millis(300), listener.recv()).await;
    assert!(silent.is_err(), "a rolled-back transaction notifies nobody");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_promptly_when_idle_busy_and_idle_again() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    let config = RelayConfig {
        // Only NOTIFY or the busy poll can be prompt.
        poll_interval: Duration::from_secs(3600),
        polling_lease: Duration::from_millis(200),
        lease_grace: Duration::from_millis(200),
        ..broker.relay_config()
    };
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(db.pool.clone(), amqp_url(), config).run(shutdown.clone()));
    // Whether the first commit lands before or after the relay listens, it is published at once
    // (by the drain on start or by NOTIFY); the later rounds exercise the busy poll and NOTIFY.

    // Far below the hour-long safety poll, yet safe on a busy CI machine.
    let prompt = Duration::from_secs(5);
    for (round, n) in [(1, 1), (2, 2), (3, 3)] {
        let started = std::time::Instant::now();
        commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", n, n)).await;
        eventually("published", || async { tap.len() == round }).await;
        assert!(
            started.elapsed() < prompt,
            "round {round} took {:?}",
            started.elapsed()
        );
        if round == 2 {
            // Back to idle: lease and grace over, the next commit must NOTIFY again.
            eventually("lease over", || async {
                db.count("SELECT count(*) FROM outbox_relay WHERE polling_until < now()")
                    .await
                    == 1
            })
            .await;
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_commits_after_later_rows_were_published_is_still_published() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );

    // Takes its sequence number first, commits last.
    let late = item_event(ITEM_CHANGED, "late", 0, 0);
    let mut slow = db.pool.begin().await.expect("begin");
    outbox::enqueue(&mut slow, &late).await.expect("enqueue");
    for chunk in 0..6 {
        let batch: Vec<_> = (0..100)
            .map(|i| {
                item_event(
                    ITEM_CHANGED,
                    &format!("agg-{i}"),
                    chunk * 100 + i + 1,
                    chunk,
                )
            })
            .collect();
        let mut tx = db.pool.begin().await.expect("begin");
        outbox::enqueue_all(&mut tx, &batch).await.expect("enqueue");
        tx.commit().await.expect("commit");
    }
    eventually("the later rows published", || async { tap.len() >= 600 }).await;
    slow.commit().await.expect("late commit");

    eventually("the late row published", || async { tap.len() == 601 }).await;
    eventually("outbox drained", || async { db.pending().await == 0 }).await;
    assert!(
        tap.envelopes()
            .iter()
            .any(|envelope| envelope.id == late.id().to_string())
    );
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
}

/// Backends of `application_name` inside a transaction that nobody is running a statement in.
async fn idle_in_transaction(db: &TestDb, application_name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
    )
    .bind(application_name)
    .fetch_one(&db.pool)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_dropped_mid_batch_returns_no_connection_to_the_pool_inside_a_transaction() {
    const EVENTS: u64 = 3_000;
    const DROPS: usize = 25;
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    let application_name = format!("relay-drop-{}", crate::support::suffix());
    // Round trips of a few milliseconds, so that a drop lands in the relay's BEGIN on most
    // iterations (on a local socket BEGIN takes microseconds and a drop rarely finds it).
    let database = Proxy::with_latency(postgres_address(), Duration::from_millis(3)).await;
    let pool = db.named_pool(&application_name, Some(&database)).await;
    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&n| item_event(ITEM_CHANGED, &format!("agg-{}", n % 50), n, n))
            .collect();
        let mut tx = db.pool.begin().await.expect("begin");
        outbox::enqueue_all(&mut tx, &batch).await.expect("enqueue");
        tx.commit().await.expect("commit");
    }
    // Small batches: the relay begins a claim transaction every few rows, so a drop often lands
    // in its BEGIN, its claim, or while batches wait for confirms.
    let config = RelayConfig {
        batch_size: 5,
        ..broker.relay_config()
    };

    for _ in 0..DROPS {
        let seen = tap.len();
        let relay = tokio::spawn(
            Relay::new(pool.clone(), amqp_url(), config.clone()).run(CancellationToken::new()),
        );
        eventually("the relay publishing", || async { tap.len() > seen }).await;
        // The session is dropped wherever it is, like a task aborted at shutdown.
        relay.abort();
        assert!(relay.await.is_err_and(|error| error.is_cancelled()));
        eventually(
            "every connection of the pool out of its transaction",
            || async { idle_in_transaction(&db, &application_name).await == 0 },
        )
        .await;
    }

    // Nothing lost: a relay left to run publishes the rest (rows of dropped batches again).
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(pool.clone(), amqp_url(), config).run(shutdown.clone()));
    eventually("every row marked sent", || async {
        db.pending().await == 0
    })
    .await;
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    eventually("every event received at least once", || async {
        let ids: std::collections::HashSet<String> = tap
            .envelopes()
            .into_iter()
            .map(|envelope| envelope.id)
            .collect();
        ids.len() == EVENTS as usize
    })
    .await;
    assert_eq!(idle_in_transaction(&db, &application_name).await, 0);
    pool.close().await;
}

#[tokio::test]
async fn every_alerting_series_exists_at_zero_once_relay_and_consumer_are_built() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    // Named like `db::connect` names a service's pool: after its schema.
    let pool = db.named_pool(&db.schema, None).await;
    let queue = broker.queue("precreated");
    let _relay = Relay::new(pool.clone(), amqp_url(), broker.relay_config());
    let _consumer = Consumer::new(
        pool,
        amqp_url(),
        broker.consumer_config(&queue, &[ITEM_CHANGED]),
        EffectHandler::default(),
    );

    let outbox = [
        ("component", db.schema.as_str()),
        ("outbox", db.schema.as_str()),
    ];
    for name in [
        "events_outbox_backlog",
        "events_outbox_oldest_pending_seconds",
        "events_published_total",
        "events_publish_failures_total",
        "events_relay_reconnects_total",
        "events_outbox_pruned_total",
    ] {
        assert!(series_exists(name, &outbox), "{name} {outbox:?}");
        assert_eq!(metric(name, &outbox), 0.0, "{name}");
    }
    let consumer = [("component", db.schema.as_str()), ("queue", queue.as_str())];
    for name in [
        "events_consumer_queue_depth",
        "events_redeliveries_total",
        "events_handler_retries_total",
        "events_dead_letters_total",
        "events_consumer_reconnects_total",
    ] {
        assert!(series_exists(name, &consumer), "{name} {consumer:?}");
        assert_eq!(metric(name, &consumer), 0.0, "{name}");
    }
    for outcome in ["applied", "duplicate", "dead_lettered"] {
        let labels = [("queue", queue.as_str()), ("outcome", outcome)];
        assert!(series_exists("events_consumed_total", &labels), "{outcome}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_gauges_rise_from_the_table_while_the_broker_is_unreachable() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let shutdown = CancellationToken::new();
    // Nothing listens on the discard port: every session fails before it publishes.
    let relay = tokio::spawn(
        Relay::new(
            db.pool.clone(),
            "amqp://guest:guest@127.0.0.1:9/%2f",
            broker.relay_config(),
        )
        .run(shutdown.clone()),
    );
    for n in 1..=3 {
        commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", n, n)).await;
    }
    let outbox = [("outbox", db.schema.as_str())];
    eventually("the backlog counted from the table", || async {
        metric("events_outbox_backlog", &outbox) == 3.0
            && metric("events_outbox_oldest_pending_seconds", &outbox) > 0.0
            // The sessions did fail: the gauges did not come from a connected relay.
            && metric("events_relay_reconnects_total", &outbox) >= 1.0
    })
    .await;
    assert_eq!(metric("events_published_total", &outbox), 0.0);
    shutdown.cancel();
    relay.await.expect("joined").expect("stops cleanly");
}

/// A broker that stays away is one WARN, not one per attempt: the attempts after the first are
/// DEBUG (the reconnect counter keeps counting them), and none is an ERROR.
#[tokio::test]
async fn a_broker_outage_is_one_warning_and_quiet_reconnect_attempts() {
    use tracing_subscriber::layer::SubscriberExt as _;

    let db = TestDb::new().await;
    let broker = Broker::new();
    // A port nothing listens on: every attempt fails at connect.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let logs = testkit::logs::CapturedLogs::new();
    let subscriber = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(logs.clone()),
        )
        .with(
            tracing_subscriber::filter::Targets::new().with_target("events", tracing::Level::DEBUG),
        );
    // This test's runtime is single-threaded: the relay logs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(
        Relay::new(
            db.pool.clone(),
            format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            broker.relay_config(),
        )
        .run(shutdown.clone()),
    );
    let attempts = || {
        logs.lines()
            .iter()
            .filter(|l| l.contains("relay reconnect failed"))
            .count()
    };
    eventually("four failed reconnects", || async { attempts() >= 4 }).await;
    shutdown.cancel();
    relaying
        .await
        .expect("joined")
        .expect("relay stops cleanly");

    let lines = logs.lines();
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(warnings[0].contains("relay session failed"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("relay reconnect failed"))
            .all(|l| l.contains("DEBUG")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("ERROR")), "{lines:#?}");
}
