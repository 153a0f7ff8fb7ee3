//! Duplicate detection on create: the matching rules, force, visibility of candidates, the
//! FindDuplicates RPC and its bad input.

use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::helpers::{As, Db, assert_invalid, team};

fn duplicates(user: &As) -> pb::duplicate_service_client::DuplicateServiceClient<Channel> {
    pb::duplicate_service_client::DuplicateServiceClient::new(user.channel())
}

fn lead(first: &str, last: &str, email: &str, phone: &str) -> pb::CreateLeadRequest {
    pb::CreateLeadRequest {
        first_name: first.to_owned(),
        last_name: last.to_owned(),
        email: email.to_owned(),
        phone: phone.to_owned(),
        ..Default::default()
    }
}

fn account(name: &str, domain: &str) -> pb::CreateAccountRequest {
    pb::CreateAccountRequest {
        account: Some(pb::Account {
            name: name.to_owned(),
            domain: domain.to_owned(),
            ..Default::default()
        }),
        force: false,
    }
}

/// The precondition-failure subjects of a refused create (`leads/<id>`, or `hidden`).
fn subjects(status: &tonic::Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    status
        .get_error_details()
        .precondition_failure()
        .map(|p| {
            p.violations
                .iter()
                .map(|v| (v.subject.clone(), v.r#type.clone()))
                .collect()
        })
        .unwrap_or_default()
}

async fn find(
    user: &As,
    record: pb::find_duplicates_request::Record,
) -> pb::FindDuplicatesResponse {
    duplicates(user)
        .find_duplicates(user.req(pb::FindDuplicatesRequest {
            record: Some(record),
        }))
        .await
        .expect("duplicates found")
        .into_inner()
}

#[tokio::test]
async fn a_lead_matching_by_email_phone_or_name_is_refused_unless_forced() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let first = rep
        .leads()
        .create_lead(rep.req(lead("Ann", "Lee", "Ann.Lee@Acme.test", "+49 30 1234567")))
        .await
        .expect("first lead")
        .into_inner();

    for (probe, rule) in [
        (lead("Bob", "Smith", "ann.lee@ACME.test", ""), "email"),
        (lead("Bob", "Smith", "", "+49301234567"), "phone"),
        (lead(" ann ", "LEE.", "other@acme.test", ""), "name"),
    ] {
        let status = rep
            .leads()
            .create_lead(rep.req(probe))
            .await
            .expect_err("duplicate refused");
        assert_eq!(
            subjects(&status),
            [(format!("leads/{}", first.id), rule.to_owned())],
            "{rule}"
        );
    }
    // Same email domain, other person: not a duplicate.
    rep.leads()
        .create_lead(rep.req(lead("Bob", "Smith", "bob@acme.test", "")))
        .await
        .expect("a colleague at the same company is no duplicate");
    // Forced, the duplicate is created; then both match a third attempt.
    let mut forced = lead("Ann", "Lee", "ann.lee@acme.test", "");
    forced.force = true;
    let second = rep
        .leads()
        .create_lead(rep.req(forced))
        .await
        .expect("forced create")
        .into_inner();
    let found = find(
        rep,
        pb::find_duplicates_request::Record::Lead(lead("Ann", "Lee", "ann.lee@acme.test", "")),
    )
    .await;
    let ids: Vec<&str> = found.candidates.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [second.id.as_str(), first.id.as_str()], "newest first");
    assert_eq!(
        found.candidates[0].matched_rules,
        [
            pb::DuplicateRule::Email as i32,
            pb::DuplicateRule::Name as i32
        ]
    );
    assert_eq!(found.candidates[0].record_type, pb::RecordType::Lead as i32);
    assert_eq!(found.candidates[0].display_name, "Ann Lee");
    assert_eq!(found.hidden_count, 0);
    // Refused creates wrote nothing.
    assert_eq!(
        db.count(
            "SELECT count(*) FROM leads WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        3
    );
}

#[tokio::test]
async fn people_match_across_contacts_and_leads() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let contact = rep
        .contacts()
        .create_contact(rep.req(pb::CreateContactRequest {
            contact: Some(pb::Contact {
                first_name: "Grace".into(),
                last_name: "Hopper".into(),
                emails: vec!["grace@navy.test".into(), "gh@home.test".into()],
                phones: vec!["+1 202 555 0100".into()],
                ..Default::default()
            }),
            force: false,
        }))
        .await
        .expect("contact")
        .into_inner();
    let status = rep
        .leads()
        .create_lead(rep.req(lead("G.", "H.", "GH@home.test", "")))
        .await
        .expect_err("the lead is already a contact");
    assert_eq!(
        subjects(&status),
        [(format!("contacts/{}", contact.id), "email".to_owned())]
    );
    let status = rep
        .contacts()
        .create_contact(rep.req(pb::CreateContactRequest {
            contact: Some(pb::Contact {
                first_name: "Amazing".into(),
                last_name: "Grace".into(),
                phones: vec!["+12025550100".into()],
                ..Default::default()
            }),
            force: false,
        }))
        .await
        .expect_err("same phone");
    assert_eq!(
        subjects(&status),
        [(format!("contacts/{}", contact.id), "phone".to_owned())]
    );
}

#[tokio::test]
async fn accounts_match_by_domain_or_name_without_legal_form() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let acme = rep
        .accounts()
        .create_account(rep.req(account("ACME GmbH & Co. KG", "acme.test")))
        .await
        .expect("account")
        .into_inner();
    for (probe, rule) in [
        (account("Acme, Inc.", ""), "name"),
        (account("Roadrunner Supplies", "ACME.test"), "domain"),
        (account("acme ltd", "acme.test"), "name,domain"),
    ] {
        let status = rep
            .accounts()
            .create_account(rep.req(probe))
            .await
            .expect_err("duplicate account");
        assert_eq!(
            subjects(&status),
            [(format!("accounts/{}", acme.id), rule.to_owned())]
        );
    }
    rep.accounts()
        .create_account(rep.req(account("Acme Rockets", "rockets.test")))
        .await
        .expect("another name and domain is another company");
}

#[tokio::test]
async fn duplicates_the_caller_cannot_see_are_only_counted() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let theirs = t
        .other_rep
        .leads()
        .create_lead(t.other_rep.req(lead("Ann", "Lee", "ann@acme.test", "")))
        .await
        .expect("other rep's lead")
        .into_inner();
    let status = t
        .rep
        .leads()
        .create_lead(t.rep.req(lead("Ann", "Lee", "ann@acme.test", "")))
        .await
        .expect_err("hidden duplicate");
    assert_eq!(
        subjects(&status),
        [("hidden".to_owned(), "hidden".to_owned())]
    );
    assert!(!status.message().contains(&theirs.id), "{status:?}");
    let found = find(
        &t.rep,
        pb::find_duplicates_request::Record::Lead(lead("Ann", "Lee", "", "")),
    )
    .await;
    assert!(found.candidates.is_empty());
    assert_eq!(found.hidden_count, 1);
    // The admin sees it.
    let found = find(
        &t.admin,
        pb::find_duplicates_request::Record::Lead(lead("Ann", "Lee", "", "")),
    )
    .await;
    assert_eq!(found.candidates[0].id, theirs.id);
    assert_eq!(found.hidden_count, 0);
}

#[tokio::test]
async fn find_duplicates_validates_like_create() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let status = duplicates(&t.rep)
        .find_duplicates(t.rep.req(pb::FindDuplicatesRequest { record: None }))
        .await
        .expect_err("no record");
    assert_invalid(&status, &["record"]);
    let status = duplicates(&t.rep)
        .find_duplicates(t.rep.req(pb::FindDuplicatesRequest {
            record: Some(pb::find_duplicates_request::Record::Lead(lead(
                "Ann",
                "",
                "not-an-email",
                "",
            ))),
        }))
        .await
        .expect_err("bad lead");
    assert_invalid(&status, &["lead.last_name", "lead.email"]);
    let status = duplicates(&t.support)
        .find_duplicates(t.support.req(pb::FindDuplicatesRequest {
            record: Some(pb::find_duplicates_request::Record::Lead(lead(
                "Ann", "Lee", "", "",
            ))),
        }))
        .await
        .expect_err("support does not create records");
    assert_eq!(status.code(), Code::PermissionDenied);
}
