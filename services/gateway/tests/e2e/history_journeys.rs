//! History over REST: a record's creation, update, deletion and restore read back as field
//! changes under the API's names; configuration history and the tenants audit log are for
//! admins only.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crm_journeys::crm_platform;
use crate::helpers::{PASSWORD, expect_problem};

/// The (kind, field, old, new) of every change, as JSON text values.
fn changes(history: &Value) -> Vec<(String, String, String, String)> {
    history["changes"]
        .as_array()
        .map(|changes| {
            changes
                .iter()
                .map(|c| {
                    let text = |key: &str| c[key].as_str().unwrap_or_default().to_owned();
                    (
                        text("kind"),
                        text("field"),
                        text("oldValue"),
                        text("newValue"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_record_is_updated_deleted_restored_and_its_history_read_over_rest() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("histflow").await;
    let admin = tenant.token.as_str();

    let account = crm
        .call(
            Method::POST,
            "/v1/accounts",
            admin,
            Some(
                json!({"name": "Acme", "annualRevenue": {"currencyCode": "EUR", "units": "1000"}}),
            ),
        )
        .await;
    let id = account["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/accounts/{id}");
    let response = p
        .authed(Method::PATCH, &path, admin)
        .query(&[("updateMask", "industry,annualRevenue")])
        .json(&json!({"industry": "Robotics", "annualRevenue": {"currencyCode": "EUR", "units": "2000"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    crm.call(Method::DELETE, &path, admin, None).await;
    let response = p
        .authed(Method::GET, &path, admin)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::NOT_FOUND).await;

    let history_path = format!("/v1/history/RECORD_TYPE_ACCOUNT/{id}");
    let history = crm.call(Method::GET, &history_path, admin, None).await;
    let all = changes(&history);
    let kinds: Vec<&str> = all.iter().map(|(k, ..)| k.as_str()).collect();
    for kind in [
        "CHANGE_KIND_CREATE",
        "CHANGE_KIND_UPDATE",
        "CHANGE_KIND_DELETE",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {history}");
    }
    assert_eq!(
        kinds.first(),
        Some(&"CHANGE_KIND_DELETE"),
        "newest first: {history}"
    );
    assert!(
        all.iter()
            .any(|(kind, field, _, new)| kind == "CHANGE_KIND_UPDATE"
                && field == "annual_revenue"
                && new.contains("2000")),
        "money is one API field: {history}"
    );
    assert!(
        !history.to_string().contains("annual_revenue_units"),
        "no column names: {history}"
    );

    let restored = crm
        .call(
            Method::POST,
            &format!("{history_path}:undelete"),
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(restored["record"]["id"], id.as_str());
    assert_eq!(restored["record"]["type"], "RECORD_TYPE_ACCOUNT");
    let back = crm.call(Method::GET, &path, admin, None).await;
    assert_eq!(back["industry"], "Robotics");
    let history = crm.call(Method::GET, &history_path, admin, None).await;
    assert_eq!(
        changes(&history).first().map(|(k, ..)| k.clone()),
        Some("CHANGE_KIND_RESTORE".to_owned()),
        "{history}"
    );
    // Restoring a live record again is a conflict.
    let response = p
        .authed(Method::POST, &format!("{history_path}:undelete"), admin)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::CONFLICT).await;

    // Settings history is the admins'; a rep is refused.
    let response = p
        .authed(Method::PATCH, "/v1/crmSettings", admin)
        .query(&[("updateMask", "restoreWindowDays")])
        .json(&json!({"restoreWindowDays": 14}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let settings_path = format!("/v1/history/RECORD_TYPE_SETTINGS/{}", tenant.tenant_id);
    let settings = crm.call(Method::GET, &settings_path, admin, None).await;
    assert!(
        changes(&settings)
            .iter()
            .any(|(_, field, old, new)| field == "restore_window_days"
                && old == "30"
                && new == "14"),
        "{settings}"
    );
    p.create_user(&tenant, "rep", "ROLE_SALES_REP").await;
    let rep = p
        .login(&tenant.slug, &format!("rep@{}.test", tenant.slug), PASSWORD)
        .await;
    let response = p
        .authed(Method::GET, &settings_path, &rep)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::FORBIDDEN).await;

    // The tenants service's audit log: the admin reads the rep's login, with the browser's
    // user agent as the gateway forwarded it; the rep is refused.
    let response = p
        .authed(Method::GET, "/v1/auditEvents", admin)
        .query(&[("kind", "login.succeeded")])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let log: Value = response.json().await.expect("json");
    let logins = log["events"].as_array().cloned().unwrap_or_default();
    assert!(
        logins.iter().all(|e| e["kind"] == "login.succeeded") && logins.len() >= 2,
        "the admin's and the rep's logins: {log}"
    );
    assert!(
        logins
            .iter()
            .all(|e| e["ip"].as_str().is_some_and(|ip| !ip.is_empty())),
        "the client address: {log}"
    );
    let response = p
        .authed(Method::GET, "/v1/auditEvents", &rep)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::FORBIDDEN).await;
}
