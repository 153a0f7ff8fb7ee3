use events::{Consumer, HistoryReplay, Relay, replay_history};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Broker, EffectHandler, ITEM_CHANGED, TestDb, amqp_url, commit_event, eventually, item_event,
    metric,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_consumer_builds_its_projection_from_retained_history() {
    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    // Published before the consumer existed: no queue was bound, the broker dropped them.
    for n in 0..30 {
        let event_type = if n % 2 == 0 {
            ITEM_CHANGED
        } else {
            "it.order.placed"
        };
        commit_event(
            &db.pool,
            &item_event(event_type, &format!("agg-{}", n % 4), n, n),
        )
        .await;
    }
    eventually("history published", || async { db.pending().await == 0 }).await;

    let queue = broker.queue("newcomer");
    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.item.*"]),
        EffectHandler::default(),
    );
    consumer.declare().await.expect("declare before replay");
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let request = HistoryReplay {
        queue: queue.clone(),
        bindings: vec!["it.item.*".into()],
        since: None,
    };
    let replayed = replay_history(&db.pool, &amqp_url(), &request)
        .await
        .expect("replay");
    assert_eq!(replayed, 15, "only the events its bindings select");

    // Live events keep flowing next to the replay.
    commit_event(&db.pool, &item_event(ITEM_CHANGED, "agg-live", 100, 0)).await;
    eventually("projection built", || async {
        db.count("SELECT count(*) FROM effects").await == 16
    })
    .await;

    // Replaying again (an operator retrying) changes nothing.
    assert_eq!(
        replay_history(&db.pool, &amqp_url(), &request)
            .await
            .expect("replay again"),
        16
    );
    eventually("second replay absorbed", || async {
        metric(
            "events_consumed_total",
            &[("queue", &queue), ("outcome", "duplicate")],
        ) >= 16.0
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM effects").await, 16);
    assert_eq!(
        db.count("SELECT count(*) FROM effects WHERE n % 2 = 1")
            .await,
        0
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
