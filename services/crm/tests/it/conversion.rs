//! Lead conversion: one transaction, new or existing account, with or without a deal, once.

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{Db, assert_invalid, team, usd};

#[tokio::test]
async fn converting_creates_account_contact_and_deal_in_the_default_pipeline() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let lead = rep.create_lead("Lovelace", "Analytical Engines").await;

    let converted = rep
        .leads()
        .convert_lead(rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            create_opportunity: true,
            opportunity_name: "Engine No. 1".into(),
            opportunity_amount: Some(usd(12_000)),
            close_date: "2031-06-30".into(),
            ..Default::default()
        }))
        .await
        .expect("converted")
        .into_inner();
    let account = converted.account.expect("account");
    let contact = converted.contact.expect("contact");
    let deal = converted.opportunity.expect("opportunity");
    let lead_after = converted.lead.expect("lead");

    assert_eq!(account.name, "Analytical Engines");
    assert_eq!(account.owner_id, rep.user_id.to_string());
    assert_eq!(contact.last_name, "Lovelace");
    assert_eq!(contact.account_id, account.id);
    assert_eq!(contact.emails, std::slice::from_ref(&lead.email));
    assert_eq!(deal.name, "Engine No. 1");
    assert_eq!(deal.account_id, account.id);
    assert_eq!(deal.primary_contact_id, contact.id);
    assert_eq!(deal.close_date, "2031-06-30");
    assert_eq!(deal.amount.as_ref().map(|m| m.units), Some(12_000));

    let pipeline = rep.default_pipeline().await;
    assert_eq!(deal.pipeline_id, pipeline.id);
    assert_eq!(deal.stage_id, pipeline.stages[0].id, "first open stage");
    assert_eq!(deal.state, "open");

    assert_eq!(lead_after.status, pb::LeadStatus::Converted as i32);
    assert_eq!(lead_after.converted_account_id, account.id);
    assert_eq!(lead_after.converted_contact_id, contact.id);
    assert_eq!(lead_after.converted_opportunity_id, deal.id);
    assert!(lead_after.convert_time.is_some());

    // The lead keeps its links when read again.
    let reread = rep
        .leads()
        .get_lead(rep.req(pb::GetLeadRequest {
            id: lead.id,
            read_mask: None,
        }))
        .await
        .expect("lead readable")
        .into_inner();
    assert_eq!(reread.converted_opportunity_id, deal.id);

    let types = db.outbox_types(team.tenant_id).await;
    assert_eq!(
        types,
        [
            "crm.lead.created",
            "crm.account.created",
            "crm.contact.created",
            "crm.pipeline.created",
            "crm.opportunity.created",
            "crm.lead.updated",
            "crm.lead.converted",
        ]
    );
}

#[tokio::test]
async fn converting_into_an_existing_account_without_a_deal() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let existing = rep.create_account("Existing Ltd").await;
    let lead = rep.create_lead("Turing", "Existing Ltd").await;

    let converted = rep
        .leads()
        .convert_lead(rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            existing_account_id: existing.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("converted")
        .into_inner();
    assert_eq!(converted.account.map(|a| a.id), Some(existing.id.clone()));
    assert_eq!(converted.contact.map(|c| c.account_id), Some(existing.id));
    assert!(converted.opportunity.is_none());
    assert!(
        converted
            .lead
            .is_some_and(|l| l.converted_opportunity_id.is_empty())
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        1,
        "no new account"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM opportunities WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_converted_lead_cannot_be_converted_or_changed_again() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let lead = rep.create_lead("Hamilton", "Apollo").await;
    let convert = || pb::ConvertLeadRequest {
        id: lead.id.clone(),
        ..Default::default()
    };
    rep.leads()
        .convert_lead(rep.req(convert()))
        .await
        .expect("first conversion");
    let status = rep
        .leads()
        .convert_lead(rep.req(convert()))
        .await
        .expect_err("second conversion");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let status = rep
        .leads()
        .update_lead(rep.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                company: "Other".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["company".into()],
            }),
        }))
        .await
        .expect_err("converted leads are read-only");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM contacts WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        1,
        "one conversion, one contact"
    );
}

#[tokio::test]
async fn a_failing_conversion_writes_nothing() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let lead = rep.create_lead("Noether", "Algebra GmbH").await;
    let outbox_before = db.outbox_types(team.tenant_id).await.len();

    // The account and contact are written before the pipeline is looked up: the unknown pipeline
    // fails the conversion late, and everything before it must roll back.
    let status = rep
        .leads()
        .convert_lead(rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            create_opportunity: true,
            pipeline_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        }))
        .await
        .expect_err("unknown pipeline");
    assert_invalid(&status, &["pipeline_id"]);

    let foreign = team.other_rep.create_account("Someone else's").await;
    let status = rep
        .leads()
        .convert_lead(rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            existing_account_id: foreign.id,
            ..Default::default()
        }))
        .await
        .expect_err("invisible account");
    assert_invalid(&status, &["existing_account_id"]);

    for table in [
        "SELECT count(*) FROM contacts WHERE tenant_id = $1",
        "SELECT count(*) FROM opportunities WHERE tenant_id = $1",
        "SELECT count(*) FROM pipelines WHERE tenant_id = $1",
    ] {
        assert_eq!(db.count(table, team.tenant_id).await, 0, "{table}");
    }
    assert_eq!(
        db.count(
            "SELECT count(*) FROM accounts WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        1,
        "only the other rep's account"
    );
    let outbox_after = db.outbox_types(team.tenant_id).await.len();
    assert_eq!(
        outbox_after,
        outbox_before + 1,
        "only the other rep's account event"
    );
    let unchanged = rep
        .leads()
        .get_lead(rep.req(pb::GetLeadRequest {
            id: lead.id,
            read_mask: None,
        }))
        .await
        .expect("lead")
        .into_inner();
    assert_eq!(unchanged.status, pb::LeadStatus::New as i32);
    assert!(unchanged.converted_account_id.is_empty());
}

#[tokio::test]
async fn concurrent_conversions_of_one_lead_convert_it_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let lead = rep.create_lead("Race", "Condition Inc").await;
    let attempts = (0..4).map(|_| {
        let mut leads = rep.leads();
        let request = rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            create_opportunity: true,
            ..Default::default()
        });
        async move { leads.convert_lead(request).await }
    });
    let results = futures::future::join_all(attempts).await;
    let converted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(converted, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|s| s.code() == Code::FailedPrecondition)
    );
    for table in [
        "SELECT count(*) FROM accounts WHERE tenant_id = $1",
        "SELECT count(*) FROM contacts WHERE tenant_id = $1",
        "SELECT count(*) FROM opportunities WHERE tenant_id = $1",
    ] {
        assert_eq!(db.count(table, team.tenant_id).await, 1, "{table}");
    }
}
