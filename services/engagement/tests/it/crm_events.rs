//! Touches from the CRM's events: a logged call raises the contact's (and its account's) score,
//! a redelivered event counts once, records come from the CRM's record events.

use proto::crm as crm_pb;
use proto::engagement as pb;
use proto::events::Envelope;
use uuid::Uuid;

use crate::helpers::{DEADLINE, Db, declare_consumer_queue, publish, team};

fn contact_created(tenant_id: Uuid, contact: Uuid, owner: Uuid, account: Uuid) -> Envelope {
    let payload = crm_pb::RecordChanged {
        record_type: crm_pb::RecordType::Contact as i32,
        record: Some(crm_pb::record_changed::Record::Contact(crm_pb::Contact {
            id: contact.to_string(),
            owner_id: owner.to_string(),
            account_id: account.to_string(),
            ..Default::default()
        })),
        actor_id: owner.to_string(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.contact.created",
        tenant_id,
        "contact",
        contact,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

fn account_created(tenant_id: Uuid, account: Uuid, owner: Uuid) -> Envelope {
    let payload = crm_pb::RecordChanged {
        record_type: crm_pb::RecordType::Account as i32,
        record: Some(crm_pb::record_changed::Record::Account(crm_pb::Account {
            id: account.to_string(),
            owner_id: owner.to_string(),
            ..Default::default()
        })),
        actor_id: owner.to_string(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.account.created",
        tenant_id,
        "account",
        account,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

fn call_logged(tenant_id: Uuid, contact: Uuid, owner: Uuid) -> Envelope {
    let activity = crm_pb::Activity {
        id: Uuid::now_v7().to_string(),
        kind: crm_pb::ActivityKind::Call as i32,
        subject: "Discovery call".into(),
        related_to: Some(crm_pb::RecordRef {
            r#type: crm_pb::RecordType::Contact as i32,
            id: contact.to_string(),
        }),
        owner_id: owner.to_string(),
        ..Default::default()
    };
    let payload = crm_pb::ActivityChanged {
        activity: Some(activity),
        actor_id: owner.to_string(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.activity.logged",
        tenant_id,
        "activity",
        Uuid::now_v7(),
        &payload,
    )
    .expect("event")
    .to_envelope()
}

#[tokio::test]
async fn a_logged_call_raises_the_contacts_score_once_even_when_redelivered() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (contact, account) = (Uuid::now_v7(), Uuid::now_v7());
    let rep = team.rep.user_id;
    let call = call_logged(team.tenant_id, contact, rep);
    publish(
        &service,
        &[
            account_created(team.tenant_id, account, rep),
            contact_created(team.tenant_id, contact, rep, account),
            call.clone(),
            // The broker delivers it again (a consumer died before acking, say).
            call,
        ],
    )
    .await;

    let scored = testkit::poll_until(DEADLINE, || async {
        let score = team.rep.contact(contact).await.ok()?;
        (score.score > 0.0).then_some(score)
    })
    .await
    .expect("the call was never scored");
    assert_eq!(scored.breakdown.len(), 1);
    assert_eq!(scored.breakdown[0].kind, pb::EngagementKind::Call as i32);
    assert!(
        scored.score <= 10.0 && scored.score > 9.99,
        "{}",
        scored.score
    );

    // A later event proves the consumer went past the duplicate: the count is still one.
    let second = call_logged(team.tenant_id, contact, rep);
    publish(&service, &[second]).await;
    let twice = testkit::poll_until(DEADLINE, || async {
        let score = team.rep.contact(contact).await.ok()?;
        (score.score > 10.0).then_some(score)
    })
    .await
    .expect("the second call was never scored");
    assert!(
        twice.score <= 20.0 && twice.score > 19.99,
        "{}",
        twice.score
    );
    assert_eq!(db.touch_count(team.tenant_id).await, 2);
    let rollup = team.rep.account(account).await.expect("account score");
    assert!((rollup.score - twice.score).abs() < 0.01, "{rollup:?}");
}

fn lead_changed(tenant_id: Uuid, lead: Uuid, owner: Uuid, status: crm_pb::LeadStatus) -> Envelope {
    let payload = crm_pb::RecordChanged {
        record_type: crm_pb::RecordType::Lead as i32,
        record: Some(crm_pb::record_changed::Record::Lead(crm_pb::Lead {
            id: lead.to_string(),
            owner_id: owner.to_string(),
            status: status as i32,
            ..Default::default()
        })),
        actor_id: owner.to_string(),
        ..Default::default()
    };
    events::NewEvent::new("crm.lead.updated", tenant_id, "lead", lead, &payload)
        .expect("event")
        .to_envelope()
}

fn stage_changed(
    tenant_id: Uuid,
    deal: Uuid,
    owner: Uuid,
    from: &str,
    to: &str,
    state: &str,
) -> Envelope {
    let payload = crm_pb::OpportunityStageChanged {
        opportunity: Some(crm_pb::Opportunity {
            id: deal.to_string(),
            owner_id: owner.to_string(),
            state: state.to_owned(),
            amount: Some(proto::google::r#type::Money {
                currency_code: "USD".into(),
                units: 1_000,
                nanos: 0,
            }),
            ..Default::default()
        }),
        from_stage_id: from.to_owned(),
        to_stage_id: to.to_owned(),
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.opportunity.stage_changed",
        tenant_id,
        "opportunity",
        deal,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

#[tokio::test]
async fn status_and_stage_moves_become_sankey_links_with_conversion_rates() {
    use crm_pb::LeadStatus::{Disqualified, New, Qualified, Working};

    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (t, rep) = (team.tenant_id, team.rep.user_id);
    let (kept, dropped) = (Uuid::now_v7(), Uuid::now_v7());
    let (won, lost) = (Uuid::now_v7(), Uuid::now_v7());
    // Each record's events in order, one publish per record (the consumer keeps per-record order).
    for envelopes in [
        vec![
            lead_changed(t, kept, rep, New),
            lead_changed(t, kept, rep, Working),
            lead_changed(t, kept, rep, Qualified),
        ],
        vec![
            lead_changed(t, dropped, rep, New),
            lead_changed(t, dropped, rep, Working),
            lead_changed(t, dropped, rep, Disqualified),
        ],
        vec![stage_changed(t, won, rep, "propose", "won", "won")],
        vec![stage_changed(t, lost, rep, "propose", "lost", "lost")],
    ] {
        publish(&service, &envelopes).await;
    }
    let now = chrono::Utc::now();
    let request = pb::GetEngagementSankeyRequest {
        start_time: Some(crate::helpers::ts(now - chrono::Duration::days(1))),
        end_time: Some(crate::helpers::ts(now + chrono::Duration::days(1))),
    };
    let sankey = testkit::poll_until(DEADLINE, || async {
        let sankey = team
            .rep
            .api()
            .get_engagement_sankey(team.rep.req(request))
            .await
            .ok()?
            .into_inner();
        (sankey.links.len() == 5).then_some(sankey)
    })
    .await
    .expect("the moves never all arrived");
    let link = |source: &str, target: &str| {
        sankey
            .links
            .iter()
            .find(|l| l.source == source && l.target == target)
            .unwrap_or_else(|| panic!("{source} -> {target} in {:?}", sankey.links))
            .clone()
    };
    assert_eq!(link("LEAD_STATUS_NEW", "LEAD_STATUS_WORKING").count, 2);
    assert_eq!(
        link("LEAD_STATUS_WORKING", "LEAD_STATUS_DISQUALIFIED").lost,
        1
    );
    assert_eq!(link("propose", "won").amount.expect("amount").units, 1_000);
    let step = |flow: &str, step: &str| {
        sankey
            .steps
            .iter()
            .find(|s| s.flow == flow && s.step == step)
            .unwrap_or_else(|| panic!("{flow} {step}"))
            .conversion_rate
    };
    assert_eq!(step("lead", "LEAD_STATUS_NEW"), 1.0);
    assert_eq!(step("lead", "LEAD_STATUS_WORKING"), 0.5);
    assert_eq!(step("opportunity", "propose"), 0.5);
    // Another rep sees none of it.
    let other = team
        .other_rep
        .api()
        .get_engagement_sankey(team.other_rep.req(request))
        .await
        .expect("sankey")
        .into_inner();
    assert!(other.links.is_empty());
}
