use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::crm_journeys::crm_platform;
use crate::helpers::{PASSWORD, expect_problem, platform, violation_fields};

#[tokio::test]
async fn every_bad_input_gets_a_problem_that_names_it() {
    let p = platform(&[("SALESCOMPASS__GATEWAY__MAX_BODY_BYTES", "4096")]).await;
    let t = p.tenant("bad").await;
    let tok = t.token.as_str();

    // Unknown path and wrong method.
    let r = p
        .authed(Method::GET, "/v1/unicorns", tok)
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::NOT_FOUND).await;
    let r = p
        .authed(Method::GET, "/v1/users/a/b", tok)
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::NOT_FOUND).await;
    let r = p
        .authed(Method::PUT, "/v1/users/some-id", tok)
        .send()
        .await
        .expect("sent");
    let allow = r
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    expect_problem(r, StatusCode::METHOD_NOT_ALLOWED).await;
    for method in ["GET", "PATCH", "DELETE"] {
        assert!(allow.contains(method), "Allow: {allow}");
    }

    // Malformed JSON: the problem says where.
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .header("content-type", "application/json")
        .body(r#"{"email": "a@b.test", "#)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("invalid JSON body") && detail.contains("column"),
        "{detail}"
    );

    // Unknown field: named.
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .json(&json!({"email": "a@b.test", "favouriteColour": "teal"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("favouriteColour"),
        "{problem}"
    );

    // Wrong type and unknown enum value.
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .json(&json!({"email": 42}))
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::BAD_REQUEST).await;
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .json(&json!({"email": "a@b.test", "role": "ROLE_EMPEROR"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ROLE_EMPEROR"),
        "{problem}"
    );

    // Body over the configured limit.
    let big = json!({"email": "a@b.test", "displayName": "x".repeat(10_000)});
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .json(&big)
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Wrong content type.
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .header("content-type", "text/plain")
        .body("email=a@b.test")
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("text/plain")
    );
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .body(r#"{"email":"a@b.test"}"#)
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Bad query parameters: unknown, wrong type.
    let r = p
        .authed(Method::GET, "/v1/users", tok)
        .query(&[("colour", "red")])
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "colour");
    let r = p
        .authed(Method::GET, "/v1/users", tok)
        .query(&[("pageSize", "lots")])
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"][0]["field"], "pageSize");

    // Service-side validation: field violations in JSON names.
    let r = p
        .authed(Method::POST, "/v1/users", tok)
        .json(&json!({"email": "not-an-email", "password": "short", "displayName": "", "role": "ROLE_SALES_REP"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["code"], "INVALID_ARGUMENT");
    let fields = violation_fields(&problem);
    assert!(fields.contains(&"email"), "{problem}");
    assert!(fields.contains(&"password"), "{problem}");

    let r = p
        .authed(Method::GET, "/v1/users", tok)
        .query(&[("pageSize", "100000")])
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["errors"][0]["field"]
            .as_str()
            .is_some_and(|f| f == "pageSize"),
        "{problem}"
    );

    let r = p
        .authed(Method::PATCH, "/v1/users/whatever", tok)
        .query(&[("updateMask", "notAField")])
        .json(&json!({"displayName": "x"}))
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::BAD_REQUEST).await;

    // A duplicate slug is a conflict.
    let r = p
        .authed(Method::POST, "/v1/tenants:provision", &p.tenants.operator_token)
        .json(&json!({"tenant": {"slug": t.slug, "displayName": "Again"}, "admin": {"email": "a@again.test", "password": PASSWORD, "displayName": "A"}}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(r, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "ALREADY_EXISTS");
}

/// PostgreSQL refuses NUL in text: a filter value with one (or any control character) is bad
/// input named `filter`, as in bodies, searches and ids, never a 500.
#[tokio::test]
async fn control_characters_in_a_list_filter_are_bad_input() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let t = p.tenant("nulfilter").await;
    for (path, filter) in [
        ("/v1/leads", "last_name = \"\u{0}\""),
        ("/v1/leads", "last_name = 'a\u{7}b' OR company : x"),
        ("/v1/accounts", "name = \"\u{0}\""),
        ("/v1/users", "display_name = \"\u{0}\""),
    ] {
        let r = p
            .authed(Method::GET, path, &t.token)
            .query(&[("filter", filter)])
            .send()
            .await
            .expect("sent");
        let problem = expect_problem(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["code"], "INVALID_ARGUMENT", "{path}: {problem}");
        assert_eq!(violation_fields(&problem), ["filter"], "{path}: {problem}");
        assert!(
            problem["errors"][0]["description"]
                .as_str()
                .is_some_and(|d| d.ends_with("must not contain control characters")),
            "{path}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_trace_id_from_the_client_is_the_one_in_the_problem() {
    let p = platform(&[]).await;
    let r = p
        .request(Method::GET, "/v1/nowhere")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("x-request-id", "frontend-req-7")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.headers()["x-request-id"], "frontend-req-7");
    let problem = expect_problem(r, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["traceId"], "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(problem["requestId"], "frontend-req-7");
    assert_eq!(problem["instance"], "/v1/nowhere");
}
