use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use crate::helpers::{expect_json, expect_problem, gateway_for, platform};

fn header(response: &Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_tenant_over_its_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let p = platform(&[
        // Slow refill so the bucket cannot recover during the test.
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_PER_SECOND",
            "0.05",
        ),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST",
            "4",
        ),
    ])
    .await;
    let t = p.tenant("rl").await;
    // Provisioning used the operator token (no tenant bucket); login is another class.
    let mut remaining = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let r = p
            .authed(Method::GET, "/v1/users:me", &t.token)
            .send()
            .await
            .expect("sent");
        assert_eq!(
            header(&r, "ratelimit-limit"),
            Some(4),
            "headers on every response"
        );
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        remaining.push(header(&r, "ratelimit-remaining").expect("remaining"));
        expect_json(r, StatusCode::OK).await;
    }
    assert_eq!(remaining, [3, 2, 1, 0], "the burst, then 429");
    let limited = limited.expect("a 429 within the loop");
    let retry_after = header(&limited, "retry-after").expect("Retry-After");
    assert!((1..=20).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header(&limited, "ratelimit-remaining"), Some(0));
    assert!(header(&limited, "ratelimit-reset").is_some());
    let problem = expect_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["code"], "RESOURCE_EXHAUSTED");

    // Another tenant is not affected.
    let other = p.tenant("rl-other").await;
    let r = p
        .authed(Method::GET, "/v1/users:me", &other.token)
        .send()
        .await
        .expect("sent");
    expect_json(r, StatusCode::OK).await;
}

#[tokio::test]
async fn login_has_a_stricter_limit_per_client_address() {
    let p = platform(&[
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
    let limited_logins = || async {
        let metrics = p
            .http
            .get(format!("{}/metrics", p.admin))
            .send()
            .await
            .expect("scraped")
            .text()
            .await
            .expect("text");
        let series = r#"route="/v1/auth:login",status="429"} "#;
        metrics
            .lines()
            .filter(|line| {
                line.starts_with("gateway_http_requests_total{") && line.contains(series)
            })
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<u64>().ok())
            .sum::<u64>()
    };
    let limited_before = limited_logins().await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = p
            .request(Method::POST, "/v1/auth:login")
            .json(&json!({"tenantSlug": "nobody-here", "email": "x@y.test", "password": "wrong password 1"}))
            .send()
            .await
            .expect("sent");
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(header(&r, "retry-after").is_some());
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // The client bucket answers before the token is read, yet the 429 counts under its route.
    assert!(
        limited_logins().await > limited_before,
        "a 429 on the login route"
    );
    // Other routes from the same address are in another class.
    let r = p
        .request(Method::GET, "/v1/auth/jwks")
        .send()
        .await
        .expect("sent");
    expect_json(r, StatusCode::OK).await;
}

#[tokio::test]
async fn an_authenticated_request_costs_its_client_one_token() {
    let p = platform(&[
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_PER_SECOND",
            "0.01",
        ),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__CLIENT_BURST",
            "7",
        ),
    ])
    .await;
    // Provisioning takes one token of this address's bucket (login is another class).
    let t = p.tenant("rl-client").await;
    let mut remaining = Vec::new();
    for _ in 0..6 {
        let r = p
            .authed(Method::GET, "/v1/users:me", &t.token)
            .send()
            .await
            .expect("sent");
        remaining.push(header(&r, "ratelimit-remaining").expect("remaining"));
        expect_json(r, StatusCode::OK).await;
    }
    // The client's bucket is checked before the token and the tenant's after it; checking the
    // client's again with the tenant's spent two tokens per request.
    assert_eq!(remaining, [5, 4, 3, 2, 1, 0], "one token per request");
    let r = p
        .authed(Method::GET, "/v1/users:me", &t.token)
        .send()
        .await
        .expect("sent");
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Two gateway replicas on one Redis: a tenant's budget is one, whichever replica it reaches,
/// and a limit the billing service stores for the tenant applies on both at once.
#[tokio::test]
async fn replicas_on_one_redis_share_a_tenants_budget_and_its_plan_limit() {
    let prefix = format!("test:e2e-ratelimit:{}", uuid::Uuid::now_v7());
    let url = redis_url();
    let settings = [
        ("SALESCOMPASS__GATEWAY__REDIS_URL", url.as_str()),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__REDIS_PREFIX",
            prefix.as_str(),
        ),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_PER_SECOND",
            "0.01",
        ),
        (
            "SALESCOMPASS__GATEWAY__RATE_LIMIT__DEFAULT__TENANT_BURST",
            "3",
        ),
    ];
    let first = platform(&settings).await;
    let (second, _admin, _stop) = gateway_for(&first.tenants.url(), &settings).await;
    let me = |base: &str, token: &str| {
        first
            .http
            .get(format!("{base}/v1/users:me"))
            .bearer_auth(token)
            .send()
    };

    let t = first.tenant("rl-shared").await;
    let mut remaining = Vec::new();
    for base in [&first.base, &second, &first.base] {
        let r = me(base, &t.token).await.expect("sent");
        remaining.push(header(&r, "ratelimit-remaining").expect("remaining"));
        expect_json(r, StatusCode::OK).await;
    }
    assert_eq!(remaining, [2, 1, 0], "one budget across both replicas");
    let r = me(&second, &t.token).await.expect("sent");
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS).await;

    // The billing service raises the tenant's plan: both replicas apply it at once.
    let redis = redis::Client::open(url.as_str())
        .expect("url")
        .get_connection_manager()
        .await
        .expect("redis");
    gateway::tenant_limits::TenantLimitOverrides::new(redis, &prefix)
        .set(
            &t.tenant_id,
            gateway::tenant_limits::TenantLimit {
                per_second: 0.01,
                burst: 5,
            },
        )
        .await
        .expect("override stored");
    let mut remaining = Vec::new();
    for base in [&second, &first.base] {
        let r = me(base, &t.token).await.expect("sent");
        assert_eq!(header(&r, "ratelimit-limit"), Some(5));
        remaining.push(header(&r, "ratelimit-remaining").expect("remaining"));
        expect_json(r, StatusCode::OK).await;
    }
    assert_eq!(remaining, [1, 0], "3 of the plan's 5 were spent already");
    let r = me(&first.base, &t.token).await.expect("sent");
    expect_problem(r, StatusCode::TOO_MANY_REQUESTS).await;
}
