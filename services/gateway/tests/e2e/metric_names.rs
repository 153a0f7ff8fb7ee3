//! Every metric the platform exports is in the table of docs/operations.md, and every metric
//! there exists: the tenants service, the CRM, commissions and the gateway run in this process,
//! each kind of series is exercised or created at start, and the whole registry is rendered.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};

use crate::helpers::{Platform, client, expect_json, gateway_for};

/// The metric names of the "Metric names" table in docs/operations.md.
fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
    let doc = std::fs::read_to_string(path).expect("docs/operations.md");
    let (_, table) = doc
        .split_once("#### Metric names")
        .expect("a Metric names section");
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| {
            let cell = line.trim_start_matches('|').split('|').next()?.trim();
            Some(cell.strip_prefix('`')?.strip_suffix('`')?.to_owned())
        })
        .collect()
}

/// The metric family names in a Prometheus text exposition.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_documented_metric_names_are_exactly_the_exported_ones() {
    let tenants = tenants::testing::spawn().await;
    // Each builds a pool, an outbox relay and a consumer: their series exist from the start.
    let crm = crm::testing::spawn_with_tenants(&tenants.url()).await;
    let commissions = commissions::testing::spawn_on_platform(&tenants.url()).await;
    let (base, admin, stop) = gateway_for(
        &tenants.url(),
        &[
            ("SALESCOMPASS__GATEWAY__UPSTREAMS__CRM", &crm.url()),
            (
                "SALESCOMPASS__GATEWAY__UPSTREAMS__COMMISSIONS",
                &commissions.url(),
            ),
        ],
    )
    .await;
    let p = Platform::from_parts(base, admin, client(), tenants, stop);
    // A REST call answered by a service: gateway and gRPC series, a pooled transaction.
    let t = p.tenant("metric-names").await;
    let me = p
        .authed(Method::GET, "/v1/users:me", &t.token)
        .send()
        .await
        .expect("sent");
    expect_json(me, StatusCode::OK).await;

    let text = runtime::metrics::render().expect("renders");
    let exported = exported(&text);
    let documented = documented();
    assert!(documented.len() > 20, "the table was found: {documented:?}");
    let undocumented: Vec<_> = exported.difference(&documented).collect();
    let missing: Vec<_> = documented.difference(&exported).collect();
    assert!(
        undocumented.is_empty() && missing.is_empty(),
        "exported but not in docs/operations.md: {undocumented:?}; \
         documented but not exported: {missing:?}"
    );
}
