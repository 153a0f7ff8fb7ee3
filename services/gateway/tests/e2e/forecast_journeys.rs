//! The forecast journey over REST: an admin sets the tenant's currency, fiscal year and exchange
//! rates (tenants service) and a quota (commissions); a rep forecasts deals in another currency
//! and overrides a category (CRM); the manager's view of the fiscal quarter shows the rep's
//! converted row, quota and gap, fed by the real events on the shared exchange.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::commissions_journeys::commissions_platform;
use crate::helpers::{PASSWORD, expect_problem, violation_fields};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_manager_runs_the_fiscal_quarter_forecast_over_rest() {
    let platform = commissions_platform().await;
    let p = &platform.platform;
    let tenant = p.tenant("forecast").await;
    let admin = tenant.token.as_str();

    // The CRM has the tenant (its default pipeline) once its queue gets the tenants events.
    let known = testkit::poll_until(DEADLINE, || async {
        let body = p.call(Method::GET, "/v1/pipelines", admin, None).await;
        body["pipelines"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
            .then_some(())
    })
    .await;
    assert!(known.is_some(), "the CRM never learnt of the tenant");

    // EUR, fiscal year from April: FY2027-Q4 is January to March 2027.
    p.call(
        Method::PATCH,
        &format!(
            "/v1/tenants/{}?updateMask=settings.currencyCode,settings.fiscalYearStartMonth",
            tenant.tenant_id
        ),
        admin,
        Some(json!({"settings": {"currencyCode": "EUR", "fiscalYearStartMonth": 4}})),
    )
    .await;
    let rate = p
        .call(
            Method::POST,
            "/v1/exchangeRates:set",
            admin,
            Some(json!({"exchangeRate": {
                "currencyCode": "USD", "effectiveDate": "2026-12-01", "rate": "0.9"
            }})),
        )
        .await;
    assert_eq!(rate["baseCurrencyCode"], "EUR");
    let bad_rate = p
        .authed(Method::POST, "/v1/exchangeRates:set", admin)
        .json(&json!({"exchangeRate": {
            "currencyCode": "USD", "effectiveDate": "2026-12-01", "rate": "-2"
        }}))
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(bad_rate, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["exchangeRate.rate"],
        "{problem}"
    );

    // The rep reports to the admin: the admin's row rolls the rep's forecast up.
    let rep = p
        .call(
            Method::POST,
            "/v1/users",
            admin,
            Some(json!({
                "email": format!("fred@{}.test", tenant.slug),
                "password": PASSWORD,
                "displayName": "fred",
                "role": "ROLE_SALES_REP",
                "managerId": tenant.admin_id,
            })),
        )
        .await;
    let rep_id = rep["id"].as_str().expect("rep id").to_owned();
    let rep_token = p
        .login(
            &tenant.slug,
            &format!("fred@{}.test", tenant.slug),
            PASSWORD,
        )
        .await;

    // A 1000 USD quarter quota; commissions learns of the rep from the tenants events first.
    let quota = json!({"quota": {
        "userId": rep_id, "period": "PERIOD_KIND_QUARTER", "periodStart": "2027-01-01",
        "currencyCode": "USD", "amountMinor": "100000", "fiscalYearStartMonth": 4
    }});
    let set = testkit::poll_until(DEADLINE, || async {
        let response = p
            .authed(Method::PUT, "/v1/commissionQuotas", admin)
            .json(&quota)
            .send()
            .await
            .expect("sent");
        (response.status() == StatusCode::OK).then_some(())
    })
    .await;
    assert!(set.is_some(), "the quota was never accepted");

    // The rep's deals: 200 USD in an early stage, raised to commit by hand.
    let deal = p
        .call(
            Method::POST,
            "/v1/opportunities",
            &rep_token,
            Some(json!({
                "name": "Globex renewal",
                "amount": {"currencyCode": "USD", "units": "200", "nanos": 0},
                "closeDate": "2027-02-15"
            })),
        )
        .await;
    let deal_id = deal["id"].as_str().expect("deal id");
    assert_eq!(deal["effectiveForecastCategory"], "pipeline");
    let deal = p
        .call(
            Method::PATCH,
            &format!("/v1/opportunities/{deal_id}?updateMask=forecastCategory"),
            &rep_token,
            Some(json!({"forecastCategory": "commit"})),
        )
        .await;
    assert_eq!(deal["effectiveForecastCategory"], "commit");

    // The admin's forecast: 180 EUR commit, a 900 EUR quota still to close.
    let path = "/v1/forecast?period=FY2027-Q4";
    let last = std::cell::RefCell::new(Value::Null);
    let row = testkit::poll_until(DEADLINE, || async {
        let body = p.call(Method::GET, path, admin, None).await;
        let row = body["reps"]
            .as_array()
            .and_then(|reps| reps.iter().find(|r| r["userId"] == rep_id.as_str()))
            .cloned();
        let rolled_up = body["managers"]
            .as_array()
            .is_some_and(|m| m.iter().any(|r| r["userId"] == tenant.admin_id.as_str()));
        let ready = body["currencyCode"] == "EUR"
            && rolled_up
            && row.as_ref().is_some_and(|r| r["quota"]["units"] == "900");
        *last.borrow_mut() = body;
        ready.then_some(row).flatten()
    })
    .await
    .unwrap_or_else(|| panic!("forecast never complete; last seen {}", last.borrow()));
    assert_eq!(row["commit"]["units"], "180", "{row}");
    assert_eq!(row["gapToQuota"]["units"], "900", "{row}");
    let body = last.borrow().clone();
    assert_eq!(body["startDate"], "2027-01-01");
    assert_eq!(body["endDate"], "2027-03-31");
    let admin_team = body["managers"]
        .as_array()
        .and_then(|m| m.iter().find(|r| r["userId"] == tenant.admin_id.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("the admin's team row in {body}"));
    assert_eq!(admin_team["commit"]["units"], "180");

    // A period outside the fiscal calendar names the field.
    let outside = p
        .authed(Method::GET, "/v1/forecast?period=FY2027-Q5", admin)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(outside, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["period"], "{problem}");
}
