//! Tenant state driven by tenants events: a deactivated user's records are handed over per the
//! tenant's policy (or listed as orphans for an admin), and a suspended tenant is locked out.

use proto::crm as pb;
use proto::events::Envelope;
use proto::tenants as tpb;
use tonic::Code;
use uuid::Uuid;

use crate::events::{tenants_event, user_message};
use crate::helpers::{
    As, DEADLINE, Db, Tap, assert_invalid, declare_consumer_queue, payload, publish, team,
};

async fn deactivate(tenant: Uuid, user: Uuid, manager: Option<Uuid>, db: &Db) {
    publish(&tenants_event(
        "tenants.user.deactivated",
        tenant,
        "user",
        user,
        &tpb::UserDeactivated {
            user: Some(user_message(tenant, user, manager, tpb::Role::SalesRep)),
        },
    ))
    .await;
    testkit::poll_until(DEADLINE, || async {
        let active: bool = sqlx::query_scalar("SELECT active FROM crm_users WHERE user_id = $1")
            .bind(user)
            .fetch_one(&db.pool)
            .await
            .ok()?;
        (!active).then_some(())
    })
    .await
    .expect("deactivation applied");
}

async fn owner_of(db: &Db, table: &str, id: &str) -> Uuid {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT owner_id FROM {table} WHERE id = $1::uuid"
    )))
    .bind(id)
    .fetch_one(&db.pool)
    .await
    .expect("owner")
}

async fn win(user: &As, deal: &pb::Opportunity) {
    let pipeline = user.default_pipeline().await;
    let won = pipeline
        .stages
        .iter()
        .find(|s| s.category == pb::StageCategory::Won as i32)
        .expect("a won stage");
    user.opportunities()
        .move_stage(user.req(pb::MoveStageRequest {
            id: deal.id.clone(),
            stage_id: won.id.clone(),
            lost_reason: String::new(),
        }))
        .await
        .expect("won");
}

#[tokio::test]
async fn a_deactivated_reps_open_records_go_to_their_manager_and_won_deals_stay() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let account = rep.create_account("Handover GmbH").await;
    let contact = rep.create_contact("Handover").await;
    let lead = rep.create_lead("Handover", "Handover GmbH").await;
    let open_deal = rep.create_opportunity("Open deal").await;
    let won_deal = rep.create_opportunity("Won deal").await;
    win(rep, &won_deal).await;
    let tap = Tap::bind(&["crm.*.updated"]).await;

    deactivate(team.tenant_id, rep.user_id, Some(team.manager.user_id), &db).await;

    let manager = team.manager.user_id;
    assert_eq!(owner_of(&db, "accounts", &account.id).await, manager);
    assert_eq!(owner_of(&db, "contacts", &contact.id).await, manager);
    assert_eq!(owner_of(&db, "leads", &lead.id).await, manager);
    assert_eq!(owner_of(&db, "opportunities", &open_deal.id).await, manager);
    assert_eq!(
        owner_of(&db, "opportunities", &won_deal.id).await,
        rep.user_id,
        "a won deal keeps the owner it was won by"
    );

    // The won deal's own stage change may still be relayed after the tap is bound.
    let owner_changes =
        |e: &Envelope| payload::<pb::RecordChanged>(e).changed_fields == ["owner_id"];
    let events = tap
        .wait_for_matching(team.tenant_id, 4, owner_changes)
        .await;
    let mut moved: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
    moved.sort();
    assert_eq!(
        moved,
        [
            "crm.account.updated",
            "crm.contact.updated",
            "crm.lead.updated",
            "crm.opportunity.updated"
        ]
    );
    tap.close().await;
}

#[tokio::test]
async fn under_the_keep_policy_records_wait_as_orphans_until_an_admin_hands_them_over() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let admin = &team.admin;

    let keep = admin
        .settings()
        .update_crm_settings(admin.req(pb::UpdateCrmSettingsRequest {
            settings: Some(pb::CrmSettings {
                deactivated_owner_policy: pb::DeactivatedOwnerPolicy::Keep as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["deactivated_owner_policy".into()],
            }),
        }))
        .await
        .expect("settings updated")
        .into_inner();
    assert_eq!(
        keep.deactivated_owner_policy,
        pb::DeactivatedOwnerPolicy::Keep as i32
    );
    // Anyone reads the settings; only admins change them.
    let seen = team
        .rep
        .settings()
        .get_crm_settings(team.rep.req(pb::GetCrmSettingsRequest {}))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(seen, keep);
    let denied = team
        .manager
        .settings()
        .update_crm_settings(team.manager.req(pb::UpdateCrmSettingsRequest {
            settings: Some(keep.clone()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["deactivated_owner_policy".into()],
            }),
        }))
        .await
        .expect_err("not an admin");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let rep = &team.rep;
    let lead = rep.create_lead("Orphan", "Orphan Ltd").await;
    let account = rep.create_account("Orphan Ltd").await;
    deactivate(team.tenant_id, rep.user_id, Some(team.manager.user_id), &db).await;
    assert_eq!(owner_of(&db, "leads", &lead.id).await, rep.user_id);

    // Two orphans, one page each.
    let list = |token: String| {
        let mut client = admin.settings();
        let request = admin.req(pb::ListOrphanedRecordsRequest {
            page_size: 1,
            page_token: token,
        });
        async move { client.list_orphaned_records(request).await }
    };
    let first = list(String::new()).await.expect("page 1").into_inner();
    let second = list(first.next_page_token.clone())
        .await
        .expect("page 2")
        .into_inner();
    assert!(second.next_page_token.is_empty());
    let mut ids: Vec<String> = first
        .records
        .iter()
        .chain(&second.records)
        .map(|r| {
            assert_eq!(r.owner_id, rep.user_id.to_string());
            r.record.as_ref().expect("ref").id.clone()
        })
        .collect();
    ids.sort();
    let mut expected = vec![lead.id.clone(), account.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    // Bad hand-overs change nothing.
    for (from, to, field) in [
        (rep.user_id, rep.user_id, "to_user_id"),
        (Uuid::now_v7(), team.other_rep.user_id, "from_user_id"),
        (team.other_rep.user_id, rep.user_id, "to_user_id"),
    ] {
        let status = admin
            .settings()
            .reassign_records(admin.req(pb::ReassignRecordsRequest {
                from_user_id: from.to_string(),
                to_user_id: to.to_string(),
            }))
            .await
            .expect_err("refused");
        assert_invalid(&status, &[field]);
    }
    assert_eq!(owner_of(&db, "leads", &lead.id).await, rep.user_id);

    let moved = admin
        .settings()
        .reassign_records(admin.req(pb::ReassignRecordsRequest {
            from_user_id: rep.user_id.to_string(),
            to_user_id: team.other_rep.user_id.to_string(),
        }))
        .await
        .expect("handed over")
        .into_inner();
    assert_eq!((moved.accounts, moved.leads), (1, 1));
    assert_eq!(
        owner_of(&db, "accounts", &account.id).await,
        team.other_rep.user_id
    );
    let none_left = list(String::new()).await.expect("listed").into_inner();
    assert!(none_left.records.is_empty());
}

#[tokio::test]
async fn a_suspended_tenant_is_locked_out_until_reactivated() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let bystanders = crate::helpers::team(&crm, &db).await;
    let rep = &team.rep;
    rep.create_lead("Before", "Suspension Inc").await;

    let tenant_event = |event_type: &str| {
        let tenant = tpb::Tenant {
            id: team.tenant_id.to_string(),
            ..Default::default()
        };
        if event_type == "tenants.tenant.suspended" {
            tenants_event(
                event_type,
                team.tenant_id,
                "tenant",
                team.tenant_id,
                &tpb::TenantSuspended {
                    tenant: Some(tenant),
                    reason: "unpaid".into(),
                },
            )
        } else {
            tenants_event(
                event_type,
                team.tenant_id,
                "tenant",
                team.tenant_id,
                &tpb::TenantReactivated {
                    tenant: Some(tenant),
                },
            )
        }
    };
    let list = |user: &As| {
        let mut client = user.leads();
        let request = user.req(pb::ListLeadsRequest::default());
        async move { client.list_leads(request).await.map(|_| ()) }
    };

    publish(&tenant_event("tenants.tenant.suspended")).await;
    let locked = testkit::poll_until(DEADLINE, || async {
        list(rep).await.err().map(|status| status.code())
    })
    .await
    .expect("locked out");
    assert_eq!(locked, Code::Unauthenticated);
    // Every path, including writes, and only this tenant.
    let write = rep
        .leads()
        .create_lead(rep.req(pb::CreateLeadRequest {
            last_name: "During".into(),
            ..Default::default()
        }))
        .await
        .expect_err("locked out");
    assert_eq!(write.code(), Code::Unauthenticated);
    list(&bystanders.rep)
        .await
        .expect("other tenants unaffected");

    publish(&tenant_event("tenants.tenant.reactivated")).await;
    testkit::poll_until(DEADLINE, || async { list(rep).await.ok() })
        .await
        .expect("let back in");
}

#[tokio::test]
async fn a_deactivated_users_token_is_refused_at_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    rep.create_lead("Before", "Deactivation Inc").await;

    // The rep's access token is still valid for minutes; the deactivation must not wait for it.
    deactivate(team.tenant_id, rep.user_id, Some(team.manager.user_id), &db).await;

    let read = rep
        .leads()
        .list_leads(rep.req(pb::ListLeadsRequest::default()))
        .await
        .expect_err("refused at once");
    assert_eq!(read.code(), Code::Unauthenticated);
    let write = rep
        .leads()
        .create_lead(rep.req(pb::CreateLeadRequest {
            last_name: "After".into(),
            ..Default::default()
        }))
        .await
        .expect_err("refused at once");
    assert_eq!(write.code(), Code::Unauthenticated);
    team.manager
        .leads()
        .list_leads(team.manager.req(pb::ListLeadsRequest::default()))
        .await
        .expect("the rest of the tenant keeps working");
}
