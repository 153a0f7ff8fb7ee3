//! The CRM's main journeys over REST, as the frontend makes them: the tenants service, the CRM
//! (trusting the tenants service's keys and fed by its events) and the gateway in front of both.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Platform, client, expect_problem, gateway_for, violation_fields};

pub(crate) struct CrmPlatform {
    pub platform: Platform,
    pub crm: crm::testing::TestCrm,
}

pub(crate) async fn crm_platform() -> CrmPlatform {
    let tenants = tenants::testing::spawn().await;
    let crm = crm::testing::spawn_with_tenants(&tenants.url()).await;
    let (base, admin, stop): (String, String, CancellationToken) = gateway_for(
        &tenants.url(),
        &[("SALESCOMPASS__GATEWAY__UPSTREAMS__CRM", &crm.url())],
    )
    .await;
    CrmPlatform {
        platform: Platform::from_parts(base, admin, client(), tenants, stop),
        crm,
    }
}

impl CrmPlatform {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        self.platform.call(method, path, token, body).await
    }
}

fn money(value: &Value) -> (String, String) {
    (
        value["currencyCode"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        value["units"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn lead_to_won_deal_with_an_accepted_quote_over_rest() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("crmflow").await;
    let admin = tenant.token.as_str();

    // The default pipeline exists (from the provisioning event, or on first use).
    let pipelines = crm.call(Method::GET, "/v1/pipelines", admin, None).await;
    let stages = pipelines["pipelines"][0]["stages"]
        .as_array()
        .expect("stages")
        .clone();
    let won = stages
        .iter()
        .find(|s| s["category"] == "STAGE_CATEGORY_WON")
        .expect("a won stage");
    let negotiation = stages
        .iter()
        .find(|s| s["category"] == "STAGE_CATEGORY_OPEN" && s["probability"] == 75)
        .expect("negotiation");

    let lead = crm
        .call(
            Method::POST,
            "/v1/leads",
            admin,
            Some(json!({"firstName": "Lea", "lastName": "Lind", "email": "lea@globex.test", "company": "Globex"})),
        )
        .await;
    let lead_id = lead["id"].as_str().expect("lead id");
    let listed = crm
        .call(
            Method::GET,
            "/v1/leads?pageSize=10&filter=status%20%3D%20LEAD_STATUS_NEW",
            admin,
            None,
        )
        .await;
    assert_eq!(listed["leads"][0]["id"], lead_id);

    let converted = crm
        .call(
            Method::POST,
            &format!("/v1/leads/{lead_id}:convert"),
            admin,
            Some(json!({"createOpportunity": true, "opportunityName": "Globex pilot"})),
        )
        .await;
    assert_eq!(converted["account"]["name"], "Globex");
    assert_eq!(converted["contact"]["lastName"], "Lind");
    let deal_id = converted["opportunity"]["id"]
        .as_str()
        .expect("deal id")
        .to_owned();
    // Converting twice is refused.
    let again = p
        .authed(Method::POST, &format!("/v1/leads/{lead_id}:convert"), admin)
        .json(&json!({"createOpportunity": false}))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        again.status().as_u16() / 100,
        4,
        "second conversion refused"
    );

    // A product priced in the standard book, quoted and accepted: the deal takes the total.
    let product = crm
        .call(
            Method::POST,
            "/v1/products",
            admin,
            Some(json!({"sku": "PILOT-1", "name": "Pilot seat"})),
        )
        .await;
    let books = crm.call(Method::GET, "/v1/priceBooks", admin, None).await;
    let standard = books["priceBooks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["isStandard"] == true))
        .expect("standard price book")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    crm.call(
        Method::POST,
        &format!("/v1/priceBooks/{standard}/entries"),
        admin,
        Some(json!({
            "productId": product["id"],
            "unitPrice": {"currencyCode": "USD", "units": "1500", "nanos": 0}
        })),
    )
    .await;
    let quote = crm
        .call(
            Method::POST,
            "/v1/quotes",
            admin,
            Some(json!({
                "opportunityId": deal_id,
                "name": "Pilot offer",
                "currencyCode": "USD",
                "lineItems": [{"productId": product["id"], "quantity": "8"}]
            })),
        )
        .await;
    assert_eq!(
        money(&quote["total"]),
        ("USD".to_owned(), "12000".to_owned())
    );
    let quote_id = quote["id"].as_str().expect("quote id");
    crm.call(
        Method::POST,
        &format!("/v1/quotes/{quote_id}:send"),
        admin,
        Some(json!({})),
    )
    .await;
    crm.call(
        Method::POST,
        &format!("/v1/quotes/{quote_id}:accept"),
        admin,
        Some(json!({})),
    )
    .await;
    let deal = crm
        .call(
            Method::GET,
            &format!("/v1/opportunities/{deal_id}"),
            admin,
            None,
        )
        .await;
    assert_eq!(
        money(&deal["amount"]),
        ("USD".to_owned(), "12000".to_owned())
    );

    // Stage changes, then won; the history and the timeline show them.
    for stage in [negotiation, won] {
        crm.call(
            Method::POST,
            &format!("/v1/opportunities/{deal_id}:moveStage"),
            admin,
            Some(json!({"stageId": stage["id"]})),
        )
        .await;
    }
    let history = crm
        .call(
            Method::GET,
            &format!("/v1/opportunities/{deal_id}/stageHistory"),
            admin,
            None,
        )
        .await;
    let moves = history.to_string();
    assert!(
        moves.contains(won["id"].as_str().expect("id")),
        "won move in {moves}"
    );
    let timeline = crm
        .call(
            Method::GET,
            &format!("/v1/timeline/RECORD_TYPE_OPPORTUNITY/{deal_id}"),
            admin,
            None,
        )
        .await;
    assert!(
        timeline
            .to_string()
            .contains(won["id"].as_str().expect("id")),
        "the timeline shows the win: {timeline}"
    );

    // Another tenant sees none of it.
    let other = p.tenant("crmother").await;
    let response = p
        .authed(
            Method::GET,
            &format!("/v1/opportunities/{deal_id}"),
            &other.token,
        )
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_crm_input_is_a_problem_naming_the_field() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("crmbad").await;

    let cases = [
        (
            "/v1/leads",
            json!({"lastName": "Lind", "email": "not-an-email"}),
            "email",
        ),
        (
            "/v1/leads",
            json!({"lastName": "Lind", "phone": "call me"}),
            "phone",
        ),
        (
            "/v1/opportunities",
            json!({"name": "Deal", "amount": {"currencyCode": "XXQ", "units": "5", "nanos": 0}}),
            "amount.currencyCode",
        ),
        (
            "/v1/opportunities",
            json!({"name": "Deal", "closeDate": "24/11/2026"}),
            "closeDate",
        ),
    ];
    for (path, body, field) in cases {
        let response = p
            .authed(Method::POST, path, &tenant.token)
            .json(&body)
            .send()
            .await
            .expect("sent");
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        let fields = violation_fields(&problem);
        assert!(
            fields.iter().any(|f| f.ends_with(field)),
            "{path}: {field} not in {problem}"
        );
    }

    let response = p
        .authed(
            Method::GET,
            "/v1/leads?filter=nonsense%20%3D%3D%3D%201",
            &tenant.token,
        )
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert!(problem.to_string().contains("filter"), "{problem}");

    // Nothing was half-written.
    let leads = crm
        .call(Method::GET, "/v1/leads", &tenant.token, None)
        .await;
    assert!(
        leads["leads"].as_array().is_none_or(|l| l.is_empty()),
        "{leads}"
    );
}

#[tokio::test]
async fn duplicates_are_a_conflict_naming_them_and_merge_over_rest() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("crmdupes").await;
    let token = tenant.token.as_str();
    let body = json!({"firstName": "Lea", "lastName": "Lind", "email": "lea@globex.test"});
    let first = crm
        .call(Method::POST, "/v1/leads", token, Some(body.clone()))
        .await;
    let first_id = first["id"].as_str().expect("lead id");

    let response = p
        .authed(Method::POST, "/v1/leads", token)
        .json(&json!({"firstName": "LEA", "lastName": "lind", "email": "other@globex.test"}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["code"], "ALREADY_EXISTS", "{problem}");
    assert_eq!(
        problem["errors"][0]["field"],
        format!("leads/{first_id}"),
        "{problem}"
    );

    let found = crm
        .call(
            Method::POST,
            "/v1/duplicates:find",
            token,
            Some(json!({"lead": body})),
        )
        .await;
    assert_eq!(found["candidates"][0]["id"], first_id, "{found}");
    assert_eq!(
        found["candidates"][0]["matchedRules"][0],
        "DUPLICATE_RULE_EMAIL"
    );

    let mut forced = body.clone();
    forced["force"] = json!(true);
    let second = crm
        .call(Method::POST, "/v1/leads", token, Some(forced))
        .await;
    let second_id = second["id"].as_str().expect("lead id");
    let merged = crm
        .call(
            Method::POST,
            &format!("/v1/leads/{first_id}:merge"),
            token,
            Some(json!({"loserId": second_id})),
        )
        .await;
    assert_eq!(merged["id"], first_id);
    let response = p
        .authed(Method::GET, &format!("/v1/leads/{second_id}"), token)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::NOT_FOUND).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("leads/{first_id}"))),
        "{problem}"
    );
}
