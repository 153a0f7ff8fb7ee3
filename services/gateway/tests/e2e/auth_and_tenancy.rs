use auth::token::{Claims, Signer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{PASSWORD, expect_json, expect_problem, platform};

#[tokio::test]
async fn another_tenants_user_is_not_found() {
    let p = platform(&[]).await;
    let a = p.tenant("iso-a").await;
    let b = p.tenant("iso-b").await;
    let b_user = p.create_user(&b, "bob", "ROLE_SALES_REP").await;
    let b_id = b_user["id"].as_str().expect("id");

    let path = format!("/v1/users/{b_id}");
    let get = p
        .authed(Method::GET, &path, &a.token)
        .send()
        .await
        .expect("get");
    let problem = expect_problem(get, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["code"], "NOT_FOUND");

    let patch = p
        .authed(Method::PATCH, &path, &a.token)
        .query(&[("updateMask", "displayName")])
        .json(&json!({"displayName": "pwned"}))
        .send()
        .await
        .expect("patch");
    expect_problem(patch, StatusCode::NOT_FOUND).await;

    let delete = p
        .authed(Method::DELETE, &path, &a.token)
        .send()
        .await
        .expect("delete");
    expect_problem(delete, StatusCode::NOT_FOUND).await;

    // Nothing changed for tenant B.
    let still = p
        .authed(Method::GET, &path, &b.token)
        .send()
        .await
        .expect("get own");
    let still = expect_json(still, StatusCode::OK).await;
    assert_eq!(still["displayName"], "bob");
    assert_eq!(still["active"], true);

    // A's list never shows B's users.
    let list = p
        .authed(Method::GET, "/v1/users", &a.token)
        .send()
        .await
        .expect("list");
    let list = expect_json(list, StatusCode::OK).await;
    assert!(
        list["users"]
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["tenantId"] == a.tenant_id.as_str())
    );
}

fn claims(tenant: &str, user: &str, exp_offset: i64) -> Claims {
    let now = chrono_now();
    Claims {
        iss: auth::token::ISSUER.to_owned(),
        aud: auth::token::AUDIENCE.to_owned(),
        sub: Uuid::parse_str(user).expect("user uuid"),
        tid: Uuid::parse_str(tenant).expect("tenant uuid"),
        role: "ROLE_ADMIN".to_owned(),
        perms: vec![],
        iat: now - 3600,
        exp: now + exp_offset,
        jti: Uuid::now_v7(),
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
        .unwrap_or_default()
}

#[tokio::test]
async fn expired_forged_and_missing_tokens_are_unauthorized() {
    let p = platform(&[]).await;
    let t = p.tenant("tokens").await;
    let real_key = Signer::from_pem(&p.tenants.settings.auth.signing_key_pem).expect("key");

    let expired = real_key
        .sign(&claims(&t.tenant_id, &t.admin_id, -600))
        .expect("sign");
    let response = p
        .authed(Method::GET, "/v1/users", &expired)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["code"], "UNAUTHENTICATED");

    // A valid token's header and claims with another key's signature.
    let valid = real_key
        .sign(&claims(&t.tenant_id, &t.admin_id, 600))
        .expect("sign");
    let stranger = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
    let other = stranger
        .sign(&claims(&t.tenant_id, &t.admin_id, 600))
        .expect("sign");
    let (head, _) = valid.rsplit_once('.').expect("jwt");
    let (_, foreign_sig) = other.rsplit_once('.').expect("jwt");
    let forged = format!("{head}.{foreign_sig}");
    let response = p
        .authed(Method::GET, "/v1/users", &forged)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;

    // Signed by a key the tenants service never published.
    let response = p
        .authed(Method::GET, "/v1/users", &other)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;

    // No token: the service decides, and says 401.
    let response = p
        .request(Method::GET, "/v1/users")
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;

    // Another scheme is refused at the edge.
    let response = p
        .request(Method::GET, "/v1/users")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;

    // The valid token still works.
    let response = p
        .authed(Method::GET, "/v1/users", &valid)
        .send()
        .await
        .expect("sent");
    expect_json(response, StatusCode::OK).await;
}

#[tokio::test]
async fn permissions_and_suspension_are_enforced_through_the_gateway() {
    let p = platform(&[]).await;
    let t = p.tenant("perm").await;
    let rep = p.create_user(&t, "rep", "ROLE_SALES_REP").await;
    let rep_token = p
        .login(&t.slug, rep["email"].as_str().expect("email"), PASSWORD)
        .await;
    let response = p
        .authed(Method::POST, "/v1/users", &rep_token)
        .json(&json!({"email": "x@y.test", "password": PASSWORD, "displayName": "X", "role": "ROLE_ADMIN"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(problem["code"], "PERMISSION_DENIED");

    // Provisioning is for the operator only.
    let response = p
        .authed(Method::POST, "/v1/tenants:provision", &t.token)
        .json(&json!({"tenant": {"slug": "nope-x", "displayName": "N"}, "admin": {"email": "a@n.test", "password": PASSWORD, "displayName": "A"}}))
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::FORBIDDEN).await;

    let suspended = p
        .authed(
            Method::POST,
            &format!("/v1/tenants/{}:suspend", t.tenant_id),
            &p.tenants.operator_token,
        )
        .json(&json!({"reason": "unpaid"}))
        .send()
        .await
        .expect("suspend");
    let suspended = expect_json(suspended, StatusCode::OK).await;
    assert_eq!(suspended["status"], "TENANT_STATUS_SUSPENDED");

    // The token still verifies at the edge, but the service refuses a suspended tenant.
    let response = p
        .authed(Method::GET, "/v1/users:me", &t.token)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused_at_once_by_every_service() {
    let platform = crate::crm_journeys::crm_platform().await;
    let p = &platform.platform;
    let t = p.tenant("deactivated").await;
    let rep = p.create_user(&t, "rep", "ROLE_SALES_REP").await;
    let rep_id = rep["id"].as_str().expect("rep id");
    let rep_token = p
        .login(&t.slug, rep["email"].as_str().expect("email"), PASSWORD)
        .await;
    let leads = |token: &str| p.authed(Method::GET, "/v1/leads", token).send();
    expect_json(leads(&rep_token).await.expect("sent"), StatusCode::OK).await;

    let deactivated = p
        .authed(Method::DELETE, &format!("/v1/users/{rep_id}"), &t.token)
        .send()
        .await
        .expect("deactivate sent");
    expect_json(deactivated, StatusCode::OK).await;

    // The token verifies at the edge for minutes more; the tenants service refuses it now, and
    // the CRM as soon as the deactivation event reached it.
    let me = p
        .authed(Method::GET, "/v1/users:me", &rep_token)
        .send()
        .await
        .expect("sent");
    expect_problem(me, StatusCode::UNAUTHORIZED).await;
    testkit::poll_until(std::time::Duration::from_secs(30), || async {
        let response = leads(&rep_token).await.ok()?;
        (response.status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await
    .expect("the crm refuses the deactivated rep");
    expect_json(leads(&t.token).await.expect("sent"), StatusCode::OK).await;
}
