//! The access log: one line per request, answered early or not, with the route template and
//! never a token; and client errors (wrong password, unknown route, bad token) log no ERROR or
//! WARN anywhere (gateway or tenants service).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::logs::CapturedLogs;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::helpers::{PASSWORD, platform};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SECRET: &str = "s3cr3t-query-token";

/// The access lines (JSON) among the captured ones, by request id.
fn access_lines(logs: &CapturedLogs, request_id: &str) -> Vec<Value> {
    logs.lines()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "salescompass::access")
        .filter(|l| l["fields"]["request_id"] == request_id)
        .collect()
}

fn one_line(logs: &CapturedLogs, request_id: &str) -> Value {
    let lines = access_lines(logs, request_id);
    assert_eq!(
        lines.len(),
        1,
        "one access line for {request_id}: {lines:?}"
    );
    lines[0]["fields"].clone()
}

#[tokio::test]
async fn every_request_gets_one_access_line_and_client_errors_no_error_lines() {
    let p = platform(&[
        ("SALESCOMPASS__GATEWAY__MAX_BODY_BYTES", "1024"),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__LOGIN__CLIENT_PER_SECOND",
            "0.05",
        ),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__LOGIN__CLIENT_BURST",
            "3",
        ),
    ])
    .await;
    let tenant = p.tenant("access").await;

    // Everything the gateway and the tenants service log from here on (both run on this
    // test's single-threaded runtime), as the JSON format writes it.
    let logs = CapturedLogs::new();
    let subscriber = tracing_subscriber::registry()
        .with(runtime::logs::fmt_layer(
            runtime::config::LogFormat::Json,
            false,
            logs.clone(),
        ))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    let _guard = tracing::subscriber::set_default(subscriber);

    // Authenticated, with the caller's trace.
    let r = p
        .authed(
            Method::GET,
            &format!("/v1/users/{}", tenant.admin_id),
            &tenant.token,
        )
        .header("x-request-id", "acc-ok")
        .header(
            "traceparent",
            format!("00-{CALLER_TRACE}-00f067aa0ba902b7-01"),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let line = one_line(&logs, "acc-ok");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "/v1/users/{id}", "the template, not the id");
    assert_eq!(line["status"], 200);
    assert_eq!(line["tenant_id"], tenant.tenant_id.as_str());
    assert_eq!(line["trace_id"], CALLER_TRACE);
    assert!(
        line["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{line}"
    );

    // A token in the query string (refused: no such parameter) stays out of the line.
    let r = p
        .authed(
            Method::GET,
            &format!("/v1/users/{}?access_token={SECRET}", tenant.admin_id),
            &tenant.token,
        )
        .header("x-request-id", "acc-query")
        .send()
        .await
        .expect("sent");
    let line = one_line(&logs, "acc-query");
    assert_eq!(line["status"], r.status().as_u16());
    assert_eq!(line["route"], "/v1/users/{id}");

    // 404: no route.
    let r = p
        .request(Method::GET, "/v1/no-such-thing/42")
        .header("x-request-id", "acc-404")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let line = one_line(&logs, "acc-404");
    assert_eq!(line["route"], "unmatched");
    assert_eq!(line["status"], 404);
    assert!(line.get("tenant_id").is_none(), "{line}");
    assert_eq!(line["trace_id"].as_str().map(str::len), Some(32));

    // 401: a bearer that is no valid JWT.
    let forged = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let r = p
        .authed(Method::GET, "/v1/users:me", forged)
        .header("x-request-id", "acc-401")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(one_line(&logs, "acc-401")["status"], 401);

    // 413: body over the limit.
    let r = p
        .authed(Method::POST, "/v1/users", &tenant.token)
        .header("x-request-id", "acc-413")
        .json(&json!({"email": "a@b.test", "displayName": "x".repeat(4096)}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let line = one_line(&logs, "acc-413");
    assert_eq!(line["status"], 413);
    assert_eq!(line["route"], "/v1/users");

    // 401 from the service: a wrong password; then 429 once the login burst is spent (the
    // tenant's own login took one token).
    let wrong = "wrong horse 24";
    for (id, status) in [
        ("acc-login-1", StatusCode::UNAUTHORIZED),
        ("acc-login-2", StatusCode::UNAUTHORIZED),
        ("acc-login-3", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let r = p
            .request(Method::POST, "/v1/auth:login")
            .header("x-request-id", id)
            .json(&json!({"tenantSlug": tenant.slug, "email": format!("admin@{}.test", tenant.slug), "password": wrong}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), status, "{id}");
        let line = one_line(&logs, id);
        assert_eq!(line["status"], status.as_u16());
        assert_eq!(line["route"], "/v1/auth:login");
    }

    let text = logs.text();
    for secret in [SECRET, tenant.token.as_str(), forged, wrong, PASSWORD] {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
    let loud: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#) || l.contains(r#""level":"WARN""#))
        .collect();
    assert!(loud.is_empty(), "client errors are not ours: {loud:#?}");
}
