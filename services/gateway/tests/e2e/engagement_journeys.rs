//! Engagement over REST, as the frontend drives it: the tenants service, the CRM and the
//! engagement service (fed by the real events on the shared exchange) behind the gateway. A rep
//! records touches on their contact, reads the score, and finds the touches in the heatmap at
//! the weekday and hour of the tenant's (non-UTC) time zone; another rep and another tenant see
//! nothing of it, and bad batches are refused naming the field.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, Platform, client, expect_json, expect_problem, gateway_for, violation_fields,
};

/// Generous: events cross three services and the broker on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) struct EngagementPlatform {
    pub(crate) platform: Platform,
    _crm: crm::testing::TestCrm,
    _engagement: engagement::testing::TestEngagement,
}

pub(crate) async fn engagement_platform() -> EngagementPlatform {
    let tenants = tenants::testing::spawn().await;
    let crm = crm::testing::spawn_with_tenants(&tenants.url()).await;
    let engagement = engagement::testing::spawn_on_platform(&tenants.url()).await;
    let (base, admin, stop) = gateway_for(
        &tenants.url(),
        &[
            ("SALESCOMPASS__GATEWAY__UPSTREAMS__CRM", &crm.url()),
            (
                "SALESCOMPASS__GATEWAY__UPSTREAMS__ENGAGEMENT",
                &engagement.url(),
            ),
        ],
    )
    .await;
    EngagementPlatform {
        platform: Platform::from_parts(base, admin, client(), tenants, stop),
        _crm: crm,
        _engagement: engagement,
    }
}

fn touch(request_id: &str, kind: &str, contact_id: &str, at: &str) -> Value {
    json!({
        "requestId": request_id,
        "kind": kind,
        "contactId": contact_id,
        "occurTime": at,
        "source": "newsletter",
        "campaign": "winter-2026",
        "utmMedium": "email"
    })
}

/// Records `events` as `token` once the engagement service knows the record (it learns of CRM
/// records from the CRM's events): the last refusal is returned if it never does.
async fn record_when_known(p: &Platform, token: &str, events: Value) -> Value {
    let body = json!({ "events": events });
    let last = std::cell::RefCell::new(String::new());
    let (body_ref, last_ref) = (&body, &last);
    let recorded = testkit::poll_until(DEADLINE, || async move {
        let response = p
            .authed(Method::POST, "/v1/engagementEvents:batchCreate", token)
            .json(body_ref)
            .send()
            .await
            .expect("sent");
        if response.status() == StatusCode::OK {
            Some(response.json::<Value>().await.expect("json"))
        } else {
            *last_ref.borrow_mut() = response.text().await.unwrap_or_default();
            None
        }
    })
    .await;
    recorded.unwrap_or_else(|| panic!("touches never accepted; last answer {}", last.borrow()))
}

#[tokio::test]
async fn a_rep_records_touches_reads_the_score_and_the_heatmap_in_tokyo_time() {
    let platform = engagement_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("engage").await;
    let admin = tenant.token.as_str();
    // The tenant works in Tokyo (UTC+9, no daylight saving).
    p.call(
        Method::PATCH,
        &format!(
            "/v1/tenants/{}?updateMask=settings.timezone",
            tenant.tenant_id
        ),
        admin,
        Some(json!({"settings": {"timezone": "Asia/Tokyo"}})),
    )
    .await;
    p.create_user(&tenant, "rita", "ROLE_SALES_REP").await;
    p.create_user(&tenant, "sam", "ROLE_SALES_REP").await;
    let rita = p
        .login(
            &tenant.slug,
            &format!("rita@{}.test", tenant.slug),
            PASSWORD,
        )
        .await;
    let sam = p
        .login(&tenant.slug, &format!("sam@{}.test", tenant.slug), PASSWORD)
        .await;

    let account = p
        .call(
            Method::POST,
            "/v1/accounts",
            &rita,
            Some(json!({"name": "Initech"})),
        )
        .await;
    let account_id = account["id"].as_str().expect("account id").to_owned();
    let contact = p
        .call(
            Method::POST,
            "/v1/contacts",
            &rita,
            Some(json!({"firstName": "Peter", "lastName": "Gibbons", "accountId": account_id})),
        )
        .await;
    let contact_id = contact["id"].as_str().expect("contact id").to_owned();

    // Wednesday 2026-12-02 15:30 UTC is Thursday 00:30 in Tokyo.
    let at = "2026-12-02T15:30:00Z";
    let recorded = record_when_known(
        p,
        &rita,
        json!([
            touch("t-1", "ENGAGEMENT_KIND_EMAIL_OPENED", &contact_id, at),
            touch("t-2", "ENGAGEMENT_KIND_EMAIL_REPLIED", &contact_id, at),
            touch("t-3", "ENGAGEMENT_KIND_MEETING", &contact_id, at),
        ]),
    )
    .await;
    let events = recorded["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{recorded}");
    assert_eq!(events[0]["campaign"], "winter-2026");
    assert_eq!(events[2]["points"], 20.0);

    // A retried batch counts once.
    let again = p
        .call(
            Method::POST,
            "/v1/engagementEvents:batchCreate",
            &rita,
            Some(
                json!({"events": [touch("t-1", "ENGAGEMENT_KIND_EMAIL_OPENED", &contact_id, at)]}),
            ),
        )
        .await;
    assert_eq!(again["events"][0]["id"], events[0]["id"]);

    let score = p
        .call(
            Method::GET,
            &format!("/v1/contacts/{contact_id}/engagement"),
            &rita,
            None,
        )
        .await;
    let value = score["score"].as_f64().expect("score");
    // 37 points five days ago, halving every 14 days.
    assert!(value > 20.0 && value < 37.0, "{score}");
    assert!(score["lastTouchTime"].is_string(), "{score}");
    assert_eq!(score["breakdown"][0]["kind"], "ENGAGEMENT_KIND_MEETING");
    let rollup = p
        .call(
            Method::GET,
            &format!("/v1/accounts/{account_id}/engagement"),
            &rita,
            None,
        )
        .await;
    assert!(
        rollup["score"].as_f64().expect("score") >= value - 0.01,
        "{rollup}"
    );

    // The heatmap is in the tenant's zone once the engagement service learnt of it.
    let path = "/v1/engagement/heatmap?startTime=2026-11-01T00:00:00Z&endTime=2026-12-31T00:00:00Z";
    let heatmap = testkit::poll_until(DEADLINE, || async {
        let body = p.call(Method::GET, path, &rita, None).await;
        (body["timeZone"] == "Asia/Tokyo").then_some(body)
    })
    .await
    .expect("the tenant's time zone never reached the engagement service");
    assert_eq!(
        heatmap["cells"],
        json!([{"weekday": 4, "hour": 0, "count": "3"}]),
        "{heatmap}"
    );

    // Sam sees nothing of Rita's contact and cannot record on it.
    let hidden = p
        .authed(
            Method::GET,
            &format!("/v1/contacts/{contact_id}/engagement"),
            &sam,
        )
        .send()
        .await
        .expect("sent");
    expect_problem(hidden, StatusCode::NOT_FOUND).await;
    let refused = p
        .authed(Method::POST, "/v1/engagementEvents:batchCreate", &sam)
        .json(&json!({"events": [touch("s-1", "ENGAGEMENT_KIND_CALL", &contact_id, at)]}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["events[0].contactId"],
        "{problem}"
    );
    let sams_heatmap = p.call(Method::GET, path, &sam, None).await;
    assert!(
        sams_heatmap["cells"].as_array().is_none_or(Vec::is_empty),
        "{sams_heatmap}"
    );

    // Another tenant's admin neither.
    let stranger = p.tenant("stranger").await;
    let foreign = p
        .authed(
            Method::GET,
            &format!("/v1/contacts/{contact_id}/engagement"),
            &stranger.token,
        )
        .send()
        .await
        .expect("sent");
    expect_problem(foreign, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_batches_and_heatmaps_are_refused_naming_the_field() {
    let platform = engagement_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("engagebad").await;
    let admin = tenant.token.as_str();
    let contact_id = uuid::Uuid::now_v7().to_string();
    let cases = [
        (
            json!({"events": [touch("k", "ENGAGEMENT_KIND_FAX", &contact_id, "2026-12-02T15:30:00Z")]}),
            "events[0].kind",
        ),
        (
            json!({"events": [touch("f", "ENGAGEMENT_KIND_CALL", &contact_id, "2099-01-01T00:00:00Z")]}),
            "events[0].occurTime",
        ),
        (
            json!({"events": [{"requestId": "n", "kind": "ENGAGEMENT_KIND_CALL", "occurTime": "2026-12-02T15:30:00Z"}]}),
            "events[0].leadId",
        ),
        (
            json!({"events": [{"requestId": "t", "kind": "ENGAGEMENT_KIND_CALL", "leadId": contact_id, "contactId": contact_id, "occurTime": "2026-12-02T15:30:00Z"}]}),
            "events[0].contactId",
        ),
        (
            json!({"events": (0..501).map(|i| touch(&format!("b{i}"), "ENGAGEMENT_KIND_CALL", &contact_id, "2026-12-02T15:30:00Z")).collect::<Vec<_>>()}),
            "events",
        ),
    ];
    for (body, field) in cases {
        let response = p
            .authed(Method::POST, "/v1/engagementEvents:batchCreate", admin)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        // An unknown enum name is already refused by the gateway's JSON parsing (400, no
        // field list); every other case names its field.
        if field != "events[0].kind" {
            assert_eq!(violation_fields(&problem), [field], "{problem}");
        }
    }
    let too_long = p
        .authed(
            Method::GET,
            "/v1/engagement/heatmap?startTime=2025-01-01T00:00:00Z&endTime=2026-06-01T00:00:00Z",
            admin,
        )
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(too_long, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["endTime"], "{problem}");
    let model = p
        .authed(Method::PUT, "/v1/engagement/scoringModel", admin)
        .json(&json!({"halfLifeDays": 0, "engagedEnter": 20, "engagedExit": 15, "disengagedEnter": 3, "disengagedExit": 5}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(model, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["scoringModel.halfLifeDays"],
        "{problem}"
    );
    let unchanged = expect_json(
        p.authed(Method::GET, "/v1/engagement/scoringModel", admin)
            .send()
            .await
            .expect("sent"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unchanged["halfLifeDays"], 14.0);
}

#[tokio::test]
async fn the_disengaged_accounts_report_ranks_open_pipeline_and_respects_visibility() {
    let platform = engagement_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("engagerep").await;
    let admin = tenant.token.as_str();
    p.create_user(&tenant, "rita", "ROLE_SALES_REP").await;
    let rita = p
        .login(
            &tenant.slug,
            &format!("rita@{}.test", tenant.slug),
            PASSWORD,
        )
        .await;
    // An account each, with an open deal; nobody touched either, so both are disengaged.
    let account = |name: &'static str| json!({ "name": name });
    let deal = |account_id: &str, units: &str| {
        json!({
            "name": "Renewal",
            "accountId": account_id,
            "amount": {"currencyCode": "USD", "units": units, "nanos": 0}
        })
    };
    let ritas = p
        .call(
            Method::POST,
            "/v1/accounts",
            &rita,
            Some(account("Initech")),
        )
        .await;
    let ritas_id = ritas["id"].as_str().expect("id").to_owned();
    p.call(
        Method::POST,
        "/v1/opportunities",
        &rita,
        Some(deal(&ritas_id, "12000")),
    )
    .await;
    let admins = p
        .call(Method::POST, "/v1/accounts", admin, Some(account("Globex")))
        .await;
    let admins_id = admins["id"].as_str().expect("id").to_owned();
    p.call(
        Method::POST,
        "/v1/opportunities",
        admin,
        Some(deal(&admins_id, "30000")),
    )
    .await;

    let path = "/v1/engagement/disengagedAccounts?pageSize=10";
    let ids = |body: &Value| -> Vec<String> {
        body["accounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["accountId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Both deals reached the engagement service once the admin's report ranks both by amount.
    let expected = vec![admins_id.clone(), ritas_id.clone()];
    let all = testkit::poll_until(DEADLINE, || async {
        let body = p.call(Method::GET, path, admin, None).await;
        let pipeline = body["accounts"][1]["openPipeline"]["units"].clone();
        (ids(&body) == expected && pipeline == "12000").then_some(body)
    })
    .await
    .expect("the admin's report never showed both accounts with their pipeline");
    assert_eq!(
        all["accounts"][0]["openPipeline"]["units"], "30000",
        "{all}"
    );
    assert_eq!(all["accounts"][0]["openPipeline"]["currencyCode"], "USD");
    let hers = p.call(Method::GET, path, &rita, None).await;
    assert_eq!(ids(&hers), std::slice::from_ref(&ritas_id), "{hers}");

    let refused = p
        .authed(
            Method::GET,
            "/v1/engagement/disengagedAccounts?inactiveDays=-3",
            admin,
        )
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(refused, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["inactiveDays"], "{problem}");
}
