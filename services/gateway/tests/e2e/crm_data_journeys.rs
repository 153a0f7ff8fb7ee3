//! The CRM journeys of the data screens over REST: a CSV import job of a 10,000-row file in
//! chunks with its bad rows reported, a paged CSV export of a filtered list, read masks, search
//! scoped to what the caller may read, a lead shared with a colleague, and a support case that
//! misses its SLA.

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crm_journeys::{CrmPlatform, crm_platform};
use crate::helpers::{PASSWORD, expect_json, expect_problem};

const ROWS: usize = 10_000;
/// What a browser would send per request: well under the gateway's JSON body limit once
/// base64-encoded, and a few seconds of work at most.
const CHUNK_BYTES: usize = 64 * 1024;

/// The import file and the (row, field) pairs its bad rows must be reported with.
fn lead_file() -> (String, Vec<(i64, String)>) {
    let mut csv = String::from("First,Last,E-mail,Staff,Comment\r\n");
    let mut bad = Vec::new();
    for i in 0..ROWS {
        let row = i as i64 + 2;
        match i {
            i if i % 997 == 5 => {
                bad.push((row, "email".to_owned()));
                csv.push_str(&format!("Bad,Row{i},not-an-email,1,\r\n"));
            }
            7_777 => {
                bad.push((row, "employee_count".to_owned()));
                csv.push_str(&format!("Many,Row{i},many{i}@import.test,lots,\r\n"));
            }
            _ => csv.push_str(&format!(
                "\"Ann, {i}\",Row{i},lead{i}@import.test,{},\"a \"\"quoted\"\", comma\"\r\n",
                i % 100
            )),
        }
    }
    (csv, bad)
}

async fn import_leads(crm: &CrmPlatform, token: &str, csv: &[u8]) -> Value {
    let job = crm
        .call(
            Method::POST,
            "/v1/importJobs",
            token,
            Some(json!({
                "recordType": "RECORD_TYPE_LEAD",
                "columnMapping": {"First": "first_name", "Last": "last_name",
                                  "E-mail": "email", "Staff": "employee_count"},
            })),
        )
        .await;
    assert_eq!(job["state"], "IMPORT_JOB_STATE_UPLOADING");
    let id = job["id"].as_str().expect("job id").to_owned();
    let mut offset = 0;
    for chunk in csv.chunks(CHUNK_BYTES) {
        let progress = crm
            .call(
                Method::POST,
                &format!("/v1/importJobs/{id}:append"),
                token,
                Some(json!({
                    "offset": offset.to_string(),
                    "data": base64::engine::general_purpose::STANDARD.encode(chunk),
                })),
            )
            .await;
        offset += chunk.len();
        assert_eq!(progress["receivedBytes"], offset.to_string());
    }
    crm.call(
        Method::POST,
        &format!("/v1/importJobs/{id}:complete"),
        token,
        Some(json!({})),
    )
    .await
}

/// Every (row, field) of the job's report, read page by page.
async fn report(crm: &CrmPlatform, token: &str, id: &str) -> Vec<(i64, String)> {
    let mut lines = Vec::new();
    let mut token_param = String::new();
    loop {
        let page = crm
            .call(
                Method::GET,
                &format!("/v1/importJobs/{id}/errors?pageSize=4{token_param}"),
                token,
                None,
            )
            .await;
        for e in page["errors"].as_array().expect("errors") {
            let row = e["row"].as_str().expect("row").parse().expect("number");
            lines.push((row, e["field"].as_str().expect("field").to_owned()));
            assert!(!e["message"].as_str().unwrap_or_default().is_empty());
        }
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token_param = format!("&pageToken={next}"),
            _ => return lines,
        }
    }
}

/// The rows of a paged export, header first, and the number of pages.
async fn export(crm: &CrmPlatform, token: &str, filter: &str) -> (Vec<Vec<String>>, usize) {
    let filter: String = url_encode(filter);
    let mut csv = String::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let page = crm
            .call(
                Method::GET,
                &format!(
                    "/v1/exports:page?recordType=RECORD_TYPE_LEAD&filter={filter}\
                     &orderBy=last_name&pageSize=250{page_token}"
                ),
                token,
                None,
            )
            .await;
        csv.push_str(page["csv"].as_str().expect("csv"));
        pages += 1;
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => page_token = format!("&pageToken={next}"),
            _ => break,
        }
    }
    let mut reader = crm::domain::csv::RowReader::default();
    let mut rows = reader.feed(csv.as_bytes()).expect("valid csv");
    rows.extend(reader.feed(b"").expect("valid csv"));
    (rows.into_iter().map(|(_, r)| r).collect(), pages)
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_10000_row_csv_imports_through_rest_with_bad_rows_reported_and_exports_back() {
    let crm = crm_platform().await;
    let tenant = crm.platform.tenant("csvjob").await;
    let admin = tenant.token.as_str();
    let (csv, bad) = lead_file();

    let done = import_leads(&crm, admin, csv.as_bytes()).await;
    let id = done["id"].as_str().expect("id");
    assert_eq!(done["state"], "IMPORT_JOB_STATE_SUCCEEDED", "{done}");
    assert_eq!(done["rowsRead"], ROWS.to_string());
    assert_eq!(done["created"], (ROWS - bad.len()).to_string());
    assert_eq!(done["rejected"], bad.len().to_string());
    assert_eq!(report(&crm, admin, id).await, bad);
    let polled = crm
        .call(Method::GET, &format!("/v1/importJobs/{id}"), admin, None)
        .await;
    assert_eq!(polled["created"], done["created"]);

    // A chunk that does not follow the received bytes is a problem, not a second import.
    let response = crm
        .platform
        .authed(Method::POST, &format!("/v1/importJobs/{id}:append"), admin)
        .json(&json!({"offset": "5", "data": "YQ=="}))
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::BAD_REQUEST).await;

    // Leads with 95..99 staff: 5 in every 100 rows, minus the bad ones among them.
    let expected: Vec<String> = (0..ROWS)
        .filter(|i| i % 100 >= 95 && i % 997 != 5 && *i != 7_777)
        .map(|i| format!("Row{i}"))
        .collect();
    let (rows, pages) = export(&crm, admin, "employee_count >= 95").await;
    assert_eq!(rows[0][..3], ["id", "first_name", "last_name"]);
    let mut exported: Vec<String> = rows[1..].iter().map(|r| r[2].clone()).collect();
    assert_eq!(pages, expected.len().div_ceil(250));
    let mut expected = expected;
    expected.sort();
    exported.sort();
    assert_eq!(exported, expected);
    assert!(rows[1..].iter().all(|r| r[1].starts_with("Ann, ")));

    // A read mask over REST: only the named fields carry values.
    let listed = crm
        .call(
            Method::GET,
            "/v1/leads?pageSize=2&readMask=lastName,email",
            admin,
            None,
        )
        .await;
    let first = &listed["leads"][0];
    assert!(
        first["email"]
            .as_str()
            .is_some_and(|e| e.ends_with("@import.test"))
    );
    assert_eq!(first["id"], "");
    assert_eq!(first["firstName"], "");
    let response = crm
        .platform
        .authed(Method::GET, "/v1/leads?readMask=lastName,shoeSize", admin)
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let text = problem.to_string();
    assert!(
        text.contains("shoe_size") || text.contains("shoeSize"),
        "{problem}"
    );
}

#[tokio::test]
async fn search_finds_records_by_words_and_misspelt_names_within_what_the_caller_sees() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("search").await;
    let admin = tenant.token.as_str();
    let rep = p.create_user(&tenant, "rep", "ROLE_SALES_REP").await;
    let rep_token = p
        .login(
            &tenant.slug,
            rep["email"].as_str().expect("email"),
            PASSWORD,
        )
        .await;

    let account = crm
        .call(
            Method::POST,
            "/v1/accounts",
            admin,
            Some(json!({"name": "Globex Corporation", "domain": "globex.test"})),
        )
        .await;
    let lead = crm
        .call(
            Method::POST,
            "/v1/leads",
            &rep_token,
            Some(json!({"firstName": "Zebulon", "lastName": "Zabrisky", "company": "Quillworks"})),
        )
        .await;

    let found = crm
        .call(Method::GET, "/v1/search?query=globex", admin, None)
        .await;
    assert_eq!(
        found["results"][0]["record"]["id"], account["id"],
        "{found}"
    );
    assert_eq!(found["results"][0]["record"]["type"], "RECORD_TYPE_ACCOUNT");
    let fuzzy = crm
        .call(Method::GET, "/v1/search?query=Zabrisk", admin, None)
        .await;
    let ids: Vec<&Value> = fuzzy["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| &r["record"]["id"])
        .collect();
    assert_eq!(
        ids,
        [&lead["id"]],
        "a misspelt name is still found: {fuzzy}"
    );

    // The rep reads only their own records.
    let hidden = crm
        .call(Method::GET, "/v1/search?query=globex", &rep_token, None)
        .await;
    assert_eq!(hidden["results"], json!([]), "{hidden}");
    let own = crm
        .call(Method::GET, "/v1/search?query=quillworks", &rep_token, None)
        .await;
    assert_eq!(own["results"][0]["record"]["id"], lead["id"]);

    let response = p
        .authed(Method::GET, "/v1/search?query=", admin)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_case_that_misses_its_sla_is_marked_breached_and_listed() {
    let crm = crm_platform().await;
    let tenant = crm.platform.tenant("sla").await;
    let admin = tenant.token.as_str();
    let case = crm
        .call(
            Method::POST,
            "/v1/cases",
            admin,
            Some(json!({"subject": "Cannot log in", "priority": "CASE_PRIORITY_URGENT"})),
        )
        .await;
    let id = case["id"].as_str().expect("id");
    assert_eq!(case["slaBreached"], false);
    let due = chrono::DateTime::parse_from_rfc3339(
        case["firstResponseDueTime"].as_str().expect("due time"),
    )
    .expect("RFC 3339")
    .with_timezone(&chrono::Utc);

    // The sweeper's run, with the clock just before and then past the first-response target.
    assert_eq!(
        crm.crm.sweep_sla(due - chrono::Duration::seconds(1)).await,
        0
    );
    let on_time = crm
        .call(Method::GET, &format!("/v1/cases/{id}"), admin, None)
        .await;
    assert_eq!(on_time["slaBreached"], false);
    assert_eq!(
        crm.crm.sweep_sla(due + chrono::Duration::minutes(1)).await,
        1
    );

    let late = crm
        .call(Method::GET, &format!("/v1/cases/{id}"), admin, None)
        .await;
    assert_eq!(late["slaBreached"], true, "{late}");
    assert!(late["slaBreachTime"].is_string());
    let listed = crm
        .call(
            Method::GET,
            "/v1/cases?filter=sla_breached%20%3D%20true",
            admin,
            None,
        )
        .await;
    let ids: Vec<&Value> = listed["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(ids, [&case["id"]]);

    // Responding late does not undo the breach.
    let responded = crm
        .call(
            Method::POST,
            &format!("/v1/cases/{id}:respond"),
            admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(responded["slaBreached"], true);
}

#[tokio::test]
async fn a_rep_shares_a_lead_with_a_colleague_and_takes_it_back_over_rest() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("sharing").await;
    let mut reps = Vec::new();
    for name in ["ada", "bo"] {
        let user = p.create_user(&tenant, name, "ROLE_SALES_REP").await;
        let token = p
            .login(
                &tenant.slug,
                user["email"].as_str().expect("email"),
                PASSWORD,
            )
            .await;
        reps.push((user["id"].as_str().expect("id").to_owned(), token));
    }
    let [(_, ada), (bo_id, bo)] = &reps[..] else {
        unreachable!("two reps")
    };
    let lead = crm
        .call(
            Method::POST,
            "/v1/leads",
            ada,
            Some(json!({"lastName": "Shared", "company": "Initech"})),
        )
        .await;
    let lead_path = format!("/v1/leads/{}", lead["id"].as_str().expect("lead id"));
    let response = p
        .authed(Method::GET, &lead_path, bo)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::NOT_FOUND).await;

    // Bo reaches the CRM through the tenants events; until then he is an unknown user.
    let shares_path = format!("{lead_path}/shares");
    let body = json!({"userId": bo_id, "access": "SHARE_ACCESS_READ"});
    let share = testkit::poll_until(std::time::Duration::from_secs(30), || async {
        let response = p
            .authed(Method::POST, &shares_path, ada)
            .json(&body)
            .send()
            .await
            .expect("sent");
        (response.status() == StatusCode::OK).then_some(response)
    })
    .await
    .expect("the lead is shared once the CRM knows the colleague");
    let share = expect_json(share, StatusCode::OK).await;
    assert_eq!(share["userId"], bo_id.as_str(), "{share}");
    assert_eq!(share["access"], "SHARE_ACCESS_READ");
    assert_eq!(share["recordType"], "RECORD_TYPE_LEAD");

    let read = crm.call(Method::GET, &lead_path, bo, None).await;
    assert_eq!(read["id"], lead["id"]);
    let listed = crm.call(Method::GET, &shares_path, ada, None).await;
    assert_eq!(listed["shares"][0]["userId"], bo_id.as_str(), "{listed}");
    // Read-only: Bo's change is refused, and so is a bad access level.
    let response = p
        .authed(Method::PATCH, &lead_path, bo)
        .query(&[("updateMask", "lastName")])
        .json(&json!({"lastName": "Mine"}))
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = p
        .authed(Method::POST, &shares_path, ada)
        .json(&json!({"userId": bo_id, "access": "SHARE_ACCESS_OWN"}))
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::BAD_REQUEST).await;

    let response = p
        .authed(Method::DELETE, &format!("{shares_path}/{bo_id}"), ada)
        .send()
        .await
        .expect("sent");
    expect_json(response, StatusCode::OK).await;
    let response = p
        .authed(Method::GET, &lead_path, bo)
        .send()
        .await
        .expect("sent");
    expect_problem(response, StatusCode::NOT_FOUND).await;
    let listed = crm.call(Method::GET, &shares_path, ada, None).await;
    assert_eq!(
        listed["shares"].as_array().map_or(0, Vec::len),
        0,
        "{listed}"
    );
}
