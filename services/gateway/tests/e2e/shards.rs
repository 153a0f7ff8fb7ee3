//! `gateway.shards`: connections spread over single-threaded runtimes are served as on the one
//! multi-threaded runtime, with state shared across shards, and the server still stops cleanly.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::helpers::{client, expect_json, expect_problem, platform};

#[tokio::test]
async fn every_shard_serves_and_client_limits_hold_across_shards() {
    let p = platform(&[
        ("SALESCOMPASS__GATEWAY__SHARDS", "3"),
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
    // Provisioning takes one token of this client's bucket (login is another class).
    let t = p.tenant("shards").await;

    // A fresh client per request opens a fresh connection, and the acceptor hands connections
    // to the shards in turn: six requests reach every shard twice.
    for attempt in 0..6 {
        let response = client()
            .request(Method::GET, format!("{}/v1/users?pageSize=10", p.base))
            .bearer_auth(&t.token)
            .send()
            .await
            .expect("sent");
        let body = expect_json(response, StatusCode::OK).await;
        assert_eq!(
            body["users"][0]["id"], t.admin_id,
            "attempt {attempt}: the shard's own upstream connection answered"
        );
    }

    // The bucket of 7 is spent whichever shard took each request: the limiter is shared.
    let response = client()
        .request(Method::GET, format!("{}/v1/users?pageSize=10", p.base))
        .bearer_auth(&t.token)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["code"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn a_sharded_gateway_stops_when_asked_and_then_refuses_connections() {
    let tenants = tenants::testing::spawn().await;
    let env = [
        ("SALESCOMPASS__GATEWAY__LISTEN", "127.0.0.1:0"),
        ("SALESCOMPASS__SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
        (
            "SALESCOMPASS__GATEWAY__UPSTREAMS__TENANTS",
            tenants.url().as_str(),
        ),
        ("SALESCOMPASS__GATEWAY__SHARDS", "2"),
        ("SALESCOMPASS__SERVER__SHUTDOWN_GRACE_SECS", "1"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let settings = gateway::Settings::load_from(env).expect("settings");
    let server = gateway::Server::build(settings)
        .await
        .expect("gateway starts");
    let base = format!("http://{}", server.local_addr());
    let stop = CancellationToken::new();
    let running = tokio::spawn(server.run(stop.clone()));

    for _ in 0..2 {
        let response = client()
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::OK);
    }

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("stops within the grace period")
        .expect("run task")
        .expect("clean stop");
    assert!(
        client()
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .is_err(),
        "no longer accepting"
    );
}
