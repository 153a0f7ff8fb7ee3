//! An admin reshapes the sales pipeline and its lost reasons over REST while a rep keeps
//! working deals in it (issue 23: pipelines and stages).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crm_journeys::crm_platform;
use crate::helpers::{PASSWORD, expect_json, expect_problem, violation_fields};

const DEADLINE: Duration = Duration::from_secs(30);

fn stage_id(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["name"] == name))
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("stage {name} in {pipeline}"))
        .to_owned()
}

#[tokio::test]
async fn an_admin_reshapes_the_pipeline_while_a_rep_works_and_loses_deals() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("pipes").await;
    let admin = tenant.token.as_str();
    p.create_user(&tenant, "rex", "ROLE_SALES_REP").await;
    let rep = p
        .login(&tenant.slug, &format!("rex@{}.test", tenant.slug), PASSWORD)
        .await;

    let listed = crm.call(Method::GET, "/v1/pipelines", admin, None).await;
    let sales = listed["pipelines"][0].clone();
    let sales_id = sales["id"].as_str().expect("id").to_owned();
    let prospecting = stage_id(&sales, "Prospecting");
    let qualification = stage_id(&sales, "Qualification");
    let proposal = stage_id(&sales, "Proposal");
    let won = stage_id(&sales, "Closed Won");
    let lost = stage_id(&sales, "Closed Lost");

    // The rep's two deals (the CRM learns of the rep from the tenants service's event).
    let mut deals = Vec::new();
    for name in ["Acme", "Globex"] {
        let deal = testkit::poll_until(DEADLINE, || async {
            let response = p
                .authed(Method::POST, "/v1/opportunities", &rep)
                .json(&json!({"name": name}))
                .send()
                .await
                .expect("sent");
            if response.status() != StatusCode::OK {
                return None;
            }
            Some(response.json::<Value>().await.expect("json"))
        })
        .await
        .expect("the rep's deal is accepted");
        assert_eq!(deal["stageId"], prospecting.as_str());
        deals.push(deal["id"].as_str().expect("id").to_owned());
    }

    // Reorder (Proposal before Qualification), rename, archive Prospecting moving its deals.
    let mut order: Vec<String> = sales["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["id"].as_str().expect("id").to_owned())
        .collect();
    order.swap(1, 2);
    crm.call(
        Method::POST,
        &format!("/v1/pipelines/{sales_id}/stages:reorder"),
        admin,
        Some(json!({"stageIds": order})),
    )
    .await;
    let response = p
        .authed(
            Method::PATCH,
            &format!("/v1/pipelines/{sales_id}/stages/{proposal}"),
            admin,
        )
        .query(&[("updateMask", "name")])
        .json(&json!({"name": "Demo"}))
        .send()
        .await
        .expect("sent");
    expect_json(response, StatusCode::OK).await;
    let archived = crm
        .call(
            Method::POST,
            &format!("/v1/pipelines/{sales_id}/stages/{prospecting}:archive"),
            admin,
            Some(json!({"moveToStageId": qualification})),
        )
        .await;
    assert_eq!(archived["movedOpportunityCount"], "2", "{archived}");

    // A second pipeline becomes the default; lost reasons are configured.
    let renewals = crm
        .call(
            Method::POST,
            "/v1/pipelines",
            admin,
            Some(json!({"name": "Renewals", "stages": [
                {"name": "Due", "probability": 40, "category": "STAGE_CATEGORY_OPEN"},
                {"name": "Renewed", "probability": 100, "category": "STAGE_CATEGORY_WON"},
                {"name": "Churned", "probability": 0, "category": "STAGE_CATEGORY_LOST"}
            ]})),
        )
        .await;
    let renewals_id = renewals["id"].as_str().expect("id");
    let default = crm
        .call(
            Method::POST,
            &format!("/v1/pipelines/{renewals_id}:setDefault"),
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(default["isDefault"], true);
    for label in ["Price", "Timing"] {
        crm.call(
            Method::POST,
            "/v1/lostReasons",
            admin,
            Some(json!({"label": label})),
        )
        .await;
    }

    // Losing without a reason is a problem naming lost_reason; with one it goes through.
    let response = p
        .authed(
            Method::POST,
            &format!("/v1/opportunities/{}:moveStage", deals[1]),
            &rep,
        )
        .json(&json!({"stageId": lost}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["lostReason"], "{problem}");
    let moved = crm
        .call(
            Method::POST,
            &format!("/v1/opportunities/{}:moveStage", deals[1]),
            &rep,
            Some(json!({"stageId": lost, "lostReason": "price"})),
        )
        .await;
    assert_eq!(moved["lostReason"], "Price");

    // Bad input: the last won stage cannot be archived, and nothing is half-written.
    let before = crm
        .call(
            Method::GET,
            &format!("/v1/pipelines/{sales_id}"),
            admin,
            None,
        )
        .await;
    let response = p
        .authed(
            Method::POST,
            &format!("/v1/pipelines/{sales_id}/stages/{won}:archive"),
            admin,
        )
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["code"], "FAILED_PRECONDITION");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("Closed Won") && detail.contains(&won),
        "{detail}"
    );
    let after = crm
        .call(
            Method::GET,
            &format!("/v1/pipelines/{sales_id}"),
            admin,
            None,
        )
        .await;
    assert_eq!(before, after);

    // The board follows the new order and still shows the archived stage.
    let board = crm
        .call(
            Method::GET,
            &format!("/v1/pipelines/{sales_id}/board"),
            admin,
            None,
        )
        .await;
    let columns: Vec<(String, bool, String)> = board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["stage"]["name"].as_str().unwrap_or_default().to_owned(),
                c["stage"]["archived"].as_bool().unwrap_or(false),
                c["count"].as_str().unwrap_or("0").to_owned(),
            )
        })
        .collect();
    let expected = [
        ("Prospecting", true, "0"),
        ("Demo", false, "0"),
        ("Qualification", false, "1"),
        ("Negotiation", false, "0"),
        ("Closed Won", false, "0"),
        ("Closed Lost", false, "1"),
    ]
    .map(|(n, a, c)| (n.to_owned(), a, c.to_owned()));
    assert_eq!(columns, expected, "{board}");

    // History names every stage the lost deal went through, archived Prospecting included.
    let history = crm
        .call(
            Method::GET,
            &format!("/v1/opportunities/{}/stageHistory", deals[1]),
            &rep,
            None,
        )
        .await;
    let moves: Vec<(String, String)> = history["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["fromStageId"].as_str().unwrap_or_default().to_owned(),
                c["toStageId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (String::new(), prospecting.clone()),
            (prospecting.clone(), qualification.clone()),
            (qualification.clone(), lost.clone()),
        ]
    );

    // The new routes are in the OpenAPI document.
    let doc = p
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("sent");
    let doc = expect_json(doc, StatusCode::OK).await;
    let paths: Vec<&String> = doc["paths"].as_object().expect("paths").keys().collect();
    for wanted in [
        "/v1/lostReasons",
        ":setDefault",
        "stages:reorder",
        ":archive",
    ] {
        assert!(
            paths.iter().any(|p| p.contains(wanted)),
            "{wanted} not in {paths:?}"
        );
    }
}
