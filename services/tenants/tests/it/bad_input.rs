use proto::tenants as pb;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn provisioning_names_every_invalid_field() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let request = pb::ProvisionTenantRequest {
        tenant: Some(pb::Tenant {
            slug: "Bad Slug!".into(),
            display_name: "".into(),
            plan: "Gold Plan".into(),
            settings: Some(pb::TenantSettings {
                timezone: "Mars/Base".into(),
                currency_code: "XXY".into(),
                fiscal_year_start_month: 13,
                locale: "english".into(),
            }),
            ..Default::default()
        }),
        admin: Some(pb::AdminSpec {
            email: "not-an-email".into(),
            password: "short".into(),
            display_name: "".into(),
        }),
    };
    let status = c
        .tenants
        .provision_tenant(authed(&svc.operator_token, request))
        .await
        .expect_err("invalid");
    assert_invalid(
        &status,
        &[
            "tenant.slug",
            "tenant.display_name",
            "tenant.plan",
            "tenant.settings.timezone",
            "tenant.settings.currency_code",
            "tenant.settings.fiscal_year_start_month",
            "tenant.settings.locale",
            "admin.email",
            "admin.password",
            "admin.display_name",
        ],
    );
    let empty = c
        .tenants
        .provision_tenant(authed(
            &svc.operator_token,
            pb::ProvisionTenantRequest::default(),
        ))
        .await
        .expect_err("empty");
    assert_eq!(empty.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn user_calls_reject_bad_input_with_field_violations() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "badin").await;
    let t = &f.admin_token;

    let status = c
        .users
        .create_user(authed(
            t,
            pb::CreateUserRequest {
                email: "a@b".into(),
                password: "passwordpassword".into(),
                display_name: "A".into(),
                role: 0,
                ..Default::default()
            },
        ))
        .await
        .expect_err("invalid");
    assert_invalid(&status, &["email", "password", "role"]);
    let status = c
        .users
        .create_user(authed(
            t,
            pb::CreateUserRequest {
                email: "ok@badin.test".into(),
                password: PASSWORD.into(),
                display_name: "A".into(),
                role: 99,
                ..Default::default()
            },
        ))
        .await
        .expect_err("unknown role");
    assert_invalid(&status, &["role"]);

    for (page_size, filter, order_by, fields) in [
        (-1, "", "", vec!["page_size"]),
        (1001, "", "", vec!["page_size"]),
        (10, "role = ROLE_EMPEROR", "", vec!["filter"]),
        (10, "role = ", "", vec!["filter"]),
        (10, "display_name = \"\u{0}\"", "", vec!["filter"]),
        (10, "(role = ROLE_ADMIN OR", "", vec!["filter"]),
        (10, "", "salary desc", vec!["order_by"]),
    ] {
        let status = c
            .users
            .list_users(authed(
                t,
                pb::ListUsersRequest {
                    page_size,
                    page_token: String::new(),
                    filter: filter.into(),
                    order_by: order_by.into(),
                },
            ))
            .await
            .expect_err("invalid list");
        assert_invalid(&status, &fields);
    }
    let status = c
        .users
        .list_users(authed(
            t,
            pb::ListUsersRequest {
                page_token: "forged-token".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("bad token");
    assert_invalid(&status, &["page_token"]);

    let status = c
        .users
        .get_user(authed(
            t,
            pb::GetUserRequest {
                id: "not-a-uuid".into(),
            },
        ))
        .await
        .expect_err("bad id");
    assert_invalid(&status, &["id"]);
    let status = c
        .users
        .get_user(authed(
            t,
            pb::GetUserRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
        ))
        .await
        .expect_err("unknown id");
    assert_eq!(status.code(), Code::NotFound);

    let status = c
        .users
        .update_user(authed(
            t,
            pb::UpdateUserRequest {
                user: Some(pb::User {
                    id: f.admin.id.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["password_hash".into()],
                }),
            },
        ))
        .await
        .expect_err("bad mask");
    assert_invalid(&status, &["update_mask"]);

    let status = c
        .roles
        .create_role(authed(
            t,
            pb::CreateRoleRequest {
                role: Some(pb::CustomRole {
                    name: "X".into(),
                    permissions: vec!["users.read".into(), "nuke.all".into()],
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect_err("unknown permission");
    assert_invalid(&status, &["role.permissions[1]"]);

    let status = c
        .auth
        .login(pb::LoginRequest {
            tenant_slug: "".into(),
            email: "".into(),
            password: "".into(),
        })
        .await
        .expect_err("empty login");
    assert_invalid(&status, &["tenant_slug", "email", "password"]);
    let status = c
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: "nonsense".into(),
        })
        .await
        .expect_err("bad refresh");
    assert_eq!(status.code(), Code::Unauthenticated);
}
