use std::time::Duration;

use events::{Relay, outbox};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Broker, ITEM_CHANGED, TestDb, amqp_url, commit_event, eventually, item_event,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_business_transaction_produces_no_event() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    db.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY)")
        .await;

    let mut tx = db.pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO orders (id) VALUES (1)")
        .execute(&mut *tx)
        .await
        .expect("insert");
    outbox::enqueue(&mut tx, &item_event(ITEM_CHANGED, "rolled-back", 1, 1))
        .await
        .expect("enqueue");
    tx.rollback().await.expect("rollback");
    assert_eq!(db.count("SELECT count(*) FROM outbox").await, 0);

    let committed = item_event(ITEM_CHANGED, "committed", 2, 1);
    let mut tx = db.pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO orders (id) VALUES (2)")
        .execute(&mut *tx)
        .await
        .expect("insert");
    outbox::enqueue(&mut tx, &committed).await.expect("enqueue");
    tx.commit().await.expect("commit");

    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    eventually("the committed event", || async { tap.len() >= 1 }).await;
    // Anything else the relay would publish is out by the time the outbox is drained.
    eventually("outbox drained", || async { db.pending().await == 0 }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let published = tap.envelopes();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].id, committed.id().to_string());
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_message_is_persistent_typed_and_carries_the_trace_context() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("it.#").await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let event =
        item_event(ITEM_CHANGED, "traced", 7, 1).with_trace_context(traceparent, "vendor=1");
    commit_event(&db.pool, &event).await;

    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    eventually("the event", || async { tap.len() == 1 }).await;
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");

    let deliveries = tap.received.lock().expect("tap lock");
    let delivery = &deliveries[0];
    let properties = &delivery.properties;
    assert_eq!(delivery.routing_key.as_str(), ITEM_CHANGED);
    assert_eq!(*properties.delivery_mode(), Some(2));
    assert_eq!(
        properties.message_id().as_ref().map(|id| id.to_string()),
        Some(event.id().to_string())
    );
    assert_eq!(
        properties.kind().as_ref().map(|kind| kind.to_string()),
        Some(ITEM_CHANGED.to_owned())
    );
    assert_eq!(
        properties
            .content_type()
            .as_ref()
            .map(|kind| kind.to_string()),
        Some("application/x-protobuf".to_owned())
    );
    let headers = properties.headers().as_ref().expect("headers").inner();
    let header = |name: &str| match headers.get(name) {
        Some(lapin::types::AMQPValue::LongString(value)) => value.to_string(),
        other => panic!("header {name}: {other:?}"),
    };
    assert_eq!(header("traceparent"), traceparent);
    assert_eq!(header("tracestate"), "vendor=1");
    assert_eq!(header("x-tenant-id"), crate::support::tenant().to_string());
    drop(deliveries);

    let envelope = &tap.envelopes()[0];
    assert_eq!(envelope.traceparent, traceparent);
    assert_eq!(envelope.producer, "it");
    assert_eq!(envelope.schema_version, 1);
    assert_eq!(envelope.aggregate_type, "item");
    assert_eq!(envelope.aggregate_id, "traced");
}
