//! Tenant isolation: another tenant's ids do not exist, row-level security holds without any
//! WHERE clause, and the service keeps its own migration history in its schema.

use auth::BuiltinRole;
use proto::crm as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Db, team, user};

#[tokio::test]
async fn another_tenants_records_do_not_exist() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let account = team.rep.create_account("Tenant A account").await;
    let lead = team.rep.create_lead("TenantA", "A").await;
    let deal = team.rep.create_opportunity("Tenant A deal").await;

    let intruder = user(&crm, Uuid::now_v7(), Uuid::now_v7(), BuiltinRole::Admin).await;
    let status = intruder
        .accounts()
        .get_account(intruder.req(pb::GetAccountRequest {
            id: account.id.clone(),
            read_mask: None,
        }))
        .await
        .expect_err("foreign account");
    assert_eq!(status.code(), Code::NotFound);
    let status = intruder
        .leads()
        .convert_lead(intruder.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("foreign lead");
    assert_eq!(status.code(), Code::NotFound);
    let status = intruder
        .opportunities()
        .delete_opportunity(intruder.req(pb::DeleteOpportunityRequest {
            id: deal.id.clone(),
        }))
        .await
        .expect_err("foreign deal");
    assert_eq!(status.code(), Code::NotFound);
    // Referencing a foreign record is as good as referencing nothing.
    let status = intruder
        .contacts()
        .create_contact(intruder.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                last_name: "Spy".into(),
                account_id: account.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("foreign reference");
    crate::helpers::assert_invalid(&status, &["contact.account_id"]);
    let status = intruder
        .opportunities()
        .move_stage(intruder.req(pb::MoveStageRequest {
            id: deal.id.clone(),
            stage_id: deal.stage_id.clone(),
            lost_reason: String::new(),
        }))
        .await
        .expect_err("foreign deal");
    assert_eq!(status.code(), Code::NotFound);

    let listed = intruder
        .leads()
        .list_leads(intruder.req(pb::ListLeadsRequest::default()))
        .await
        .expect("listed")
        .into_inner();
    assert!(listed.leads.is_empty());
    // Each tenant gets its own default pipeline.
    assert_ne!(
        intruder.default_pipeline().await.id,
        team.rep.default_pipeline().await.id
    );
}

#[tokio::test]
async fn row_level_security_isolates_tenants_without_a_where_clause() {
    let crm = crm::testing::spawn().await;
    let owner = Db::connect(&crm).await;
    let a = team(&crm, &owner).await;
    let b = team(&crm, &owner).await;
    a.rep.create_lead("A", "A").await;
    a.rep.create_opportunity("A deal").await;
    b.rep.create_lead("B", "B").await;

    let app = Db::connect_as(&crm, Some("crm_test_app")).await;
    let mut conn = app.pool.acquire().await.expect("connection");
    let unscoped: i64 = sqlx::query_scalar("SELECT count(*) FROM leads")
        .fetch_one(&mut *conn)
        .await
        .expect("count");
    assert_eq!(unscoped, 0, "no tenant set, nothing visible");

    let mut tx = db::begin_for_tenant(&app.pool, b.tenant_id)
        .await
        .expect("tenant tx");
    for (table, expected) in [
        ("leads", 1),
        ("opportunities", 0),
        ("pipelines", 0),
        ("stages", 0),
        ("crm_users", 5),
    ] {
        let count: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut *tx)
                .await
                .expect("count");
        assert_eq!(count, expected, "{table}");
    }
    let smuggled = sqlx::query(
        "INSERT INTO leads (id, tenant_id, last_name, status, rating, owner_id, created_at, updated_at)
         VALUES ($1, $2, 'X', 'LEAD_STATUS_NEW', 'LEAD_RATING_UNSPECIFIED', $3, now(), now())",
    )
    .bind(Uuid::now_v7())
    .bind(a.tenant_id)
    .bind(a.rep.user_id)
    .execute(&mut *tx)
    .await;
    assert!(smuggled.is_err(), "writing into another tenant is refused");
}

#[tokio::test]
async fn migrations_are_recorded_in_the_service_schema() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&db.pool)
            .await
            .expect("history in the crm schema");
    assert!(versions.contains(&20261201000001), "{versions:?}");
    assert!(
        versions.contains(&9_000_000_001),
        "outbox migrations too: {versions:?}"
    );
    // Migrating again is a no-op.
    crm::migrate(&crm.settings).await.expect("idempotent");

    let app = Db::connect_as(&crm, Some("crm_test_app")).await;
    let denied = sqlx::query("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&app.pool)
        .await;
    assert!(
        denied.is_err(),
        "the app role cannot read migration history"
    );
}
