use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, expect_json, platform};

#[tokio::test]
async fn a_frontend_provisions_logs_in_and_manages_users() {
    let p = platform(&[]).await;
    let t = p.tenant("flow").await;

    // Login answers the proto3 JSON shape: int64 as a string.
    let login = p
        .request(Method::POST, "/v1/auth:login")
        .json(&json!({"tenantSlug": t.slug, "email": format!("admin@{}.test", t.slug), "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let login = expect_json(login, StatusCode::OK).await;
    assert!(login["expiresIn"].is_string(), "{login}");
    assert_eq!(login["tokenType"], "Bearer");

    let refreshed = p
        .request(Method::POST, "/v1/auth:refresh")
        .json(&json!({"refreshToken": login["refreshToken"]}))
        .send()
        .await
        .expect("refresh");
    let refreshed = expect_json(refreshed, StatusCode::OK).await;
    assert_ne!(refreshed["refreshToken"], login["refreshToken"]);

    let mut reps = Vec::new();
    for i in 0..3 {
        reps.push(
            p.create_user(&t, &format!("rep{i}"), "ROLE_SALES_REP")
                .await,
        );
    }
    let manager = p.create_user(&t, "manager", "ROLE_MANAGER").await;
    assert_eq!(manager["role"], "ROLE_MANAGER");
    assert_eq!(manager["active"], true);
    assert!(
        manager["createTime"]
            .as_str()
            .is_some_and(|ts| ts.ends_with('Z') && ts.contains('T')),
        "RFC 3339 timestamp: {manager}"
    );

    // Paging: lowerCamelCase and snake_case query names both work.
    let mut seen = Vec::new();
    let mut token = String::new();
    for page in 0.. {
        assert!(page < 10, "paging does not end");
        let name = if page % 2 == 0 {
            "pageSize"
        } else {
            "page_size"
        };
        let response = p
            .authed(Method::GET, "/v1/users", &t.token)
            .query(&[(name, "2"), ("pageToken", token.as_str())])
            .send()
            .await
            .expect("list");
        let body = expect_json(response, StatusCode::OK).await;
        let users = body["users"].as_array().expect("users");
        assert!(users.len() <= 2);
        seen.extend(
            users
                .iter()
                .map(|u| u["id"].as_str().unwrap_or_default().to_owned()),
        );
        token = body["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if token.is_empty() {
            break;
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 5, "admin, three reps and a manager: {seen:?}");
    assert_eq!(unique.len(), 5, "no user twice across pages");

    // AIP-160 filter and order_by through query parameters.
    let response = p
        .authed(Method::GET, "/v1/users", &t.token)
        .query(&[
            ("filter", "role = ROLE_SALES_REP AND active = true"),
            ("orderBy", "display_name desc"),
        ])
        .send()
        .await
        .expect("filtered list");
    let body = expect_json(response, StatusCode::OK).await;
    let names: Vec<&str> = body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["displayName"].as_str())
        .collect();
    assert_eq!(names, ["rep2", "rep1", "rep0"]);

    // Get, then patch two fields under an update mask; the rest stays.
    let rep = &reps[0];
    let id = rep["id"].as_str().expect("id");
    let got = p
        .authed(Method::GET, &format!("/v1/users/{id}"), &t.token)
        .send()
        .await
        .expect("get");
    assert_eq!(
        expect_json(got, StatusCode::OK).await["email"],
        rep["email"]
    );

    let patched = p
        .authed(Method::PATCH, &format!("/v1/users/{id}"), &t.token)
        .query(&[("updateMask", "displayName,managerId")])
        .json(&json!({
            "displayName": "Rep Zero",
            "managerId": manager["id"],
            "email": "ignored-not-in-mask@x.test"
        }))
        .send()
        .await
        .expect("patch");
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["displayName"], "Rep Zero");
    assert_eq!(patched["managerId"], manager["id"]);
    assert_eq!(
        patched["email"], rep["email"],
        "fields outside the mask stay"
    );

    // A path id that differs from a body id: the path wins.
    let patched = p
        .authed(Method::PATCH, &format!("/v1/users/{id}"), &t.token)
        .query(&[("update_mask", "display_name")])
        .json(&json!({"id": manager["id"], "displayName": "Still Rep"}))
        .send()
        .await
        .expect("patch");
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["id"], rep["id"]);

    let me = p
        .authed(Method::GET, "/v1/users:me", &t.token)
        .send()
        .await
        .expect("me");
    let me: Value = expect_json(me, StatusCode::OK).await;
    assert_eq!(me["id"], t.admin_id.as_str());
    assert_eq!(me["tenantId"], t.tenant_id.as_str());

    let deactivated = p
        .authed(Method::DELETE, &format!("/v1/users/{id}"), &t.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        expect_json(deactivated, StatusCode::OK).await["active"],
        false
    );

    // Methods with an Empty response answer `{}`.
    let changed = p
        .authed(Method::POST, "/v1/users:changePassword", &t.token)
        .json(&json!({"oldPassword": PASSWORD, "newPassword": "another horse 43"}))
        .send()
        .await
        .expect("change password");
    assert_eq!(expect_json(changed, StatusCode::OK).await, json!({}));
}

#[tokio::test]
async fn sub_field_bodies_and_nested_path_variables_reach_the_service() {
    let p = platform(&[]).await;
    let t = p.tenant("roles").await;
    let created = p
        .authed(Method::POST, "/v1/roles", &t.token)
        .json(&json!({"name": "auditors", "permissions": ["users.read"]}))
        .send()
        .await
        .expect("create role");
    let created = expect_json(created, StatusCode::OK).await;
    let id = created["id"].as_str().expect("role id");

    let updated = p
        .authed(Method::PATCH, &format!("/v1/roles/{id}"), &t.token)
        .query(&[("updateMask", "description")])
        .json(&json!({"description": "read-only staff"}))
        .send()
        .await
        .expect("update role");
    let updated = expect_json(updated, StatusCode::OK).await;
    assert_eq!(updated["description"], "read-only staff");
    assert_eq!(updated["name"], "auditors");

    let permissions = p
        .authed(Method::GET, "/v1/permissions", &t.token)
        .send()
        .await
        .expect("permissions");
    let permissions = expect_json(permissions, StatusCode::OK).await;
    assert!(
        permissions["permissions"]
            .as_array()
            .is_some_and(|list| !list.is_empty())
    );

    let jwks = p
        .request(Method::GET, "/v1/auth/jwks")
        .send()
        .await
        .expect("jwks");
    let jwks = expect_json(jwks, StatusCode::OK).await;
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
}
