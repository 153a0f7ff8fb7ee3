use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Platform, Tenant, expect_json, expect_problem, platform};

async fn create_with_key(p: &Platform, t: &Tenant, key: &str, email: &str) -> reqwest::Response {
    p.authed(Method::POST, "/v1/users", &t.token)
        .header("idempotency-key", key)
        .json(&json!({"email": email, "password": PASSWORD, "displayName": "Idem", "role": "ROLE_SUPPORT"}))
        .send()
        .await
        .expect("sent")
}

async fn count_users(p: &Platform, t: &Tenant) -> usize {
    let r = p
        .authed(Method::GET, "/v1/users", &t.token)
        .send()
        .await
        .expect("list");
    expect_json(r, StatusCode::OK).await["users"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn retried_creates_return_the_first_result(p: &Platform) {
    let t = p.tenant("idem").await;
    let key = uuid::Uuid::now_v7().to_string();
    let email = format!("idem@{}.test", t.slug);

    let first = create_with_key(p, &t, &key, &email).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = expect_json(first, StatusCode::OK).await;

    let retry = create_with_key(p, &t, &key, &email).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = expect_json(retry, StatusCode::OK).await;
    assert_eq!(retry, first, "the stored response, not a second user");
    assert_eq!(count_users(p, &t).await, 2, "admin and one created user");

    // The same key for another request is refused.
    let other = create_with_key(p, &t, &key, &format!("other@{}.test", t.slug)).await;
    expect_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Keys are per tenant: another tenant may use the same key for its own create.
    let u = p.tenant("idem-u").await;
    let theirs = create_with_key(p, &u, &key, &format!("idem@{}.test", u.slug)).await;
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    expect_json(theirs, StatusCode::OK).await;

    // Concurrent duplicates: one runs, the other waits its turn (409) or replays.
    let key = uuid::Uuid::now_v7().to_string();
    let email = format!("race@{}.test", t.slug);
    let (a, b) = tokio::join!(
        create_with_key(p, &t, &key, &email),
        create_with_key(p, &t, &key, &email)
    );
    let statuses = [a.status(), b.status()];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(count_users(p, &t).await, 3, "the race created one user");

    // A refused request is final as well: its key replays the same 400.
    let key = uuid::Uuid::now_v7().to_string();
    let bad = create_with_key(p, &t, &key, "not-an-email").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let again = create_with_key(p, &t, &key, "not-an-email").await;
    assert_eq!(
        again.headers()["idempotent-replayed"],
        "true",
        "a 400 is final"
    );
}

#[tokio::test]
async fn idempotency_keys_in_memory() {
    let p = platform(&[]).await;
    retried_creates_return_the_first_result(&p).await;
}

#[tokio::test]
async fn idempotency_keys_in_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let p = platform(&[("SALESCOMPASS__GATEWAY__REDIS_URL", url.as_str())]).await;
    retried_creates_return_the_first_result(&p).await;
}

/// Keys are scoped to the credential, as Stripe scopes them to the account and API key: a rep
/// replaying a colleague's key and body gets a create of their own, never the colleague's record.
#[tokio::test]
async fn a_key_reused_by_another_user_of_the_tenant_is_their_own_request() {
    let crm = crate::crm_journeys::crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("idem-scope").await;
    let mut tokens = Vec::new();
    for name in ["ann", "bob"] {
        let rep = p.create_user(&tenant, name, "ROLE_SALES_REP").await;
        let email = rep["email"].as_str().expect("email");
        tokens.push(p.login(&tenant.slug, email, PASSWORD).await);
    }
    let key = uuid::Uuid::now_v7().to_string();
    // `force`: the same lead twice is otherwise refused as a likely duplicate (409).
    let body = json!({"firstName": "Lea", "lastName": "Lind", "company": "Globex", "force": true});
    let create = |token: &str| {
        p.authed(Method::POST, "/v1/leads", token)
            .header("idempotency-key", &key)
            .json(&body)
            .send()
    };

    let ann = create(&tokens[0]).await.expect("sent");
    assert!(ann.headers().get("idempotent-replayed").is_none());
    let ann_lead = expect_json(ann, StatusCode::OK).await;

    let bob = create(&tokens[1]).await.expect("sent");
    assert!(
        bob.headers().get("idempotent-replayed").is_none(),
        "another user's key is not replayed to them"
    );
    let bob_lead = expect_json(bob, StatusCode::OK).await;
    assert_ne!(bob_lead["id"], ann_lead["id"], "bob created his own lead");
    assert_ne!(bob_lead["ownerId"], ann_lead["ownerId"], "{bob_lead}");

    // Each user's retry still replays their own response.
    let again = create(&tokens[0]).await.expect("sent");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(again, StatusCode::OK).await, ann_lead);
}
