use std::collections::HashSet;

use futures::future::join_all;
use proto::tenants as pb;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn provisioning_creates_tenant_settings_and_admin() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "acme").await;
    assert_eq!(f.tenant.slug, f.slug);
    assert_eq!(f.tenant.plan, "growth");
    assert_eq!(f.tenant.status, pb::TenantStatus::Active as i32);
    let settings = f.tenant.settings.expect("settings");
    assert_eq!(
        (settings.timezone.as_str(), settings.currency_code.as_str()),
        ("Europe/Berlin", "EUR")
    );
    assert_eq!(
        (settings.fiscal_year_start_month, settings.locale.as_str()),
        (4, "de-DE")
    );
    assert_eq!(f.admin.role, pb::Role::Admin as i32);
    assert_eq!(f.admin.tenant_id, f.tenant.id);

    let me = c
        .users
        .get_current_user(authed(&f.admin_token, pb::GetCurrentUserRequest {}))
        .await
        .expect("admin reads self")
        .into_inner();
    assert_eq!(me.id, f.admin.id);
    assert!(me.last_login_time.is_some());
}

#[tokio::test]
async fn only_the_operator_may_provision() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "opcheck").await;
    let slug = unique_slug("nope");
    let as_admin = c
        .tenants
        .provision_tenant(authed(
            &f.admin_token,
            provision_request(&slug, "a@nope.test"),
        ))
        .await
        .expect_err("tenant admin is not the operator");
    assert_eq!(as_admin.code(), Code::PermissionDenied);
    let anonymous = c
        .tenants
        .provision_tenant(provision_request(&slug, "a@nope.test"))
        .await
        .expect_err("no credentials");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let wrong = c
        .tenants
        .provision_tenant(authed(
            "not-the-operator-token",
            provision_request(&slug, "a@nope.test"),
        ))
        .await
        .expect_err("wrong operator token");
    assert_eq!(wrong.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn duplicate_slug_is_already_exists() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "dup").await;
    let status = c
        .tenants
        .provision_tenant(authed(
            &svc.operator_token,
            provision_request(&f.slug, "other@dup.test"),
        ))
        .await
        .expect_err("duplicate");
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn failure_mid_provisioning_leaves_nothing_behind() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    // Inject a failure after the tenant row is written: the admin insert raises.
    let mut conn = sqlx::PgConnection::connect(&testkit::database_url())
        .await
        .expect("db");
    let schema = &svc.schema.name;
    let ddl = format!(
        r#"CREATE FUNCTION "{schema}".fail_admin() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN IF NEW.email LIKE 'boom@%' THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$;
           CREATE TRIGGER fail_admin BEFORE INSERT ON "{schema}".users
           FOR EACH ROW EXECUTE FUNCTION "{schema}".fail_admin();"#
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut conn)
        .await
        .expect("trigger installed");

    let slug = unique_slug("atomic");
    let status = c
        .tenants
        .provision_tenant(authed(
            &svc.operator_token,
            provision_request(&slug, "boom@atomic.test"),
        ))
        .await
        .expect_err("injected failure");
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        status.message(),
        "internal error",
        "internals must not leak"
    );

    let tenants: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        r#"SELECT count(*) FROM "{schema}".tenants WHERE slug = $1"#
    )))
    .bind(&slug)
    .fetch_one(&mut conn)
    .await
    .expect("count");
    let users: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        r#"SELECT count(*) FROM "{schema}".users"#
    )))
    .fetch_one(&mut conn)
    .await
    .expect("count");
    let outbox: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        r#"SELECT count(*) FROM "{schema}".outbox"#
    )))
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(
        (tenants, users, outbox),
        (0, 0, 0),
        "no tenant, user or event survives the rollback"
    );

    // The same slug is free for a provisioning that succeeds.
    c.tenants
        .provision_tenant(authed(
            &svc.operator_token,
            provision_request(&slug, "ok@atomic.test"),
        ))
        .await
        .expect("retry succeeds");
}

#[tokio::test]
async fn fifty_parallel_provisionings_with_distinct_slugs_all_succeed() {
    let svc = tenants::testing::spawn().await;
    let c = clients(&svc).await;
    let calls = (0..50).map(|i| {
        let mut client = c.tenants.clone();
        let token = svc.operator_token.clone();
        async move {
            let slug = unique_slug(&format!("par{i}"));
            client
                .provision_tenant(authed(
                    &token,
                    provision_request(&slug, &format!("a{i}@par.test")),
                ))
                .await
        }
    });
    let results = join_all(calls).await;
    let ids: HashSet<String> = results
        .into_iter()
        .map(|r| {
            r.expect("each provisioning succeeds")
                .into_inner()
                .tenant
                .expect("tenant")
                .id
        })
        .collect();
    assert_eq!(ids.len(), 50);
}

#[tokio::test]
async fn ten_parallel_provisionings_of_one_slug_give_exactly_one_tenant() {
    let svc = tenants::testing::spawn().await;
    let c = clients(&svc).await;
    let slug = unique_slug("race");
    let calls = (0..10).map(|i| {
        let mut client = c.tenants.clone();
        let token = svc.operator_token.clone();
        let slug = slug.clone();
        async move {
            client
                .provision_tenant(authed(
                    &token,
                    provision_request(&slug, &format!("a{i}@race.test")),
                ))
                .await
        }
    });
    let results = join_all(calls).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::AlreadyExists))
        .count();
    assert_eq!((ok, conflicts), (1, 9), "{results:?}");
}

#[tokio::test]
async fn suspended_tenant_tokens_stop_working_until_reactivated() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "susp").await;
    let refresh = login(&mut c, &f.slug, &format!("admin@{}.test", f.slug), PASSWORD)
        .await
        .expect("login")
        .refresh_token;

    c.tenants
        .suspend_tenant(authed(
            &svc.operator_token,
            pb::SuspendTenantRequest {
                id: f.tenant.id.clone(),
                reason: "unpaid".into(),
            },
        ))
        .await
        .expect("operator suspends");
    let status = c
        .users
        .get_current_user(authed(&f.admin_token, pb::GetCurrentUserRequest {}))
        .await
        .expect_err("token of a suspended tenant");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = login(&mut c, &f.slug, &format!("admin@{}.test", f.slug), PASSWORD)
        .await
        .expect_err("no login");
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: refresh.clone(),
        })
        .await
        .expect_err("no refresh");
    assert_eq!(status.code(), Code::Unauthenticated);

    c.tenants
        .reactivate_tenant(authed(
            &svc.operator_token,
            pb::ReactivateTenantRequest {
                id: f.tenant.id.clone(),
            },
        ))
        .await
        .expect("operator reactivates");
    c.users
        .get_current_user(authed(&f.admin_token, pb::GetCurrentUserRequest {}))
        .await
        .expect("token works again");
}

#[tokio::test]
async fn operator_lists_tenants_with_paging_and_admin_updates_settings() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "list1").await;
    provision(&svc, &mut c, "list2").await;
    provision(&svc, &mut c, "list3").await;
    let page1 = c
        .tenants
        .list_tenants(authed(
            &svc.operator_token,
            pb::ListTenantsRequest {
                page_size: 2,
                page_token: String::new(),
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page1.tenants.len(), 2);
    let page2 = c
        .tenants
        .list_tenants(authed(
            &svc.operator_token,
            pb::ListTenantsRequest {
                page_size: 2,
                page_token: page1.next_page_token,
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page2.tenants.len(), 1);
    assert!(page2.next_page_token.is_empty());

    let updated = c
        .tenants
        .update_tenant(authed(
            &f.admin_token,
            pb::UpdateTenantRequest {
                tenant: Some(pb::Tenant {
                    id: f.tenant.id.clone(),
                    settings: Some(pb::TenantSettings {
                        timezone: "America/New_York".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["settings.timezone".into()],
                }),
            },
        ))
        .await
        .expect("admin updates timezone")
        .into_inner();
    let s = updated.settings.expect("settings");
    assert_eq!(
        (s.timezone.as_str(), s.currency_code.as_str()),
        ("America/New_York", "EUR")
    );
}

#[tokio::test]
async fn migrations_are_recorded_in_the_service_schema() {
    let svc = tenants::testing::spawn().await;
    let mut conn = sqlx::PgConnection::connect(&testkit::database_url())
        .await
        .expect("db");
    let found: Option<String> = sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = '_sqlx_migrations' AND table_schema = $1",
    )
    .bind(&svc.schema.name)
    .fetch_optional(&mut conn)
    .await
    .expect("query");
    assert_eq!(found.as_deref(), Some(svc.schema.name.as_str()));
    // Migrating again is a no-op.
    tenants::migrate(&svc.settings)
        .await
        .expect("idempotent migrate");
}
