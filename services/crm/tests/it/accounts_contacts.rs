//! Accounts and contacts: every store path, references between them and bad input.

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{Db, assert_invalid, team, usd};

#[tokio::test]
async fn an_account_is_created_read_listed_updated_and_soft_deleted() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let mut accounts = rep.accounts();

    let created = accounts
        .create_account(rep.req(pb::CreateAccountRequest {
            force: false,
            account: Some(pb::Account {
                name: "  Acme Corp ".into(),
                domain: "ACME.com".into(),
                industry: "Software".into(),
                employee_count: 120,
                annual_revenue: Some(proto::google::r#type::Money {
                    currency_code: "EUR".into(),
                    units: 2_500_000,
                    nanos: 500_000_000,
                }),
                billing_address: Some(pb::Address {
                    city: "Berlin".into(),
                    country_code: "de".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.name, "Acme Corp");
    assert_eq!(created.domain, "acme.com");
    assert_eq!(created.owner_id, rep.user_id.to_string());
    assert_eq!(
        created
            .billing_address
            .as_ref()
            .map(|a| a.country_code.as_str()),
        Some("DE")
    );

    let fetched = accounts
        .get_account(rep.req(pb::GetAccountRequest {
            id: created.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("read back")
        .into_inner();
    assert_eq!(fetched, created);

    let child = accounts
        .create_account(rep.req(pb::CreateAccountRequest {
            force: false,
            account: Some(pb::Account {
                name: "Acme Subsidiary".into(),
                parent_account_id: created.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect("child created")
        .into_inner();

    let listed = accounts
        .list_accounts(rep.req(pb::ListAccountsRequest {
            filter: format!(
                r#"parent_account_id = "{}" OR employee_count >= 100"#,
                created.id
            ),
            order_by: "name".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner();
    let names: Vec<&str> = listed.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Acme Corp", "Acme Subsidiary"]);

    let updated = accounts
        .update_account(rep.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                industry: "Robotics".into(),
                name: "ignored because not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["industry".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.industry, "Robotics");
    assert_eq!(updated.name, "Acme Corp");

    // A parent cannot become its own descendant.
    let cycle = accounts
        .update_account(rep.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: created.id.clone(),
                parent_account_id: child.id.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["parent_account_id".into()],
            }),
        }))
        .await
        .expect_err("cycle refused");
    assert_invalid(&cycle, &["account.parent_account_id"]);

    accounts
        .delete_account(rep.req(pb::DeleteAccountRequest {
            id: child.id.clone(),
        }))
        .await
        .expect("deleted");
    let gone = accounts
        .get_account(rep.req(pb::GetAccountRequest {
            id: child.id.clone(),
            read_mask: None,
        }))
        .await
        .expect_err("deleted accounts disappear");
    assert_eq!(gone.code(), Code::NotFound);
    let again = accounts
        .delete_account(rep.req(pb::DeleteAccountRequest { id: child.id }))
        .await
        .expect_err("deleting twice");
    assert_eq!(again.code(), Code::NotFound);

    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        [
            "crm.account.created",
            "crm.account.created",
            "crm.account.updated",
            "crm.account.deleted"
        ]
    );
}

#[tokio::test]
async fn contacts_reference_visible_accounts_and_keep_consent_times() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let account = rep.create_account("Initech").await;
    let foreign = team.other_rep.create_account("Not yours").await;
    let mut contacts = rep.contacts();

    let created = contacts
        .create_contact(rep.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                first_name: "Peter".into(),
                last_name: "Gibbons".into(),
                emails: vec!["Peter@Initech.test".into(), "peter@initech.test".into()],
                phones: vec!["+1 (512) 555-0101".into()],
                account_id: account.id.clone(),
                email_consent: Some(pb::Consent {
                    granted: true,
                    source: "web-form".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(created.emails, ["peter@initech.test"]);
    assert_eq!(created.phones, ["+15125550101"]);
    let consent_time = created
        .email_consent
        .as_ref()
        .and_then(|c| c.update_time)
        .expect("consent timestamp");
    assert!(
        created
            .phone_consent
            .as_ref()
            .is_some_and(|c| c.update_time.is_none()),
        "no phone consent stated"
    );

    // Re-stating the same consent keeps its time; a rename does not touch it.
    let updated = contacts
        .update_contact(rep.req(pb::UpdateContactRequest {
            contact: Some(pb::Contact {
                id: created.id.clone(),
                title: "Engineer".into(),
                email_consent: created.email_consent.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into(), "email_consent".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.title, "Engineer");
    assert_eq!(
        updated.email_consent.and_then(|c| c.update_time),
        Some(consent_time)
    );

    let by_email = contacts
        .list_contacts(rep.req(pb::ListContactsRequest {
            filter: format!(
                r#"email = "PETER@initech.test" AND account_id = "{}""#,
                account.id
            ),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(by_email.contacts.len(), 1);

    // Another rep's account is not there for this rep.
    let status = contacts
        .create_contact(rep.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                last_name: "Lumbergh".into(),
                account_id: foreign.id,
                ..Default::default()
            }),
        }))
        .await
        .expect_err("invisible account");
    assert_invalid(&status, &["contact.account_id"]);

    contacts
        .delete_contact(rep.req(pb::DeleteContactRequest {
            id: created.id.clone(),
        }))
        .await
        .expect("deleted");
    let listed = contacts
        .list_contacts(rep.req(pb::ListContactsRequest::default()))
        .await
        .expect("listed")
        .into_inner();
    assert!(listed.contacts.is_empty());
}

#[tokio::test]
async fn bad_account_and_contact_input_is_refused_field_by_field() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;

    let status = rep
        .accounts()
        .create_account(rep.req(pb::CreateAccountRequest {
            force: false,
            account: Some(pb::Account {
                name: "Acme".into(),
                annual_revenue: Some(proto::google::r#type::Money {
                    currency_code: "XYZ".into(),
                    units: 1,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("unknown currency");
    assert_invalid(&status, &["account.annual_revenue.currency_code"]);

    let status = rep
        .accounts()
        .create_account(rep.req(pb::CreateAccountRequest {
            force: false,
            account: Some(pb::Account {
                name: "Acme".into(),
                annual_revenue: Some(proto::google::r#type::Money {
                    currency_code: "USD".into(),
                    units: 10,
                    nanos: 1_000,
                }),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("sub-cent amount");
    assert_invalid(&status, &["account.annual_revenue.nanos"]);

    let status = rep
        .contacts()
        .create_contact(rep.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                last_name: "Lee".into(),
                emails: vec!["ann(at)acme.test".into()],
                phones: vec!["0049 30 1234".into()],
                ..Default::default()
            }),
        }))
        .await
        .expect_err("bad email and phone");
    assert_invalid(&status, &["contact.emails", "contact.phones"]);

    let status = rep
        .accounts()
        .update_account(rep.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: rep.create_account("Fine").await.id,
                annual_revenue: Some(usd(-5)),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["annual_revenue".into(), "password".into()],
            }),
        }))
        .await
        .expect_err("bad mask");
    assert_invalid(&status, &["update_mask"]);

    let status = rep
        .accounts()
        .get_account(rep.req(pb::GetAccountRequest {
            id: "42".into(),
            read_mask: None,
        }))
        .await
        .expect_err("malformed id");
    assert_invalid(&status, &["id"]);

    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        1,
        "only the valid account was written"
    );
}
