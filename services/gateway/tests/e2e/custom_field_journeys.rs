//! Custom fields over REST as the settings screen and the record forms use them (issue 23):
//! an admin defines fields of the newer types with a default, reps fill them in, the admin then
//! renames, adds and tries to retire picklist options while records hold them, and bad values
//! (a lookup into another tenant, a retired option) come back as problems naming the field.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::crm_journeys::{CrmPlatform, crm_platform};
use crate::helpers::{expect_json, expect_problem, violation_fields};

async fn define(crm: &CrmPlatform, token: &str, definition: Value) -> Value {
    crm.call(
        Method::POST,
        "/v1/customFieldDefinitions",
        token,
        Some(definition),
    )
    .await
}

async fn create_lead(crm: &CrmPlatform, token: &str, body: Value) -> reqwest::Response {
    crm.platform
        .authed(Method::POST, "/v1/leads", token)
        .json(&body)
        .send()
        .await
        .expect("sent")
}

async fn patch_definition(
    crm: &CrmPlatform,
    token: &str,
    id: &str,
    body: Value,
) -> reqwest::Response {
    crm.platform
        .authed(
            Method::PATCH,
            &format!("/v1/customFieldDefinitions/{id}"),
            token,
        )
        .json(&body)
        .send()
        .await
        .expect("sent")
}

/// Last names of the leads a filter lists, sorted.
async fn lead_names(crm: &CrmPlatform, token: &str, filter: &str) -> Vec<String> {
    let response = crm
        .platform
        .authed(Method::GET, "/v1/leads", token)
        .query(&[("filter", filter)])
        .send()
        .await
        .expect("sent");
    let listed = expect_json(response, StatusCode::OK).await;
    let mut names: Vec<String> = listed["leads"]
        .as_array()
        .map(|leads| {
            leads
                .iter()
                .filter_map(|l| l["lastName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn custom_fields_are_defined_filled_and_changed_without_losing_values() {
    let crm = crm_platform().await;
    let p = &crm.platform;
    let tenant = p.tenant("cfields").await;
    let admin = tenant.token.as_str();
    let other = p.tenant("cfother").await;

    let tier = define(
        &crm,
        admin,
        json!({"recordType": "RECORD_TYPE_LEAD", "key": "tier", "label": "Tier",
               "type": "CUSTOM_FIELD_TYPE_PICKLIST", "options": ["gold", "silver", "bronze"],
               "helpText": "From the yearly review"}),
    )
    .await;
    let tier_id = tier["id"].as_str().expect("id").to_owned();
    assert_eq!(tier["helpText"], "From the yearly review");
    let tags = define(
        &crm,
        admin,
        json!({"recordType": "RECORD_TYPE_LEAD", "key": "tags", "label": "Tags",
               "type": "CUSTOM_FIELD_TYPE_MULTI_PICKLIST", "options": ["hot", "partner"],
               "defaultValue": ["hot"]}),
    )
    .await;
    assert_eq!(tags["defaultValue"], json!(["hot"]));
    define(
        &crm,
        admin,
        json!({"recordType": "RECORD_TYPE_LEAD", "key": "budget", "label": "Budget",
               "type": "CUSTOM_FIELD_TYPE_CURRENCY", "currencyCode": "EUR"}),
    )
    .await;
    let partner = define(
        &crm,
        admin,
        json!({"recordType": "RECORD_TYPE_LEAD", "key": "partner", "label": "Partner",
               "type": "CUSTOM_FIELD_TYPE_LOOKUP", "lookupRecordType": "RECORD_TYPE_ACCOUNT"}),
    )
    .await;
    assert_eq!(partner["lookupRecordType"], "RECORD_TYPE_ACCOUNT");
    for (key, kind) in [
        ("site", "CUSTOM_FIELD_TYPE_URL"),
        ("billing", "CUSTOM_FIELD_TYPE_EMAIL"),
        ("hotline", "CUSTOM_FIELD_TYPE_PHONE"),
    ] {
        define(
            &crm,
            admin,
            json!({"recordType": "RECORD_TYPE_LEAD", "key": key, "label": key, "type": kind}),
        )
        .await;
    }

    // A bad definition is a problem naming its field.
    let response = p
        .authed(Method::POST, "/v1/customFieldDefinitions", admin)
        .json(
            &json!({"recordType": "RECORD_TYPE_LEAD", "key": "stage", "label": "Stage",
                      "type": "CUSTOM_FIELD_TYPE_PICKLIST", "options": ["new"],
                      "defaultValue": "old"}),
        )
        .send()
        .await
        .expect("sent");
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["definition.defaultValue"],
        "{problem}"
    );

    let acme = crm
        .call(
            Method::POST,
            "/v1/accounts",
            admin,
            Some(json!({"name": "Acme", "domain": "acme.test"})),
        )
        .await;
    let acme_id = acme["id"].as_str().expect("id");
    let mut lead_ids = Vec::new();
    for (name, tier) in [("Au", "gold"), ("Ag", "silver"), ("Cu", "bronze")] {
        let response = create_lead(
            &crm,
            admin,
            json!({"lastName": name, "customFields": {
                "tier": tier,
                "tags": ["partner", "hot"],
                "budget": {"currency_code": "EUR", "units": "2500", "nanos": 0},
                "partner": acme_id,
                "site": "https://acme.test",
                "billing": "billing@acme.test",
                "hotline": "+1 (415) 555-0100",
            }}),
        )
        .await;
        let lead = expect_json(response, StatusCode::OK).await;
        assert_eq!(lead["customFields"]["tags"], json!(["hot", "partner"]));
        assert_eq!(lead["customFields"]["hotline"], "+14155550100");
        assert_eq!(lead["customFields"]["budget"]["currency_code"], "EUR");
        lead_ids.push(lead["id"].as_str().expect("id").to_owned());
    }
    let response = create_lead(&crm, admin, json!({"lastName": "Plain"})).await;
    let plain = expect_json(response, StatusCode::OK).await;
    assert_eq!(
        plain["customFields"],
        json!({"tags": ["hot"]}),
        "the default"
    );

    assert_eq!(
        lead_names(
            &crm,
            admin,
            "custom.budget >= 2500 AND custom.tags = partner"
        )
        .await,
        ["Ag", "Au", "Cu"]
    );

    // A lookup into another tenant, or to no record, names the field; nothing is written.
    let theirs = crm
        .call(
            Method::POST,
            "/v1/accounts",
            &other.token,
            Some(json!({"name": "Theirs", "domain": "theirs.test"})),
        )
        .await;
    for target in [
        theirs["id"].as_str().expect("id").to_owned(),
        "0190a4e2-0000-7000-8000-000000000000".to_owned(),
    ] {
        let response = create_lead(
            &crm,
            admin,
            json!({"lastName": "Dangling", "customFields": {"partner": target}}),
        )
        .await;
        let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
        let fields = violation_fields(&problem);
        assert!(
            fields.len() == 1 && fields[0].ends_with("partner"),
            "{problem}"
        );
        assert!(
            problem["errors"][0]["description"]
                .as_str()
                .is_some_and(|d| d.contains("no account")),
            "{problem}"
        );
    }
    assert!(
        lead_names(&crm, admin, "last_name = Dangling")
            .await
            .is_empty()
    );

    // Retiring an option a record holds: refused with the number of records, nothing changes.
    let response = patch_definition(
        &crm,
        admin,
        &tier_id,
        json!({"definition": {"options": ["gold", "silver"]}, "updateMask": "options"}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["definition.options"],
        "{problem}"
    );
    assert!(
        problem["errors"][0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("the values of 1 record ")),
        "{problem}"
    );

    // Rename silver and add tin in one step; the stored value follows the rename.
    let response = patch_definition(
        &crm,
        admin,
        &tier_id,
        json!({"definition": {"options": ["gold", "platinum", "bronze", "tin"],
                              "label": "Customer tier"},
               "updateMask": "options,label",
               "optionRenames": {"silver": "platinum"}}),
    )
    .await;
    let changed = expect_json(response, StatusCode::OK).await;
    assert_eq!(changed["label"], "Customer tier");
    assert_eq!(
        changed["options"],
        json!(["gold", "platinum", "bronze", "tin"])
    );
    let ag = crm
        .call(
            Method::GET,
            &format!("/v1/leads/{}", lead_ids[1]),
            admin,
            None,
        )
        .await;
    assert_eq!(ag["customFields"]["tier"], "platinum");
    assert_eq!(
        lead_names(&crm, admin, "custom.tier = platinum").await,
        ["Ag"]
    );

    // Move the bronze lead to tin; bronze then retires, and is refused on new records.
    let response = p
        .authed(Method::PATCH, &format!("/v1/leads/{}", lead_ids[2]), admin)
        .query(&[("updateMask", "customFields")])
        .json(&json!({"customFields": {"tier": "tin"}}))
        .send()
        .await
        .expect("sent");
    expect_json(response, StatusCode::OK).await;
    let response = patch_definition(
        &crm,
        admin,
        &tier_id,
        json!({"definition": {"options": ["gold", "platinum", "tin"]}, "updateMask": "options"}),
    )
    .await;
    let retired = expect_json(response, StatusCode::OK).await;
    assert_eq!(retired["options"], json!(["gold", "platinum", "tin"]));
    let response = create_lead(
        &crm,
        admin,
        json!({"lastName": "Late", "customFields": {"tier": "bronze"}}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    let fields = violation_fields(&problem);
    assert!(
        fields.len() == 1 && fields[0].ends_with("tier"),
        "{problem}"
    );

    // Required while a lead has no tier: refused with the count.
    let response = patch_definition(
        &crm,
        admin,
        &tier_id,
        json!({"definition": {"required": true}, "updateMask": "required"}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        violation_fields(&problem),
        ["definition.required"],
        "{problem}"
    );

    // The key cannot change.
    let response = patch_definition(
        &crm,
        admin,
        &tier_id,
        json!({"definition": {"key": "level"}, "updateMask": "key"}),
    )
    .await;
    let problem = expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(violation_fields(&problem), ["updateMask"], "{problem}");
}
