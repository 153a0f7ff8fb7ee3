//! The single-binary launcher's path: the gateway calls a service in the same process through its
//! routes, with no socket between them, and a frontend sees exactly what it sees over HTTP/2.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    Platform, client, expect_json, expect_problem, gateway_with_local, violation_fields,
};

/// Nothing listens here (the discard port, closed): a call that succeeds did not use the URL.
const DEAD_UPSTREAM: &str = "http://127.0.0.1:9";

async fn in_process_platform() -> Platform {
    let tenants = tenants::testing::spawn().await;
    let local = HashMap::from([("tenants".to_owned(), tenants.local.clone())]);
    let (base, admin, stop) = gateway_with_local(DEAD_UPSTREAM, local, &[]).await;
    Platform::from_parts(base, admin, client(), tenants, stop)
}

#[tokio::test]
async fn a_frontend_journey_runs_through_an_in_process_service() {
    let p = in_process_platform().await;
    let t = p.tenant("inproc").await;
    for name in ["ada", "bob", "cy"] {
        p.create_user(&t, name, "ROLE_SALES_REP").await;
    }

    // Two pages of two: the token and the page size travel as query parameters.
    let page = |token: String| {
        p.authed(Method::GET, "/v1/users", &t.token)
            .query(&[("pageSize", "2"), ("pageToken", token.as_str())])
            .send()
    };
    let first = expect_json(page(String::new()).await.expect("list"), StatusCode::OK).await;
    let token = first["nextPageToken"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = expect_json(page(token).await.expect("list"), StatusCode::OK).await;
    let mut ids: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|body| body["users"].as_array().expect("users"))
        .map(|user| user["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "admin and three users over two pages");

    let patched = p
        .call(
            Method::PATCH,
            &format!("/v1/users/{}?updateMask=displayName", t.admin_id),
            &t.token,
            Some(json!({"displayName": "Ann Renamed"})),
        )
        .await;
    assert_eq!(patched["displayName"], "Ann Renamed");
}

#[tokio::test]
async fn service_errors_from_an_in_process_call_keep_their_status_and_field_details() {
    let p = in_process_platform().await;
    let t = p.tenant("inproc-err").await;

    let missing = p
        .authed(
            Method::GET,
            "/v1/users/01890000-0000-7000-8000-000000000000",
            &t.token,
        )
        .send()
        .await
        .expect("sent");
    expect_problem(missing, StatusCode::NOT_FOUND).await;

    let invalid = p
        .authed(Method::POST, "/v1/users", &t.token)
        .json(&json!({"email": "not-an-email", "password": "short", "displayName": "", "role": "ROLE_SALES_REP"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(invalid, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["code"], "INVALID_ARGUMENT");
    let fields = violation_fields(&problem);
    assert!(fields.contains(&"email"), "{problem}");

    // The service itself refuses a call without credentials (the gateway forwards it).
    let anonymous = p
        .request(Method::GET, "/v1/users")
        .send()
        .await
        .expect("sent");
    expect_problem(anonymous, StatusCode::UNAUTHORIZED).await;
}
