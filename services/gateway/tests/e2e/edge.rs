use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use crate::helpers::{client, expect_json, expect_problem, gateway_for, platform};

#[tokio::test]
async fn responses_carry_security_headers_and_request_ids() {
    let p = platform(&[(
        "SALESCOMPASS__GATEWAY__CORS__ALLOWED_ORIGINS",
        "https://app.salescompass.test",
    )])
    .await;
    let r = p
        .request(Method::GET, "/v1/auth/jwks")
        .send()
        .await
        .expect("sent");
    let h = r.headers().clone();
    expect_json(r, StatusCode::OK).await;
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["content-security-policy"]
            .to_str()
            .is_ok_and(|v| v.contains("frame-ancestors 'none'"))
    );
    assert!(h.get("server").is_none(), "no server banner");
    assert!(
        h.get("strict-transport-security").is_none(),
        "HSTS only behind TLS"
    );
    assert!(h.get("x-request-id").is_some());
    assert!(h.get("ratelimit-remaining").is_some());

    // CORS preflight from the configured origin, and none for others.
    let pre = p
        .request(Method::OPTIONS, "/v1/users")
        .header("origin", "https://app.salescompass.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .expect("preflight");
    assert!(pre.status().is_success(), "{}", pre.status());
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://app.salescompass.test"
    );
    let foreign = p
        .request(Method::GET, "/v1/auth/jwks")
        .header("origin", "https://evil.test")
        .send()
        .await
        .expect("sent");
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn docs_page_is_served_from_vendored_assets_with_its_own_policy() {
    let p = platform(&[]).await;
    let r = p.request(Method::GET, "/docs/").send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(r.text().await.expect("html").contains("swagger-ui"));
    let init = p
        .request(Method::GET, "/docs/swagger-initializer.js")
        .send()
        .await
        .expect("sent");
    assert!(init.text().await.expect("js").contains("/openapi.json"));
    let missing = p
        .request(Method::GET, "/docs/nope.js")
        .send()
        .await
        .expect("sent");
    expect_problem(missing, StatusCode::NOT_FOUND).await;
    let wrong = p
        .request(Method::POST, "/openapi.json")
        .send()
        .await
        .expect("sent");
    expect_problem(wrong, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn health_readiness_and_metrics_are_on_the_admin_port() {
    let p = platform(&[]).await;
    let http = client();
    let r = p
        .request(Method::GET, "/v1/auth/jwks")
        .send()
        .await
        .expect("sent");
    expect_json(r, StatusCode::OK).await;
    for path in ["/healthz", "/readyz"] {
        let r = http
            .get(format!("{}{path}", p.admin))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let metrics = http
        .get(format!("{}/metrics", p.admin))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            r#"gateway_http_requests_total{component="gateway",method="GET",route="/v1/auth/jwks",status="200"}"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_unreachable_service_is_503_with_retry_after_not_a_hang() {
    // A port nothing listens on: bind, learn it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let (base, _admin, stop) = gateway_for(&format!("http://127.0.0.1:{port}"), &[]).await;
    let started = Instant::now();
    let r = client()
        .get(format!("{base}/v1/auth/jwks"))
        .send()
        .await
        .expect("sent");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered quickly"
    );
    assert!(r.headers().get("retry-after").is_some());
    let problem = expect_problem(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["code"], "UNAVAILABLE");
    stop.cancel();
}
