use events::{Consumer, Relay};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::{
    Broker, EffectHandler, ITEM_CHANGED, TestDb, amqp_url, commit_event, eventually, item_event,
};

// Current-thread runtime: the relay and consumer tasks run on the test's thread, where the
// thread-local subscriber with the OpenTelemetry layer is installed.
#[tokio::test(flavor = "current_thread")]
async fn producer_publish_and_handle_spans_form_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("events-test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    // Callsite interest is cached process-wide. With a single registered dispatcher,
    // tracing-core computes it from the registering thread's default, so another test's thread
    // (no subscriber) hitting `events.publish` first would cache "never". A second registered
    // dispatcher makes it consult every dispatcher, this test's included.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());

    let db = TestDb::new().await;
    db.create_effects().await;
    let broker = Broker::new();
    let queue = broker.queue("traced");
    let consumer = Consumer::new(
        db.pool.clone(),
        amqp_url(),
        broker.consumer_config(&queue, &["it.#"]),
        EffectHandler::default(),
    );
    consumer.declare().await.expect("declare queue");
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let relaying = tokio::spawn(
        Relay::new(db.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );

    // The request that changes the aggregate: the event captures its trace context.
    let request = tracing::info_span!("tenants.create_user");
    let event = request.in_scope(|| item_event(ITEM_CHANGED, "traced", 1, 1));
    drop(request);
    commit_event(&db.pool, &event).await;
    eventually("applied", || async {
        db.count("SELECT count(*) FROM effects").await == 1
    })
    .await;
    shutdown.cancel();
    relaying.await.expect("relay task").expect("relay stops");
    consuming
        .await
        .expect("consumer task")
        .expect("consumer stops");
    provider.force_flush().expect("flush spans");

    let spans = exporter.get_finished_spans().expect("spans");
    let named = |name: &str| {
        spans
            .iter()
            .find(|span| span.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} span in {:?}",
                    spans.iter().map(|s| &s.name).collect::<Vec<_>>()
                )
            })
    };
    let request = named("tenants.create_user");
    let publish = named("events.publish");
    let handle = named("events.handle");
    let trace_id = request.span_context.trace_id();
    assert_eq!(
        publish.span_context.trace_id(),
        trace_id,
        "publish joins the producer's trace"
    );
    assert_eq!(publish.parent_span_id, request.span_context.span_id());
    assert_eq!(
        handle.span_context.trace_id(),
        trace_id,
        "handle joins it through the headers"
    );
    assert_eq!(handle.parent_span_id, publish.span_context.span_id());
}
