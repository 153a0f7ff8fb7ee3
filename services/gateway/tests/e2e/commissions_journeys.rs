//! Commissions over REST, as the frontend drives them: the tenants service, the CRM and the
//! commissions service (both trusting the tenants service's keys and fed by the real events on
//! the shared exchange) behind the gateway. A rep wins a deal in the CRM and finds the
//! commission line, the statement and its PDF; reopening the deal claws the line back.

use std::time::Duration;

use base64::Engine;
use chrono::{Datelike, NaiveDate, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Platform, client, expect_json, expect_problem, gateway_for};

/// Generous: events cross two services and the broker on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) struct CommissionsPlatform {
    pub(crate) platform: Platform,
    _crm: crm::testing::TestCrm,
    commissions: commissions::testing::TestCommissions,
}

pub(crate) async fn commissions_platform() -> CommissionsPlatform {
    let tenants = tenants::testing::spawn().await;
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
    CommissionsPlatform {
        platform: Platform::from_parts(base, admin, client(), tenants, stop),
        _crm: crm,
        commissions,
    }
}

/// First day of the calendar quarter of `day` (the CRM closes deals on the day of the move).
fn quarter_start(day: NaiveDate) -> NaiveDate {
    let month = (day.month0() / 3) * 3 + 1;
    NaiveDate::from_ymd_opt(day.year(), month, 1).expect("valid quarter start")
}

/// The rep's lines of the quarter once `done` holds for them, or a failure naming what was seen.
async fn lines_when(
    p: &Platform,
    token: &str,
    quarter: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/v1/commissionLines?period=PERIOD_KIND_QUARTER&periodStart={quarter}");
    let last = std::cell::RefCell::new(Value::Null);
    let (last_ref, done_ref, path_ref) = (&last, &done, path.as_str());
    let found = testkit::poll_until(DEADLINE, || async move {
        let body = p.call(Method::GET, path_ref, token, None).await;
        let lines = body["lines"].as_array().cloned().unwrap_or_default();
        *last_ref.borrow_mut() = body;
        done_ref(&lines).then_some(lines)
    })
    .await;
    found.unwrap_or_else(|| panic!("lines never matched; last seen {}", last.borrow()))
}

fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("a valid pdf");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("text extracts")
}

#[tokio::test]
async fn a_won_deal_pays_the_rep_and_reopening_claws_it_back_over_rest() {
    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("commflow").await;
    let admin = tenant.token.as_str();
    let rep = p.create_user(&tenant, "rita", "ROLE_SALES_REP").await;
    let rep_id = rep["id"].as_str().expect("rep id").to_owned();
    let rep_token = p
        .login(
            &tenant.slug,
            &format!("rita@{}.test", tenant.slug),
            crate::helpers::PASSWORD,
        )
        .await;
    let quarter = quarter_start(Utc::now().date_naive()).to_string();

    // A 10 % flat plan for the rep; the commissions service learns of the rep from the tenants
    // service's event, so the plan is refused (and nothing written) until then.
    let plan = json!({
        "name": "Rita's plan",
        "version": {
            "effectiveFrom": quarter,
            "participantIds": [rep_id],
            "currencyCode": "USD",
            "period": "PERIOD_KIND_QUARTER",
            "flatRateMillionths": "100000"
        }
    });
    let created = testkit::poll_until(DEADLINE, || async {
        let response = p
            .authed(Method::POST, "/v1/commissionPlans", admin)
            .json(&plan)
            .send()
            .await
            .expect("sent");
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(created.is_some(), "the plan was never accepted");

    // The rep wins a 12,000.00 USD deal in the CRM.
    let pipelines = p.call(Method::GET, "/v1/pipelines", &rep_token, None).await;
    let stages = pipelines["pipelines"][0]["stages"]
        .as_array()
        .expect("stages")
        .clone();
    let stage = |category: &str| {
        stages
            .iter()
            .find(|s| s["category"] == category)
            .unwrap_or_else(|| panic!("a {category} stage in {stages:?}"))["id"]
            .clone()
    };
    let deal = p
        .call(
            Method::POST,
            "/v1/opportunities",
            &rep_token,
            Some(json!({
                "name": "Initech rollout",
                "amount": {"currencyCode": "USD", "units": "12000", "nanos": 0}
            })),
        )
        .await;
    let deal_id = deal["id"].as_str().expect("deal id").to_owned();
    assert_eq!(deal["ownerId"], rep_id.as_str());
    p.call(
        Method::POST,
        &format!("/v1/opportunities/{deal_id}:moveStage"),
        &rep_token,
        Some(json!({"stageId": stage("STAGE_CATEGORY_WON")})),
    )
    .await;

    // The line appears for the rep: 10 % of 1,200,000 cents.
    let lines = lines_when(p, &rep_token, &quarter, |lines| !lines.is_empty()).await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["dealId"], deal_id.as_str());
    assert_eq!(line["participantId"], rep_id.as_str());
    assert_eq!(line["kind"], "LINE_KIND_COMMISSION");
    assert_eq!(line["baseMinor"], "1200000");
    assert_eq!(line["amountMinor"], "120000");
    assert_eq!(line["statementPeriodStart"], quarter.as_str());
    assert!(
        line["explanation"].as_str().is_some_and(|e| !e.is_empty()),
        "{line}"
    );

    // The statement, then its PDF, read back as text.
    let statement_query = format!("period=PERIOD_KIND_QUARTER&periodStart={quarter}");
    let statement = p
        .call(
            Method::GET,
            &format!("/v1/commissionStatements?{statement_query}"),
            &rep_token,
            None,
        )
        .await;
    assert_eq!(statement["status"], "STATEMENT_STATUS_DRAFT");
    assert_eq!(statement["currencyCode"], "USD");
    assert_eq!(statement["earnedMinor"], "120000");
    assert_eq!(statement["totalMinor"], "120000");
    let export = p
        .call(
            Method::GET,
            &format!("/v1/commissionStatements:export?{statement_query}&format=EXPORT_FORMAT_PDF"),
            &rep_token,
            None,
        )
        .await;
    assert_eq!(export["contentType"], "application/pdf");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(export["content"].as_str().expect("content"))
        .expect("base64 content");
    let text = pdf_text(&bytes);
    for expected in [
        "Commission statement",
        &format!("quarter {quarter}"),
        "12000.00",
        "1200.00",
        "Total",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from {text}");
    }

    // Another rep may not read Rita's lines.
    p.create_user(&tenant, "otto", "ROLE_SALES_REP").await;
    let otto = p
        .login(
            &tenant.slug,
            &format!("otto@{}.test", tenant.slug),
            crate::helpers::PASSWORD,
        )
        .await;
    let response = p
        .authed(
            Method::GET,
            &format!("/v1/commissionLines?{statement_query}&participantId={rep_id}"),
            &otto,
        )
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::NOT_FOUND).await;

    // Reopening the deal reverses exactly what was credited, in the current period.
    p.call(
        Method::POST,
        &format!("/v1/opportunities/{deal_id}:moveStage"),
        &rep_token,
        Some(json!({"stageId": stage("STAGE_CATEGORY_OPEN")})),
    )
    .await;
    let lines = lines_when(p, &rep_token, &quarter, |lines| lines.len() == 2).await;
    let clawback = lines
        .iter()
        .find(|l| l["reversal"] == true)
        .unwrap_or_else(|| panic!("a clawback in {lines:?}"));
    assert_eq!(clawback["dealId"], deal_id.as_str());
    assert_eq!(clawback["amountMinor"], "-120000");
    let response = p
        .authed(
            Method::GET,
            &format!("/v1/commissionStatements?{statement_query}"),
            &rep_token,
        )
        .send()
        .await
        .expect("sent");
    let statement = expect_json(response, StatusCode::OK).await;
    assert_eq!(statement["clawbacksMinor"], "-120000");
    assert_eq!(statement["totalMinor"], "0");
}

#[tokio::test]
async fn a_product_rate_pays_the_accepted_quote_line_of_a_won_deal_over_rest() {
    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("commprod").await;
    let admin = tenant.token.as_str();
    let rep = p.create_user(&tenant, "pia", "ROLE_SALES_REP").await;
    let rep_id = rep["id"].as_str().expect("rep id").to_owned();
    let rep_token = p
        .login(
            &tenant.slug,
            &format!("pia@{}.test", tenant.slug),
            crate::helpers::PASSWORD,
        )
        .await;
    let quarter = quarter_start(Utc::now().date_naive()).to_string();

    // The admin adds a product priced at 1,500.00 USD in the standard price book.
    let product = p
        .call(
            Method::POST,
            "/v1/products",
            admin,
            Some(json!({"sku": "ROBO-1", "name": "Robot arm"})),
        )
        .await;
    let product_id = product["id"].as_str().expect("product id").to_owned();
    let books = p.call(Method::GET, "/v1/priceBooks", admin, None).await;
    let standard = books["priceBooks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["isStandard"] == true))
        .expect("standard price book")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    p.call(
        Method::POST,
        &format!("/v1/priceBooks/{standard}/entries"),
        admin,
        Some(json!({
            "productId": product_id,
            "unitPrice": {"currencyCode": "USD", "units": "1500", "nanos": 0}
        })),
    )
    .await;

    // 5 % flat, 10 % on the product (accepted once the rep is known to commissions).
    let plan = json!({
        "name": "Pia's plan",
        "version": {
            "effectiveFrom": quarter,
            "participantIds": [rep_id],
            "currencyCode": "USD",
            "period": "PERIOD_KIND_QUARTER",
            "flatRateMillionths": "50000",
            "productRates": [{"productId": product_id, "rateMillionths": "100000"}]
        }
    });
    let created = testkit::poll_until(DEADLINE, || async {
        let response = p
            .authed(Method::POST, "/v1/commissionPlans", admin)
            .json(&plan)
            .send()
            .await
            .expect("sent");
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(created.is_some(), "the plan was never accepted");

    // The rep quotes 4 arms less 10 % (5,400.00) plus 20 % tax, the customer accepts (the deal
    // takes the total, 6,480.00) and the rep wins the deal.
    let deal = p
        .call(
            Method::POST,
            "/v1/opportunities",
            &rep_token,
            Some(json!({
                "name": "Robotics cell",
                "amount": {"currencyCode": "USD", "units": "1000", "nanos": 0}
            })),
        )
        .await;
    let deal_id = deal["id"].as_str().expect("deal id").to_owned();
    let quote = p
        .call(
            Method::POST,
            "/v1/quotes",
            &rep_token,
            Some(json!({
                "opportunityId": deal_id,
                "name": "Cell offer",
                "lineItems": [
                    {"productId": product_id, "quantity": "4", "discountRatePpm": 100000}
                ],
                "taxRatePpm": 200000
            })),
        )
        .await;
    let quote_id = quote["id"].as_str().expect("quote id").to_owned();
    for verb in ["send", "accept"] {
        p.call(
            Method::POST,
            &format!("/v1/quotes/{quote_id}:{verb}"),
            &rep_token,
            Some(json!({})),
        )
        .await;
    }
    let pipelines = p.call(Method::GET, "/v1/pipelines", &rep_token, None).await;
    let won_stage = pipelines["pipelines"][0]["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["category"] == "STAGE_CATEGORY_WON"))
        .expect("a won stage")["id"]
        .clone();
    p.call(
        Method::POST,
        &format!("/v1/opportunities/{deal_id}:moveStage"),
        &rep_token,
        Some(json!({"stageId": won_stage})),
    )
    .await;

    // 10 % of the 5,400.00 line, then 5 % of the rest of the deal (1,080.00).
    let lines = lines_when(p, &rep_token, &quarter, |lines| lines.len() == 2).await;
    let product_line = lines
        .iter()
        .find(|l| l["productId"] == product_id.as_str())
        .unwrap_or_else(|| panic!("a product line in {lines:?}"));
    assert_eq!(product_line["dealId"], deal_id.as_str());
    assert_eq!(product_line["baseMinor"], "540000");
    assert_eq!(product_line["rateMillionths"], "100000");
    assert_eq!(product_line["amountMinor"], "54000");
    assert_eq!(
        product_line["explanation"],
        "5400.00 of bookings at product rate 10% for ROBO-1 (Robot arm)"
    );
    let rest = lines
        .iter()
        .find(|l| l["productId"].as_str().is_none_or(str::is_empty))
        .unwrap_or_else(|| panic!("a schedule line in {lines:?}"));
    assert_eq!(rest["baseMinor"], "108000");
    assert_eq!(rest["amountMinor"], "5400");
    let statement = p
        .call(
            Method::GET,
            &format!("/v1/commissionStatements?period=PERIOD_KIND_QUARTER&periodStart={quarter}"),
            &rep_token,
            None,
        )
        .await;
    assert_eq!(statement["earnedMinor"], "59400");
}

#[tokio::test]
async fn a_suspended_tenant_is_refused_by_commissions_until_reactivated_over_rest() {
    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("commsusp").await;
    let admin = tenant.token.as_str();
    let plans = |token: &str| p.authed(Method::GET, "/v1/commissionPlans", token).send();
    let served = plans(admin).await.expect("sent");
    expect_json(served, StatusCode::OK).await;

    let operator = p.tenants.operator_token.as_str();
    let suspend = p
        .authed(
            Method::POST,
            &format!("/v1/tenants/{}:suspend", tenant.tenant_id),
            operator,
        )
        .json(&json!({"reason": "unpaid"}))
        .send()
        .await
        .expect("suspend sent");
    expect_json(suspend, StatusCode::OK).await;
    // The token still verifies at the edge; commissions refuses once the event reaches it.
    let refused = testkit::poll_until(DEADLINE, || async {
        let response = plans(admin).await.ok()?;
        (response.status() == StatusCode::UNAUTHORIZED).then_some(response)
    })
    .await
    .expect("commissions never refused the suspended tenant");
    let problem = expect_problem(refused, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["code"], "UNAUTHENTICATED", "{problem}");

    let reactivate = p
        .authed(
            Method::POST,
            &format!("/v1/tenants/{}:reactivate", tenant.tenant_id),
            operator,
        )
        .json(&json!({}))
        .send()
        .await
        .expect("reactivate sent");
    expect_json(reactivate, StatusCode::OK).await;
    let back = testkit::poll_until(DEADLINE, || async {
        let response = plans(admin).await.ok()?;
        (response.status() == StatusCode::OK).then_some(response)
    })
    .await
    .expect("commissions never let the reactivated tenant back in");
    expect_json(back, StatusCode::OK).await;
}

/// `body[field]` as the string it must be (int64 fields are JSON strings).
fn text(body: &Value, field: &str) -> String {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
        .to_owned()
}

#[tokio::test]
async fn a_statement_browsed_quotas_uploaded_and_a_deal_estimated_over_rest() {
    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("commbrowse").await;
    let admin = tenant.token.as_str();
    let rep = p.create_user(&tenant, "sara", "ROLE_SALES_REP").await;
    let rep_id = text(&rep, "id");
    let rep_token = p
        .login(
            &tenant.slug,
            &format!("sara@{}.test", tenant.slug),
            crate::helpers::PASSWORD,
        )
        .await;
    let quarter = quarter_start(Utc::now().date_naive()).to_string();
    let period = format!("period=PERIOD_KIND_QUARTER&periodStart={quarter}");

    // A 10 % plan, accepted once commissions knows the rep.
    let plan = json!({
        "name": "Sara's plan",
        "version": {
            "effectiveFrom": quarter,
            "participantIds": [rep_id],
            "currencyCode": "USD",
            "period": "PERIOD_KIND_QUARTER",
            "flatRateMillionths": "100000"
        }
    });
    let created = testkit::poll_until(DEADLINE, || async {
        let response = p
            .authed(Method::POST, "/v1/commissionPlans", admin)
            .json(&plan)
            .send()
            .await
            .expect("sent");
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(created.is_some(), "the plan was never accepted");

    // The admin uploads the quarter's quotas; a row for a user the tenant does not have fails
    // alone, naming its column.
    let stranger = "0190c0de-0000-7000-8000-000000000000";
    let csv = format!(
        "user_id,period,period_start,currency_code,amount_minor\n\
         {rep_id},quarter,{quarter},USD,10000000\n\
         {stranger},quarter,{quarter},USD,5000000\n"
    );
    let report = p
        .call(
            Method::POST,
            "/v1/commissionQuotas:upload",
            admin,
            Some(json!({"csv": csv})),
        )
        .await;
    assert_eq!(report["createdCount"], 1, "{report}");
    assert_eq!(report["failedCount"], 1, "{report}");
    let bad = &report["rows"][1];
    assert_eq!(bad["row"], 3);
    assert_eq!(bad["result"], "QUOTA_ROW_RESULT_FAILED");
    assert_eq!(bad["errors"][0]["column"], "user_id");
    let own_quotas = p
        .call(Method::GET, "/v1/commissionQuotas", &rep_token, None)
        .await;
    assert_eq!(own_quotas["quotas"][0]["amountMinor"], "10000000");

    // The rep wins two deals (12,000.00 and 3,000.00) and keeps a third one open.
    let pipelines = p.call(Method::GET, "/v1/pipelines", &rep_token, None).await;
    let won_stage = pipelines["pipelines"][0]["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["category"] == "STAGE_CATEGORY_WON"))
        .expect("a won stage")["id"]
        .clone();
    let mut deals = Vec::new();
    for (name, units) in [("Alpha", "12000"), ("Beta", "3000"), ("Gamma", "20000")] {
        let deal = p
            .call(
                Method::POST,
                "/v1/opportunities",
                &rep_token,
                Some(json!({
                    "name": name,
                    "amount": {"currencyCode": "USD", "units": units, "nanos": 0}
                })),
            )
            .await;
        deals.push(text(&deal, "id"));
    }
    for deal in &deals[..2] {
        p.call(
            Method::POST,
            &format!("/v1/opportunities/{deal}:moveStage"),
            &rep_token,
            Some(json!({"stageId": won_stage})),
        )
        .await;
    }
    lines_when(p, &rep_token, &quarter, |lines| lines.len() == 2).await;

    // The rep's statements: this quarter's, without its lines.
    let listed = p
        .call(
            Method::GET,
            "/v1/commissionStatements:list",
            &rep_token,
            None,
        )
        .await;
    let statements = listed["statements"].as_array().expect("statements");
    assert_eq!(statements.len(), 1, "{listed}");
    assert_eq!(statements[0]["participantId"], rep_id.as_str());
    assert_eq!(statements[0]["periodStart"], quarter.as_str());
    assert_eq!(statements[0]["earnedMinor"], "150000");

    // Its lines, one page at a time.
    let first = p
        .call(
            Method::GET,
            &format!("/v1/commissionLines?{period}&pageSize=1"),
            &rep_token,
            None,
        )
        .await;
    assert_eq!(first["lines"].as_array().map(Vec::len), Some(1));
    let token = text(&first, "nextPageToken");
    let second = p
        .call(
            Method::GET,
            &format!("/v1/commissionLines?{period}&pageSize=1&pageToken={token}"),
            &rep_token,
            None,
        )
        .await;
    assert_eq!(second["lines"].as_array().map(Vec::len), Some(1));
    assert!(
        second["nextPageToken"].as_str().is_none_or(str::is_empty),
        "{second}"
    );
    let amounts = [&first, &second].map(|page| page["lines"][0]["amountMinor"].clone());
    assert_eq!(amounts, [json!("120000"), json!("30000")]);

    // What the open deal would pay if it closed today: 10 % of 20,000.00, taking the rep from
    // 15 % to 35 % of quota.
    let open = &deals[2];
    let estimate = testkit::poll_until(DEADLINE, || async {
        let response = p
            .authed(
                Method::GET,
                &format!("/v1/commissionEstimate?opportunityId={open}"),
                &rep_token,
            )
            .send()
            .await
            .ok()?;
        if response.status() != StatusCode::OK {
            return None;
        }
        response.json::<Value>().await.ok()
    })
    .await
    .expect("the open deal never reached the estimator");
    assert_eq!(estimate["creditedMinor"], "2000000", "{estimate}");
    assert_eq!(estimate["commissionMinor"], "200000");
    assert_eq!(estimate["attainedBeforeMinor"], "1500000");
    assert_eq!(estimate["attainmentBeforeBasisPoints"], "1500");
    assert_eq!(estimate["attainmentAfterBasisPoints"], "3500");
    assert_eq!(estimate["lines"][0]["rateMillionths"], "100000");
    // Reading only: still two lines.
    assert_eq!(lines_when(p, &rep_token, &quarter, |_| true).await.len(), 2);

    // The admin approves the statement: the rep is told through the outbox.
    let approved = p
        .call(
            Method::POST,
            "/v1/commissionStatements:setStatus",
            admin,
            Some(json!({
                "participantId": rep_id,
                "period": "PERIOD_KIND_QUARTER",
                "periodStart": quarter,
                "status": "STATEMENT_STATUS_APPROVED"
            })),
        )
        .await;
    assert_eq!(approved["status"], "STATEMENT_STATUS_APPROVED");
    let tenant_id = tenant.tenant_id.parse().expect("tenant uuid");
    let events = platform.commissions.outbox_event_types(tenant_id).await;
    assert!(
        events.iter().any(|e| e == "commissions.statement.approved"),
        "{events:?}"
    );
}
