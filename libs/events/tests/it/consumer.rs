use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use events::{Consumer, DeadLetters, Relay, outbox};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Broker, EffectHandler, ITEM_CHANGED, Proxy, TestDb, amqp_url, broker_address, commit_event,
    eventually, item_event, metric,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_from_four_producers_apply_exactly_once_across_connection_kills() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 2_500;
    const EVENTS_PER_TX: u64 = 5;
    const TOTAL: i64 = (PRODUCERS * PER_PRODUCER) as i64;
    /// Consumer progress at which its connection is cut.
    const KILL_AT: [i64; 5] = [500, 2_500, 4_500, 6_500, 8_500];

    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("exactly-once");
    let proxy = Proxy::start(broker_address()).await;
    let mut config = broker.consumer_config(&queue, &["it.item.*"]);
    config.prefetch = 200;
    let consumer = Consumer::new(
        db.pool.clone(),
        proxy.amqp_url(),
        config,
        EffectHandler::default(),
    );
    consumer.declare().await.expect("declare queue");

    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        // Through the proxy too: the relay loses its connection mid-batch as well and must
        // republish what was not confirmed.
        Relay::new(db.pool.clone(), proxy.amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );

    // Each producer commits a few events per business transaction, on aggregates shared with
    // the other producers.
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let pool = db.pool.clone();
            tokio::spawn(async move {
                for chunk in 0..PER_PRODUCER / EVENTS_PER_TX {
                    let mut tx = pool.begin().await.expect("begin");
                    for i in chunk * EVENTS_PER_TX..(chunk + 1) * EVENTS_PER_TX {
                        let n = producer * PER_PRODUCER + i;
                        let event = item_event(ITEM_CHANGED, &format!("agg-{}", n % 64), n, i);
                        outbox::enqueue(&mut tx, &event).await.expect("enqueue");
                    }
                    tx.commit().await.expect("commit");
                }
            })
        })
        .collect();

    let applied = || async { db.count("SELECT count(*) FROM effects").await };
    let mut kills = 0;
    for threshold in KILL_AT {
        eventually("consumer progress", || async {
            applied().await >= threshold
        })
        .await;
        let connections_before = proxy.accepted();
        proxy.kill_all();
        kills += 1;
        // Wait for the reconnect so every kill hits a live session.
        eventually("consumer reconnect", || async {
            proxy.accepted() > connections_before
        })
        .await;
    }
    for producer in producers {
        producer.await.expect("producer");
    }

    eventually("every event applied", || async { applied().await >= TOTAL }).await;
    eventually("outbox drained", || async { db.pending().await == 0 }).await;
    // Redeliveries still in flight would land now.
    eventually("queue settled", || async {
        metric("events_consumer_queue_depth", &[("queue", &queue)]) == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let expected_sum = (0..TOTAL).sum::<i64>();
    let (count, distinct, sum): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT n), COALESCE(sum(n), 0)::bigint FROM effects",
    )
    .fetch_one(&db.pool)
    .await
    .expect("effects");
    assert_eq!(
        (count, distinct, sum),
        (TOTAL, TOTAL, expected_sum),
        "applied exactly once"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM processed_events").await,
        TOTAL
    );
    assert_eq!(kills, KILL_AT.len());
    assert!(
        metric("events_consumer_reconnects_total", &[("queue", &queue)]) >= kills as f64,
        "every kill forced a consumer reconnect"
    );
    assert!(
        metric("events_relay_reconnects_total", &[("outbox", &db.schema)]) >= 1.0,
        "the relay reconnected too"
    );

    shutdown.cancel();
    relaying
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_dead_lettered_without_blocking_others_and_replays_once_fixed() {
    const MAX_ATTEMPTS: u32 = 3;
    const POISON: u64 = 1_000;
    const BAD_PAYLOAD: u64 = 2_000;
    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("poison");
    let handler = EffectHandler::default();
    handler.poison(POISON, false);
    handler.poison(BAD_PAYLOAD, true);
    let mut config = broker.consumer_config(&queue, &["it.item.*"]);
    config.max_attempts = MAX_ATTEMPTS;
    // One lane: everything behind the poison event waits on the same worker.
    config.concurrency = 1;
    let consumer = Consumer::new(db.pool.clone(), amqp_url(), config, handler.clone());
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );

    let poison = item_event(ITEM_CHANGED, "agg-0", POISON, 0);
    commit_event(&db.pool, &poison).await;
    let bad_payload = item_event(ITEM_CHANGED, "agg-1", BAD_PAYLOAD, 0);
    commit_event(&db.pool, &bad_payload).await;
    for n in 1..=20 {
        commit_event(
            &db.pool,
            &item_event(ITEM_CHANGED, &format!("agg-{}", n % 3), n, n),
        )
        .await;
    }

    eventually("the events behind the poison applied", || async {
        db.count("SELECT count(*) FROM effects").await == 20
    })
    .await;
    let dead_letters = DeadLetters::new(amqp_url(), &queue);
    eventually("both parked", || async {
        dead_letters.count().await.expect("count") == 2
    })
    .await;
    // Retried MAX_ATTEMPTS times on its own, plus once for each batch it failed in.
    let poison_calls = handler.poison_calls.load(Ordering::SeqCst);
    assert!(
        poison_calls > u64::from(MAX_ATTEMPTS),
        "{poison_calls} handler calls"
    );

    let letters = dead_letters.list(10).await.expect("list");
    assert_eq!(letters.len(), 2);
    let letter = letters
        .iter()
        .find(|letter| letter.event_id == poison.id().to_string())
        .expect("poison listed");
    assert_eq!(letter.error, format!("poison item {POISON} refused"));
    assert_eq!(letter.attempts, u64::from(MAX_ATTEMPTS));
    assert_eq!(letter.event_type, ITEM_CHANGED);
    assert!(letter.dead_lettered_at.is_some());
    assert_eq!(
        letter.envelope.as_ref().map(|e| e.id.clone()),
        Some(poison.id().to_string())
    );
    let permanent = letters
        .iter()
        .find(|letter| letter.event_id == bad_payload.id().to_string())
        .expect("permanent failure listed");
    assert_eq!(permanent.attempts, 1, "a permanent failure is not retried");
    // Listing does not consume.
    assert_eq!(dead_letters.count().await.expect("count"), 2);
    assert_eq!(
        metric("events_dead_letters_total", &[("queue", &queue)]),
        2.0
    );

    handler.fix();
    let replayed = dead_letters
        .replay(Some(&[poison.id().to_string()]))
        .await
        .expect("replay");
    assert_eq!(replayed, 1);
    eventually("the fixed poison applied", || async {
        db.count(&format!("SELECT count(*) FROM effects WHERE n = {POISON}"))
            .await
            == 1
    })
    .await;
    assert_eq!(
        dead_letters.count().await.expect("count"),
        1,
        "the unselected one stays parked"
    );

    // Replaying the rest, and replaying again, applies nothing twice.
    assert_eq!(dead_letters.replay(None).await.expect("replay rest"), 1);
    eventually("the rest applied", || async {
        db.count("SELECT count(*) FROM effects").await == 22
    })
    .await;
    assert_eq!(dead_letters.replay(None).await.expect("replay empty"), 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(db.count("SELECT count(*) FROM effects").await, 22);
    assert_eq!(
        db.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        22
    );

    shutdown.cancel();
    relaying
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_transaction_is_scoped_to_the_event_tenant() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let queue = broker.queue("tenant");
    let seen = Arc::new(AtomicBool::new(false));

    struct TenantProbe(Arc<AtomicBool>);
    #[async_trait::async_trait]
    impl events::Handler for TenantProbe {
        async fn handle(
            &self,
            event: &events::Event,
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        ) -> Result<(), events::HandlerError> {
            let tenant: String = sqlx::query_scalar("SELECT current_setting('app.tenant_id')")
                .fetch_one(&mut **tx)
                .await?;
            if tenant == event.tenant_id.to_string() {
                self.0.store(true, Ordering::SeqCst);
            }
            Ok(())
        }
    }

    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.item.changed"]),
        TenantProbe(Arc::clone(&seen)),
    );
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", 1, 1)).await;
    eventually("handled with the tenant set", || async {
        seen.load(Ordering::SeqCst)
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_dead_letters_its_event_and_consumption_goes_on() {
    const PANIC: u64 = 666;
    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("panic");

    struct PanicOn(EffectHandler);
    #[async_trait::async_trait]
    impl events::Handler for PanicOn {
        async fn handle(
            &self,
            event: &events::Event,
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        ) -> Result<(), events::HandlerError> {
            let payload: crate::support::ItemChanged =
                event.payload().map_err(events::HandlerError::permanent)?;
            if payload.n == PANIC {
                panic!("cannot handle item {PANIC}");
            }
            self.0.handle(event, tx).await
        }
    }

    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.item.*"]),
        PanicOn(EffectHandler::default()),
    );
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", PANIC, 0)).await;
    for n in 1..=5 {
        commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg", n, n)).await;
    }

    eventually("the others applied", || async {
        db.count("SELECT count(*) FROM effects").await == 5
    })
    .await;
    let dead_letters = DeadLetters::new(amqp_url(), &queue);
    eventually("the panicking one parked", || async {
        dead_letters.count().await.expect("count") == 1
    })
    .await;
    let letters = dead_letters.list(1).await.expect("list");
    assert!(
        letters[0]
            .error
            .contains("handler panicked: cannot handle item 666"),
        "{}",
        letters[0].error
    );
    assert_eq!(letters[0].attempts, 1);
    assert_eq!(
        metric("events_consumer_reconnects_total", &[("queue", &queue)]),
        0.0,
        "the panic did not take the session down"
    );

    shutdown.cancel();
    relaying
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_declared_with_other_arguments_is_reported_not_retried() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let queue = broker.queue("mismatch");
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("classic queue");

    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.#"]),
        EffectHandler::default(),
    );
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        consumer.run(CancellationToken::new()),
    )
    .await
    .expect("gives up instead of reconnecting forever");
    assert!(
        matches!(result, Err(events::Error::TopologyMismatch(..))),
        "{result:?}"
    );
    connection.close(200, "done".into()).await.expect("close");
}
