use proto::tenants as pb;
use sqlx::{Connection, Row};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn every_cross_tenant_user_access_is_not_found() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let a = provision(&svc, &mut c, "iso-a").await;
    let b = provision(&svc, &mut c, "iso-b").await;
    let b_user = create_user(
        &mut c,
        &b.admin_token,
        &format!("rep@{}.test", b.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;

    let get = c
        .users
        .get_user(authed(
            &a.admin_token,
            pb::GetUserRequest {
                id: b_user.id.clone(),
            },
        ))
        .await
        .expect_err("get");
    assert_eq!(get.code(), Code::NotFound);
    let update = c
        .users
        .update_user(authed(
            &a.admin_token,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: b_user.id.clone(),
                    display_name: "Hijacked".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
            },
        ))
        .await
        .expect_err("update");
    assert_eq!(update.code(), Code::NotFound);
    let deactivate = c
        .users
        .deactivate_user(authed(
            &a.admin_token,
            pb::DeactivateUserRequest {
                id: b_user.id.clone(),
            },
        ))
        .await
        .expect_err("deactivate");
    assert_eq!(deactivate.code(), Code::NotFound);
    let tenant = c
        .tenants
        .get_tenant(authed(
            &a.admin_token,
            pb::GetTenantRequest {
                id: b.tenant.id.clone(),
            },
        ))
        .await
        .expect_err("tenant");
    assert_eq!(tenant.code(), Code::NotFound);
    // A's manager may not be B's user either.
    let status = c
        .users
        .create_user(authed(
            &a.admin_token,
            pb::CreateUserRequest {
                email: format!("x@{}.test", a.slug),
                password: PASSWORD.into(),
                display_name: "X".into(),
                role: pb::Role::SalesRep as i32,
                manager_id: b_user.id.clone(),
                custom_role_ids: vec![],
            },
        ))
        .await
        .expect_err("foreign manager");
    assert_invalid(&status, &["manager_id"]);

    let listed = c
        .users
        .list_users(authed(&a.admin_token, pb::ListUsersRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert!(listed.users.iter().all(|u| u.tenant_id == a.tenant.id));
    assert_eq!(listed.users.len(), 1);

    let still = c
        .users
        .get_user(authed(
            &b.admin_token,
            pb::GetUserRequest {
                id: b_user.id.clone(),
            },
        ))
        .await
        .expect("b reads its user")
        .into_inner();
    assert_eq!(still.display_name, b_user.display_name);
    assert!(still.active);
}

#[tokio::test]
async fn row_level_security_blocks_a_query_without_tenant_filter() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let a = provision(&svc, &mut c, "rls-a").await;
    let b = provision(&svc, &mut c, "rls-b").await;
    create_user(
        &mut c,
        &b.admin_token,
        &format!("rep@{}.test", b.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;

    // Connect exactly as the service does: its schema, its non-owner role.
    let pool = db::connect(&svc.settings.database)
        .await
        .expect("service pool");
    let mut tx = db::begin_for_tenant(&pool, a.tenant.id.parse().expect("uuid"))
        .await
        .expect("tx");
    // Deliberately no WHERE tenant_id = ...
    let rows = sqlx::query("SELECT tenant_id::text AS t FROM users")
        .fetch_all(&mut *tx)
        .await
        .expect("query");
    let seen: Vec<String> = rows.iter().map(|r| r.get("t")).collect();
    assert_eq!(
        seen,
        vec![a.tenant.id.clone()],
        "only tenant A's rows are visible"
    );
    // Writing a row for another tenant is refused by the policy's WITH CHECK.
    let write = sqlx::query("UPDATE users SET display_name = 'x' WHERE tenant_id = $1::uuid")
        .bind(&b.tenant.id)
        .execute(&mut *tx)
        .await
        .expect("update runs");
    assert_eq!(write.rows_affected(), 0);
    tx.rollback().await.expect("rollback");

    // Without a tenant set, nothing is visible at all.
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(none, 0);

    // The superuser (owner side) sees both, proving the rows exist.
    let mut owner = sqlx::PgConnection::connect(&testkit::database_url())
        .await
        .expect("db");
    let all: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        r#"SELECT count(*) FROM "{}".users"#,
        svc.schema.name
    )))
    .fetch_one(&mut owner)
    .await
    .expect("count");
    assert_eq!(all, 3);
}
