use std::borrow::Cow;

use events::{Relay, outbox};
use sqlx::{
    AssertSqlSafe, Connection, PgConnection,
    migrate::{Migration, MigrationType, Migrator},
};
use tokio_util::sync::CancellationToken;

use crate::support::{
    Broker, ITEM_CHANGED, TEST_DATABASE, TestDb, amqp_url, eventually, item_event, postgres_url,
};

/// Stands in for a service's own migrations.
fn service_migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(vec![Migration::new(
        20_250_101_000_000,
        Cow::Borrowed("service tables"),
        MigrationType::Simple,
        sqlx::SqlStr::from_static("CREATE TABLE accounts (id BIGINT PRIMARY KEY);"),
        false,
    )]);
    migrator.set_ignore_missing(true);
    migrator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_migrations_share_the_schema_history_with_the_service_migrations() {
    // TestDb already ran the events migrations; the service's run after, then both again, as
    // every restart does.
    let db = TestDb::new().await;
    service_migrator()
        .run(&db.pool)
        .await
        .expect("service migrations after events");
    events::migrate(&db.pool)
        .await
        .expect("events migrations again");
    service_migrator()
        .run(&db.pool)
        .await
        .expect("service migrations again");
    events::migrator()
        .run(&db.pool)
        .await
        .expect("owned events migrator");

    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        r#"SELECT version FROM "{}"._sqlx_migrations ORDER BY version"#,
        db.schema
    )))
    .fetch_all(&db.pool)
    .await
    .expect("history in the service schema");
    assert_eq!(versions, vec![9_000_000_001, 20_250_101_000_000]);
    assert!(events::MIGRATOR.iter().all(|m| m.version >= 9_000_000_001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_non_owner_application_role_can_enqueue_and_relay() {
    let db = TestDb::new().await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    let role = format!("{}_app", db.schema);
    // The grants libs/db gives the application role after migrations.
    db.execute(&format!(
        r#"CREATE ROLE "{role}" NOLOGIN;
           GRANT USAGE ON SCHEMA "{schema}" TO "{role}";
           GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";
           GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}";"#,
        schema = db.schema
    ))
    .await;
    let app_pool = TestDb::pool_for(&db.schema, Some(role.clone())).await;

    let mut tx = app_pool.begin().await.expect("begin as app role");
    outbox::enqueue(&mut tx, &item_event(ITEM_CHANGED, "as-app", 1, 1))
        .await
        .expect("enqueue as app role");
    tx.commit().await.expect("commit");

    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(app_pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    eventually("publish as the app role", || async { tap.len() == 1 }).await;
    eventually("marked sent as the app role", || async {
        db.pending().await == 0
    })
    .await;
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");
    app_pool.close().await;

    let mut admin = PgConnection::connect(&postgres_url(TEST_DATABASE))
        .await
        .expect("connect");
    sqlx::raw_sql(AssertSqlSafe(format!(
        r#"DROP OWNED BY "{role}"; DROP ROLE "{role}";"#
    )))
    .execute(&mut admin)
    .await
    .expect("drop role");
}
