//! Service callers: a named service with a service token acts in its tenant with exactly the
//! permissions its account lists, reaches what those let it read tenant-wide, and is recorded as
//! `service:<name>`.

use proto::crm as pb;
use tonic::Code;

use crate::activities::{log, note_on};
use crate::helpers::{Db, service, team};

#[tokio::test]
async fn a_service_logs_activities_and_edits_records_recorded_as_itself() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let lead = team.rep.create_lead("Caller", "Telephony GmbH").await;
    let engagement = service(
        &crm,
        team.tenant_id,
        "engagement",
        &["crm.cases.write", "crm.deals.read", "crm.records.write"],
    )
    .await;

    // A rep's lead: no share, no ownership, yet the service reaches it.
    let activity = log(
        &channel,
        &engagement,
        note_on(pb::RecordType::Lead, &lead.id, "Call logged"),
    )
    .await
    .expect("the service logs an activity");
    assert_eq!(
        activity.owner_id,
        engagement.user_id.to_string(),
        "owned by the service's actor id when no owner is given"
    );

    engagement
        .leads()
        .update_lead(engagement.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                company: "Telephony AG".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["company".into()],
            }),
        }))
        .await
        .expect("the service edits the lead");

    let changes = pb::history_service_client::HistoryServiceClient::new(channel.clone())
        .list_field_history(team.rep.req(pb::ListFieldHistoryRequest {
            record_type: pb::RecordType::Lead as i32,
            record_id: lead.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("the owner reads the history")
        .into_inner()
        .changes;
    let company = changes
        .iter()
        .find(|c| c.field == "company")
        .expect("the company change is recorded");
    assert_eq!(company.actor, "service:engagement");
    assert_eq!(company.actor_id, engagement.user_id.to_string());

    // A user's change still names the user.
    team.rep
        .leads()
        .update_lead(team.rep.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                company: "Telephony SE".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["company".into()],
            }),
        }))
        .await
        .expect("the rep edits the lead");
    let actors: Vec<String> = pb::history_service_client::HistoryServiceClient::new(channel)
        .list_field_history(team.rep.req(pb::ListFieldHistoryRequest {
            record_type: pb::RecordType::Lead as i32,
            record_id: lead.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("history")
        .into_inner()
        .changes
        .into_iter()
        .filter(|c| c.field == "company")
        .map(|c| c.actor)
        .collect();
    assert!(actors.contains(&team.rep.user_id.to_string()), "{actors:?}");
}

#[tokio::test]
async fn a_service_is_denied_what_its_account_does_not_list() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let lead = team.rep.create_lead("Denied", "Least Privilege Inc").await;
    // May log activities, nothing else: not even what every user's role may do.
    let engagement = service(&crm, team.tenant_id, "engagement", &["crm.cases.write"]).await;

    let update = engagement
        .leads()
        .update_lead(engagement.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                company: "Changed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["company".into()],
            }),
        }))
        .await
        .expect_err("no crm.records.write");
    assert_eq!(update.code(), Code::PermissionDenied);
    assert!(update.message().contains("crm.records.write"), "{update:?}");

    let list = engagement
        .leads()
        .list_leads(engagement.req(pb::ListLeadsRequest::default()))
        .await
        .expect_err("no crm.deals.read");
    assert_eq!(list.code(), Code::PermissionDenied);

    let accounts = engagement
        .accounts()
        .list_accounts(engagement.req(pb::ListAccountsRequest::default()))
        .await
        .expect_err("no crm.records.read, which every user's role holds");
    assert_eq!(accounts.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_service_reads_tenant_wide_only_what_it_may_read() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let elsewhere = crate::helpers::team(&crm, &db).await;
    let mine = team.rep.create_lead("Mine", "Rep Inc").await;
    let theirs = team.other_rep.create_lead("Theirs", "Other Rep Inc").await;
    let foreign = elsewhere
        .admin
        .create_lead("Foreign", "Other Tenant Inc")
        .await;
    let account = team.rep.create_account("Not for the service").await;
    let scoring = service(&crm, team.tenant_id, "scoring", &["crm.deals.read"]).await;

    let listed: Vec<String> = scoring
        .leads()
        .list_leads(scoring.req(pb::ListLeadsRequest::default()))
        .await
        .expect("crm.deals.read lists leads")
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert!(listed.contains(&mine.id), "every owner's lead");
    assert!(listed.contains(&theirs.id), "every owner's lead");
    assert!(!listed.contains(&foreign.id), "never another tenant's");

    // Accounts need crm.records.read, which the account does not list.
    let status = scoring
        .accounts()
        .get_account(scoring.req(pb::GetAccountRequest {
            id: account.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("not readable");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Another tenant's lead by id looks missing.
    let status = scoring
        .leads()
        .get_lead(scoring.req(pb::GetLeadRequest {
            id: foreign.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("another tenant's");
    assert_eq!(status.code(), Code::NotFound);
}
