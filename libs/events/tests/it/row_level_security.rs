//! Row-level security on the outbox, as a service runs it: migrated by libs/db, connected as the
//! non-owner application role. Tenant transactions see and write only their tenant's events;
//! the relay, on the same role, still publishes every tenant's.

use std::collections::HashSet;

use events::{NewEvent, Relay, outbox};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::support::{
    Broker, ITEM_CHANGED, ItemChanged, TEST_DATABASE, TestDb, amqp_url, eventually, postgres_url,
    run_detached,
};

/// The service's application role on the test schema (created and granted by `db::migrate`),
/// dropped on drop.
struct AppRole {
    pool: PgPool,
    role: String,
}

impl AppRole {
    async fn new(db: &TestDb) -> Self {
        let settings = db::DatabaseSettings {
            url: postgres_url(TEST_DATABASE),
            migrate_url: None,
            schema: db.schema.clone(),
            app_role: None,
            max_connections: 4,
            acquire_timeout_secs: 5,
            test_before_acquire: false,
            migrate_on_start: true,
        };
        db::migrate(&settings, vec![events::migrator()])
            .await
            .expect("libs/db migrates and grants");
        let pool = db::connect(&settings)
            .await
            .expect("connect as the app role");
        Self {
            pool,
            role: settings.app_role(),
        }
    }
}

impl Drop for AppRole {
    fn drop(&mut self) {
        let role = self.role.clone();
        run_detached(async move {
            let mut admin = PgConnection::connect(&postgres_url(TEST_DATABASE))
                .await
                .ok()?;
            sqlx::raw_sql(AssertSqlSafe(format!(
                r#"DROP OWNED BY "{role}"; DROP ROLE "{role}";"#
            )))
            .execute(&mut admin)
            .await
            .ok()
        });
    }
}

fn event_of(tenant_id: Uuid, n: u64) -> NewEvent {
    NewEvent::new(
        ITEM_CHANGED,
        tenant_id,
        "item",
        format!("item-{n}"),
        &ItemChanged { n, position: 0 },
    )
    .expect("valid event")
}

/// Enqueues in a transaction scoped to the event's tenant, as services do.
async fn commit_for_tenant(pool: &PgPool, tenant_id: Uuid, event: &NewEvent) {
    let mut tx = db::begin_for_tenant(pool, tenant_id)
        .await
        .expect("tenant transaction");
    outbox::enqueue(&mut tx, event).await.expect("enqueue");
    tx.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_transaction_sees_and_writes_only_its_own_tenants_outbox_rows() {
    let db = TestDb::new().await;
    let app = AppRole::new(&db).await;
    let (tenant_a, tenant_b) = (Uuid::now_v7(), Uuid::now_v7());
    commit_for_tenant(&app.pool, tenant_a, &event_of(tenant_a, 1)).await;
    commit_for_tenant(&app.pool, tenant_b, &event_of(tenant_b, 2)).await;

    let mut tx = db::begin_for_tenant(&app.pool, tenant_a)
        .await
        .expect("tenant transaction");
    let visible: Vec<Uuid> = sqlx::query_scalar("SELECT tenant_id FROM outbox")
        .fetch_all(&mut *tx)
        .await
        .expect("select");
    assert_eq!(visible, vec![tenant_a], "tenant B's event is hidden from A");
    let touched = sqlx::query("UPDATE outbox SET last_error = 'x' WHERE tenant_id = $1")
        .bind(tenant_b)
        .execute(&mut *tx)
        .await
        .expect("update")
        .rows_affected();
    assert_eq!(touched, 0, "tenant A cannot change B's events");
    let foreign = outbox::enqueue(&mut tx, &event_of(tenant_b, 3)).await;
    let code = match &foreign {
        Err(events::Error::Database(error)) => error.as_database_error().and_then(|e| e.code()),
        _ => None,
    };
    assert_eq!(
        code.as_deref(),
        Some("42501"),
        "an event for another tenant violates the policy: {foreign:?}"
    );
    drop(tx);

    let outside: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(outside, 0, "outside any tenant the outbox shows nothing");
    // The relay's function, on the same role, reaches both tenants.
    let claimable = sqlx::query("SELECT seq FROM outbox_claim(10, '{}', 0)")
        .fetch_all(&app.pool)
        .await
        .expect("the application role runs the relay's functions");
    assert_eq!(claimable.len(), 2);
    assert_eq!(db.count("SELECT count(*) FROM outbox").await, 2);
    app.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_on_the_application_role_publishes_every_tenants_events() {
    let db = TestDb::new().await;
    let app = AppRole::new(&db).await;
    let broker = Broker::new();
    let tap = broker.tap("#").await;
    let tenants: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (n, tenant_id) in (0_u64..).zip(&tenants) {
        commit_for_tenant(&app.pool, *tenant_id, &event_of(*tenant_id, n)).await;
    }

    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(
        Relay::new(app.pool.clone(), amqp_url(), broker.relay_config()).run(shutdown.clone()),
    );
    eventually("every tenant's event published", || async {
        tap.len() >= tenants.len()
    })
    .await;
    eventually("all marked sent", || async { db.pending().await == 0 }).await;
    shutdown.cancel();
    relay
        .await
        .expect("relay task")
        .expect("relay stops cleanly");

    let published: HashSet<String> = tap
        .envelopes()
        .into_iter()
        .map(|envelope| envelope.tenant_id)
        .collect();
    let expected: HashSet<String> = tenants.iter().map(Uuid::to_string).collect();
    assert_eq!(published, expected);
    app.pool.close().await;
}
