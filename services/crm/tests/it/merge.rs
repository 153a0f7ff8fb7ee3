//! Merging duplicates: survivor fields, re-parented children, the loser's tombstone, events
//! and field history; bad input refused without writing anything.
// Get requests gain fields (field masks) on a parallel branch; `..Default::default()` keeps
// these tests compiling across that merge.
#![allow(clippy::needless_update)]

use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

use crate::helpers::{As, Db, Tap, assert_invalid, payload, team, usd};

fn duplicates(user: &As) -> pb::duplicate_service_client::DuplicateServiceClient<Channel> {
    pb::duplicate_service_client::DuplicateServiceClient::new(user.channel())
}

async fn account(user: &As, name: &str, domain: &str, industry: &str) -> pb::Account {
    user.accounts()
        .create_account(user.req(pb::CreateAccountRequest {
            account: Some(pb::Account {
                name: name.into(),
                domain: domain.into(),
                industry: industry.into(),
                ..Default::default()
            }),
            force: true,
        }))
        .await
        .expect("account")
        .into_inner()
}

fn merge_accounts(survivor: &str, loser: &str, fields: &[&str]) -> pb::MergeAccountsRequest {
    pb::MergeAccountsRequest {
        survivor_id: survivor.into(),
        loser_id: loser.into(),
        fields_from_loser: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

#[tokio::test]
async fn merging_accounts_moves_children_and_leaves_a_tombstone() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let survivor = account(rep, "Acme", "", "Rockets").await;
    let loser = account(rep, "ACME GmbH", "acme.test", "Anvils").await;
    let contact = rep
        .contacts()
        .create_contact(rep.req(pb::CreateContactRequest {
            contact: Some(pb::Contact {
                last_name: "Coyote".into(),
                account_id: loser.id.clone(),
                ..Default::default()
            }),
            force: true,
        }))
        .await
        .expect("contact")
        .into_inner();
    let deal = rep
        .opportunities()
        .create_opportunity(rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Anvils".into(),
                amount: Some(usd(900)),
                account_id: loser.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect("deal")
        .into_inner();
    let tap = Tap::bind(&["crm.account.merged", "crm.account.updated"]).await;

    let merged = duplicates(rep)
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &loser.id, &["name"])))
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged.id, survivor.id);
    assert_eq!(merged.name, "ACME GmbH", "chosen from the loser");
    assert_eq!(merged.domain, "acme.test", "blank filled from the loser");
    assert_eq!(merged.industry, "Rockets", "the survivor's value kept");

    let moved = rep
        .contacts()
        .get_contact(rep.req(pb::GetContactRequest {
            id: contact.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("contact")
        .into_inner();
    assert_eq!(moved.account_id, survivor.id);
    let moved = rep
        .opportunities()
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("deal")
        .into_inner();
    assert_eq!(moved.account_id, survivor.id);

    let status = rep
        .accounts()
        .get_account(rep.req(pb::GetAccountRequest {
            id: loser.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("the loser is gone");
    assert_eq!(status.code(), Code::NotFound);
    let pointer = format!("accounts/{}", survivor.id);
    assert!(status.message().contains(&pointer), "{status:?}");
    assert_eq!(
        status
            .get_error_details()
            .resource_info()
            .map(|r| r.resource_name.clone()),
        Some(pointer)
    );
    // The other rep does not learn about the tombstone.
    let status = t
        .other_rep
        .accounts()
        .get_account(t.other_rep.req(pb::GetAccountRequest {
            id: loser.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("invisible");
    assert_eq!(status.message(), "account not found");

    let events = tap
        .wait_for_matching(t.tenant_id, 2, |e| {
            e.event_type == "crm.account.merged"
                || (e.event_type == "crm.account.updated"
                    && payload::<pb::RecordChanged>(e)
                        .changed_fields
                        .contains(&"domain".into()))
        })
        .await;
    let merged_event = events
        .iter()
        .find(|e| e.event_type == "crm.account.merged")
        .expect("merged event");
    let body: pb::RecordMerged = payload(merged_event);
    assert_eq!(body.survivor_id, survivor.id);
    assert_eq!(body.loser_id, loser.id);
    assert_eq!(body.changed_fields, ["name", "domain"]);
    assert_eq!(body.reparented.get("contacts"), Some(&1));
    assert_eq!(body.reparented.get("opportunities"), Some(&1));
    tap.close().await;

    let history: Vec<(String, String)> = sqlx::query_as(
        "SELECT record_type, field FROM field_history
         WHERE tenant_id = $1 AND record_id = ANY($2)
           AND change <> 'create' AND new_value <> 'null'::jsonb
         ORDER BY record_type, field",
    )
    .bind(t.tenant_id)
    .bind(vec![
        uuid::Uuid::parse_str(&survivor.id).expect("id"),
        uuid::Uuid::parse_str(&contact.id).expect("id"),
        uuid::Uuid::parse_str(&loser.id).expect("id"),
    ])
    .fetch_all(&db.pool)
    .await
    .expect("history");
    let history: Vec<(&str, &str)> = history
        .iter()
        .map(|(r, f)| (r.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            ("account", "domain"),
            ("account", "merged_into"),
            ("account", "name"),
            ("contact", "account_id"),
        ]
    );
}

#[tokio::test]
async fn bad_merges_are_refused_and_write_nothing() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let survivor = account(rep, "Initech", "", "").await;
    let loser = account(rep, "Initech Inc", "initech.test", "").await;
    let theirs = account(&t.other_rep, "Initrode", "", "").await;
    let lead = rep.create_lead("Lumbergh", "Initech").await;
    let mut client = duplicates(rep);

    let status = client
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &survivor.id, &[])))
        .await
        .expect_err("into itself");
    assert_invalid(&status, &["loser_id"]);
    let status = client
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &lead.id, &[])))
        .await
        .expect_err("across types");
    assert_invalid(&status, &["loser_id"]);
    let status = client
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &theirs.id, &[])))
        .await
        .expect_err("not the rep's to merge");
    assert_invalid(&status, &["loser_id"]);
    let status = client
        .merge_accounts(rep.req(merge_accounts(&theirs.id, &loser.id, &[])))
        .await
        .expect_err("survivor not visible");
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .merge_accounts(rep.req(merge_accounts("nope", "", &["email"])))
        .await
        .expect_err("bad request");
    assert_invalid(&status, &["survivor_id", "loser_id", "fields_from_loser"]);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event_type = 'crm.account.merged'",
            t.tenant_id
        )
        .await,
        0
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1 AND deleted_at IS NOT NULL",
            t.tenant_id
        )
        .await,
        0,
        "nothing half-written"
    );

    client
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &loser.id, &[])))
        .await
        .expect("merged");
    let status = client
        .merge_accounts(rep.req(merge_accounts(&survivor.id, &loser.id, &[])))
        .await
        .expect_err("already merged");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains(&survivor.id), "{status:?}");
    let status = client
        .merge_accounts(rep.req(merge_accounts(&loser.id, &survivor.id, &[])))
        .await
        .expect_err("a tombstone cannot survive");
    assert_eq!(status.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn merging_contacts_keeps_every_email_and_moves_deals() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let contact = |last: &str, emails: &[&str]| pb::CreateContactRequest {
        contact: Some(pb::Contact {
            last_name: last.into(),
            emails: emails.iter().map(|e| (*e).to_owned()).collect(),
            ..Default::default()
        }),
        force: true,
    };
    let survivor = rep
        .contacts()
        .create_contact(rep.req(contact("Lovelace", &["ada@a.test", "ada@b.test"])))
        .await
        .expect("survivor")
        .into_inner();
    let loser = rep
        .contacts()
        .create_contact(rep.req(contact("Lovelace", &["ada@b.test", "ada@c.test"])))
        .await
        .expect("loser")
        .into_inner();
    let deal = rep
        .opportunities()
        .create_opportunity(rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Engine".into(),
                primary_contact_id: loser.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect("deal")
        .into_inner();
    let merged = duplicates(rep)
        .merge_contacts(rep.req(pb::MergeContactsRequest {
            survivor_id: survivor.id.clone(),
            loser_id: loser.id.clone(),
            fields_from_loser: vec![],
        }))
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged.emails, ["ada@a.test", "ada@b.test", "ada@c.test"]);
    let moved = rep
        .opportunities()
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("deal")
        .into_inner();
    assert_eq!(moved.primary_contact_id, survivor.id);
    // The duplicate check no longer names the tombstone.
    let found = duplicates(rep)
        .find_duplicates(rep.req(pb::FindDuplicatesRequest {
            record: Some(pb::find_duplicates_request::Record::Contact(contact(
                "Nobody",
                &["ada@c.test"],
            ))),
        }))
        .await
        .expect("found")
        .into_inner();
    let ids: Vec<&str> = found.candidates.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, [survivor.id.as_str()]);
}

#[tokio::test]
async fn merging_leads_refuses_converted_ones() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let survivor = rep.create_lead("Hopper", "Navy").await;
    let loser = rep.create_lead("Hopper", "").await;
    let converted = rep.create_lead("Hopper", "Navy").await;
    rep.leads()
        .convert_lead(rep.req(pb::ConvertLeadRequest {
            id: converted.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("converted");
    let merge = |loser: &str, fields: Vec<String>| pb::MergeLeadsRequest {
        survivor_id: survivor.id.clone(),
        loser_id: loser.to_owned(),
        fields_from_loser: fields,
    };
    let status = duplicates(rep)
        .merge_leads(rep.req(merge(&converted.id, vec![])))
        .await
        .expect_err("converted");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let merged = duplicates(rep)
        .merge_leads(rep.req(merge(&loser.id, vec!["email".into()])))
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged.email, loser.email);
    assert_eq!(merged.company, "Navy");
}
