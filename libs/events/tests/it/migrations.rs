use std::borrow::Cow;

use sqlx::{
    AssertSqlSafe,
    migrate::{Migration, MigrationType, Migrator},
};

use crate::support::TestDb;

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
    assert_eq!(
        versions,
        vec![9_000_000_001, 9_000_000_002, 20_250_101_000_000]
    );
    assert!(events::MIGRATOR.iter().all(|m| m.version >= 9_000_000_001));
}
