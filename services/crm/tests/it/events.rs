//! Events on the real broker: what the CRM publishes through its outbox relay, and the tenants
//! events it consumes into the user projection and default pipelines.

use auth::BuiltinRole;
use chrono::Utc;
use events::NewEvent;
use proto::crm as pb;
use proto::tenants as tpb;
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, Db, Tap, declare_consumer_queue, payload, publish, team, usd, user,
};

#[tokio::test]
async fn winning_losing_and_reopening_a_deal_are_published() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let tap = Tap::bind(&["crm.opportunity.*"]).await;
    let rep = &team.rep;
    let pipeline = rep.default_pipeline().await;
    let (negotiation, won, lost) = (
        &pipeline.stages[3],
        &pipeline.stages[4],
        &pipeline.stages[5],
    );
    let deal = rep
        .opportunities()
        .create_opportunity(rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Big one".into(),
                amount: Some(usd(48_000)),
                splits: vec![
                    pb::CreditSplit {
                        user_id: rep.user_id.to_string(),
                        percent: 60,
                    },
                    pb::CreditSplit {
                        user_id: team.manager.user_id.to_string(),
                        percent: 40,
                    },
                ],
                ..Default::default()
            }),
        }))
        .await
        .expect("created")
        .into_inner();
    let mut opportunities = rep.opportunities();
    let mut move_to = async |stage: &pb::Stage, reason: &str| {
        opportunities
            .move_stage(rep.req(pb::MoveStageRequest {
                id: deal.id.clone(),
                stage_id: stage.id.clone(),
                lost_reason: reason.to_owned(),
            }))
            .await
            .expect("moved")
            .into_inner()
    };
    let closed = move_to(won, "").await;
    assert_eq!(closed.state, "won");
    assert_eq!(
        closed.close_date,
        Utc::now().date_naive().format("%Y-%m-%d").to_string()
    );
    move_to(negotiation, "").await;
    let lost_deal = move_to(lost, "went with a competitor").await;
    assert_eq!(lost_deal.lost_reason, "went with a competitor");

    let received = tap.wait_for(team.tenant_id, 10).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.opportunity.created",
            "crm.opportunity.updated",
            "crm.opportunity.stage_changed",
            "crm.opportunity.won",
            "crm.opportunity.updated",
            "crm.opportunity.stage_changed",
            "crm.opportunity.reopened",
            "crm.opportunity.updated",
            "crm.opportunity.stage_changed",
            "crm.opportunity.lost",
        ]
    );
    assert!(
        received
            .iter()
            .all(|e| e.aggregate_id == deal.id && e.producer == "crm")
    );

    let win: pb::OpportunityClosed = payload(&received[3]);
    assert_eq!(
        win.amount
            .as_ref()
            .map(|m| (m.currency_code.as_str(), m.units)),
        Some(("USD", 48_000))
    );
    assert_eq!(win.owner_id, rep.user_id.to_string());
    assert_eq!(win.pipeline_id, pipeline.id);
    assert_eq!(win.splits.iter().map(|s| s.percent).sum::<i32>(), 100);
    assert_eq!(win.actor_id, rep.user_id.to_string());
    assert!(win.lost_reason.is_empty());

    let changed: pb::OpportunityStageChanged = payload(&received[2]);
    assert_eq!(changed.from_stage_id, pipeline.stages[0].id);
    assert_eq!(changed.to_stage_id, won.id);

    let reopened: pb::OpportunityReopened = payload(&received[6]);
    assert_eq!(reopened.previous_state, "won");

    let loss: pb::OpportunityClosed = payload(&received[9]);
    assert_eq!(loss.lost_reason, "went with a competitor");
    assert_eq!(loss.opportunity.map(|o| o.state), Some("lost".to_owned()));

    let update: pb::RecordChanged = payload(&received[1]);
    assert!(update.changed_fields.contains(&"stage_id".to_owned()));
    tap.close().await;
}

#[tokio::test]
async fn a_conversion_is_published_with_everything_it_created() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let tap = Tap::bind(&["crm.lead.converted"]).await;
    let lead = team.rep.create_lead("Curie", "Radium Inc").await;
    team.rep
        .leads()
        .convert_lead(team.rep.req(pb::ConvertLeadRequest {
            id: lead.id.clone(),
            create_opportunity: true,
            ..Default::default()
        }))
        .await
        .expect("converted");
    let received = tap.wait_for(team.tenant_id, 1).await;
    let converted: pb::LeadConverted = payload(&received[0]);
    assert_eq!(converted.lead.map(|l| l.id), Some(lead.id));
    assert_eq!(
        converted.account.map(|a| a.name),
        Some("Radium Inc".to_owned())
    );
    assert!(converted.contact.is_some());
    assert_eq!(
        converted.opportunity.map(|o| o.name),
        Some("Radium Inc deal".to_owned())
    );
    tap.close().await;
}

pub(crate) fn tenants_event<M: prost::Name>(
    event_type: &str,
    tenant_id: Uuid,
    aggregate: &str,
    id: impl std::fmt::Display,
    message: &M,
) -> proto::events::Envelope {
    NewEvent::new(event_type, tenant_id, aggregate, id, message)
        .expect("valid event")
        .to_envelope()
}

pub(crate) fn user_message(
    tenant_id: Uuid,
    id: Uuid,
    manager: Option<Uuid>,
    role: tpb::Role,
) -> tpb::User {
    tpb::User {
        id: id.to_string(),
        tenant_id: tenant_id.to_string(),
        email: format!("{id}@corp.test"),
        role: role as i32,
        manager_id: manager.map(|m| m.to_string()).unwrap_or_default(),
        active: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn tenants_events_build_the_team_and_the_default_pipeline() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;

    let tenant = Uuid::now_v7();
    let (admin, manager, rep) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let provisioned = tenants_event(
        "tenants.tenant.provisioned",
        tenant,
        "tenant",
        tenant,
        &tpb::TenantProvisioned {
            tenant: Some(tpb::Tenant {
                id: tenant.to_string(),
                ..Default::default()
            }),
            admin: Some(user_message(tenant, admin, None, tpb::Role::Admin)),
        },
    );
    publish(&provisioned).await;
    publish(&provisioned).await; // a duplicate delivery
    publish(&tenants_event(
        "tenants.user.created",
        tenant,
        "user",
        manager,
        &tpb::UserCreated {
            user: Some(user_message(
                tenant,
                manager,
                Some(admin),
                tpb::Role::Manager,
            )),
        },
    ))
    .await;
    publish(&tenants_event(
        "tenants.user.created",
        tenant,
        "user",
        rep,
        &tpb::UserCreated {
            user: Some(user_message(tenant, rep, Some(admin), tpb::Role::SalesRep)),
        },
    ))
    .await;
    // The rep moves into the manager's team; a stale, older update arrives late and loses.
    publish(&tenants_event(
        "tenants.user.updated",
        tenant,
        "user",
        rep,
        &tpb::UserUpdated {
            user: Some(user_message(
                tenant,
                rep,
                Some(manager),
                tpb::Role::SalesRep,
            )),
            changed_fields: vec!["manager_id".into()],
        },
    ))
    .await;
    let mut stale = tenants_event(
        "tenants.user.updated",
        tenant,
        "user",
        rep,
        &tpb::UserUpdated {
            user: Some(user_message(tenant, rep, None, tpb::Role::SalesRep)),
            changed_fields: vec!["manager_id".into()],
        },
    );
    stale.occurred_at = Some(prost_types::Timestamp {
        seconds: Utc::now().timestamp() - 3600,
        nanos: 0,
    });
    publish(&stale).await;

    let projected = testkit::poll_until(DEADLINE, || async {
        let rows: Vec<(Uuid, Option<Uuid>)> = sqlx::query_as(
            "SELECT user_id, manager_id FROM crm_users WHERE tenant_id = $1 ORDER BY user_id",
        )
        .bind(tenant)
        .fetch_all(&db.pool)
        .await
        .ok()?;
        let stale_seen: i64 =
            sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1::uuid")
                .bind(&stale.id)
                .fetch_one(&db.pool)
                .await
                .ok()?;
        (rows.len() == 3 && stale_seen == 1).then_some(rows)
    })
    .await
    .expect("the projection catches up");
    assert!(projected.contains(&(rep, Some(manager))), "{projected:?}");
    assert!(projected.contains(&(admin, None)));

    assert_eq!(
        db.count(
            "SELECT count(*) FROM pipelines WHERE tenant_id = $1 AND is_default",
            tenant
        )
        .await,
        1
    );
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1::uuid")
            .bind(&provisioned.id)
            .fetch_one(&db.pool)
            .await
            .expect("count");
    assert_eq!(applied, 1, "the duplicate was absorbed");

    // The projection drives visibility: the manager now sees the rep's deal.
    let rep_user = user(&crm, tenant, rep, BuiltinRole::SalesRep).await;
    let deal = rep_user.create_opportunity("Via events").await;
    let manager_user = user(&crm, tenant, manager, BuiltinRole::Manager).await;
    manager_user
        .opportunities()
        .get_opportunity(manager_user.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("visible through the projected chain");

    // A deactivated user can no longer be given records.
    publish(&tenants_event(
        "tenants.user.deactivated",
        tenant,
        "user",
        rep,
        &tpb::UserDeactivated {
            user: Some(user_message(
                tenant,
                rep,
                Some(manager),
                tpb::Role::SalesRep,
            )),
        },
    ))
    .await;
    testkit::poll_until(DEADLINE, || async {
        let active: bool = sqlx::query_scalar("SELECT active FROM crm_users WHERE user_id = $1")
            .bind(rep)
            .fetch_one(&db.pool)
            .await
            .ok()?;
        (!active).then_some(())
    })
    .await
    .expect("deactivation applied");
    // Default policy: the rep's open deal went to their manager with the deactivation.
    let handed_over = manager_user
        .opportunities()
        .get_opportunity(manager_user.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("visible")
        .into_inner();
    assert_eq!(handed_over.owner_id, manager.to_string());
    let status = manager_user
        .opportunities()
        .update_opportunity(manager_user.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: deal.id,
                owner_id: rep.to_string(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner_id".into()],
            }),
        }))
        .await
        .expect_err("deactivated");
    crate::helpers::assert_invalid(&status, &["opportunity.owner_id"]);
}
