//! Authentication: tokens are required and verified with keys from the tenants service,
//! fetched again when a token names a key the CRM has not seen.

use proto::crm as pb;
use proto::tenants as tpb;
use tonic::{Code, Request};

use crate::helpers::{DEADLINE, Db, authed, declare_consumer_queue};

#[tokio::test]
async fn calls_without_valid_tokens_are_unauthenticated() {
    let crm = crm::testing::spawn().await;
    let mut client = pb::lead_service_client::LeadServiceClient::new(crm.channel().await);
    let status = client
        .list_leads(Request::new(pb::ListLeadsRequest::default()))
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .list_leads(authed("not-a-jwt", pb::ListLeadsRequest::default()))
        .await
        .expect_err("garbage token");
    assert_eq!(status.code(), Code::Unauthenticated);

    // Signed by a key nobody published.
    let stranger = crm::testing::spawn().await;
    let token = stranger.token(
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        auth::BuiltinRole::Admin,
    );
    let status = client
        .list_leads(authed(&token, pb::ListLeadsRequest::default()))
        .await
        .expect_err("unknown key");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_tenant_provisioned_at_the_tenants_service_works_in_the_crm() {
    // Reserve a port for the tenants service, start the CRM pointing at it (its first key fetch
    // fails), then start the tenants service there.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        listener.local_addr().expect("addr").port()
    };
    let crm = crm::testing::spawn_with_tenants(&format!("http://127.0.0.1:{port}")).await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;

    let (mut settings, schema) = tenants::testing::test_settings();
    settings.server.grpc_listen = format!("127.0.0.1:{port}").parse().expect("addr");
    let tenants_svc = tenants::testing::spawn_with(settings, schema).await;
    let channel = tenants_svc.channel().await;
    let slug = format!("crm-{}", testkit::unique_suffix());
    let email = format!("admin@{slug}.test");
    let provisioned = tpb::tenant_service_client::TenantServiceClient::new(channel.clone())
        .provision_tenant(authed(
            &tenants_svc.operator_token,
            tpb::ProvisionTenantRequest {
                tenant: Some(tpb::Tenant {
                    slug: slug.clone(),
                    display_name: "CRM test".into(),
                    plan: "growth".into(),
                    settings: Some(tpb::TenantSettings {
                        timezone: "Europe/Berlin".into(),
                        currency_code: "EUR".into(),
                        fiscal_year_start_month: 1,
                        locale: "de-DE".into(),
                    }),
                    ..Default::default()
                }),
                admin: Some(tpb::AdminSpec {
                    email: email.clone(),
                    password: "correct horse 42".into(),
                    display_name: "Ann Admin".into(),
                }),
            },
        ))
        .await
        .expect("provisioned")
        .into_inner();
    let token = tpb::auth_service_client::AuthServiceClient::new(channel)
        .login(tpb::LoginRequest {
            tenant_slug: slug,
            email,
            password: "correct horse 42".into(),
        })
        .await
        .expect("logged in")
        .into_inner()
        .access_token;

    let mut pipelines =
        pb::pipeline_service_client::PipelineServiceClient::new(crm.channel().await);
    let listed = pipelines
        .list_pipelines(authed(&token, pb::ListPipelinesRequest {}))
        .await
        .expect("the CRM fetched the new key and accepted the token")
        .into_inner();
    assert_eq!(listed.pipelines.len(), 1);

    // The admin creates a lead they own.
    let admin_id = provisioned.admin.expect("admin").id;
    let lead = pb::lead_service_client::LeadServiceClient::new(crm.channel().await)
        .create_lead(authed(
            &token,
            pb::CreateLeadRequest {
                last_name: "Real".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("lead created")
        .into_inner();
    assert_eq!(lead.owner_id, admin_id);

    // The tenants service's events reach the CRM: the admin is projected, and the default
    // pipeline exists once whether the event or the first request created it.
    let admin_uuid = uuid::Uuid::parse_str(&admin_id).expect("uuid");
    let tenant_id = uuid::Uuid::parse_str(&provisioned.tenant.expect("tenant").id).expect("uuid");
    let role = testkit::poll_until(DEADLINE, || async {
        sqlx::query_scalar::<_, String>("SELECT role FROM crm_users WHERE user_id = $1")
            .bind(admin_uuid)
            .fetch_optional(&db.pool)
            .await
            .ok()
            .flatten()
    })
    .await
    .expect("admin projected from tenants events");
    assert_eq!(role, "ROLE_ADMIN");
    let provisioned_event: uuid::Uuid = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        r#"SELECT event_id FROM "{}".outbox
           WHERE tenant_id = $1 AND event_type = 'tenants.tenant.provisioned'"#,
        tenants_svc.schema.name
    )))
    .bind(tenant_id)
    .fetch_one(&db.pool)
    .await
    .expect("the tenants service wrote its event");
    testkit::poll_until(DEADLINE, || async {
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1")
                .bind(provisioned_event)
                .fetch_one(&db.pool)
                .await
                .ok()?;
        (applied == 1).then_some(())
    })
    .await
    .expect("provisioned event applied");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pipelines WHERE tenant_id = $1 AND is_default",
            tenant_id
        )
        .await,
        1
    );
}
