//! Activities: linked only to visible records of the caller's tenant, completion, listing with
//! filters, and `crm.activity.logged` on the real broker.

use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{As, Db, Tap, assert_invalid, payload, team};

pub fn activities(
    channel: &Channel,
) -> pb::activity_service_client::ActivityServiceClient<Channel> {
    pb::activity_service_client::ActivityServiceClient::new(channel.clone())
}

pub fn note_on(record_type: pb::RecordType, id: &str, subject: &str) -> pb::Activity {
    pb::Activity {
        kind: pb::ActivityKind::Note as i32,
        subject: subject.to_owned(),
        related_to: Some(pb::RecordRef {
            r#type: record_type as i32,
            id: id.to_owned(),
        }),
        ..Default::default()
    }
}

pub async fn log(
    channel: &Channel,
    who: &As,
    activity: pb::Activity,
) -> Result<pb::Activity, tonic::Status> {
    activities(channel)
        .create_activity(who.req(pb::CreateActivityRequest {
            activity: Some(activity),
        }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn activities_link_only_to_visible_records_of_the_same_tenant() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let elsewhere = crate::helpers::team(&crm, &db).await;
    let channel = crm.channel().await;
    let foreign = elsewhere
        .admin
        .create_account("Other tenant's account")
        .await;
    let not_mine = team.other_rep.create_lead("Hidden", "Hidden Inc").await;

    let cross_tenant = log(
        &channel,
        &team.admin,
        note_on(pb::RecordType::Account, &foreign.id, "Peek"),
    )
    .await
    .expect_err("another tenant's record");
    assert_invalid(&cross_tenant, &["activity.related_to.id"]);

    let invisible = log(
        &channel,
        &team.rep,
        note_on(pb::RecordType::Lead, &not_mine.id, "Peek"),
    )
    .await
    .expect_err("someone else's lead");
    assert_invalid(&invisible, &["activity.related_to.id"]);

    let missing = log(
        &channel,
        &team.support,
        note_on(pb::RecordType::Case, &Uuid::now_v7().to_string(), "Ghost"),
    )
    .await
    .expect_err("no such case");
    assert_invalid(&missing, &["activity.related_to.id"]);

    let account = team.rep.create_account("Acme").await;
    let bad_date = log(
        &channel,
        &team.rep,
        pb::Activity {
            kind: pb::ActivityKind::Task as i32,
            due_date: "12/31/2026".into(),
            ..note_on(pb::RecordType::Account, &account.id, "Send quote")
        },
    )
    .await
    .expect_err("wrong date format");
    assert_invalid(&bad_date, &["activity.due_date"]);

    assert_eq!(
        db.count(
            "SELECT count(*) FROM activities WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn logged_activities_are_announced_completed_and_listed_by_filter() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let tap = Tap::bind(&["crm.activity.*"]).await;
    let rep = &team.rep;
    let account = rep.create_account("Acme").await;
    let other = rep.create_account("Globex").await;

    let call = log(
        &channel,
        rep,
        pb::Activity {
            kind: pb::ActivityKind::Call as i32,
            due_date: "2026-12-31".into(),
            ..note_on(pb::RecordType::Account, &account.id, "Discovery call")
        },
    )
    .await
    .expect("logged");
    assert_eq!(call.due_date, "2026-12-31");
    assert!(!call.completed);
    log(
        &channel,
        rep,
        note_on(pb::RecordType::Account, &other.id, "Unrelated"),
    )
    .await
    .expect("logged");

    let done = activities(&channel)
        .complete_activity(rep.req(pb::CompleteActivityRequest {
            id: call.id.clone(),
        }))
        .await
        .expect("completed")
        .into_inner();
    assert!(done.completed && done.complete_time.is_some());

    let list = async |who: &As, filter: String| -> Vec<String> {
        activities(&channel)
            .list_activities(who.req(pb::ListActivitiesRequest {
                filter,
                ..Default::default()
            }))
            .await
            .expect("listed")
            .into_inner()
            .activities
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    let filter = format!("related_id = \"{}\" AND completed = true", account.id);
    assert_eq!(list(rep, filter.clone()).await, [call.id.as_str()]);
    assert_eq!(
        list(
            rep,
            "kind = ACTIVITY_KIND_CALL AND due_date <= 2026-12-31".into()
        )
        .await,
        [call.id.as_str()]
    );
    // Another rep does not see the rep's activities.
    assert!(list(&team.other_rep, String::new()).await.is_empty());

    let undone = activities(&channel)
        .uncomplete_activity(rep.req(pb::UncompleteActivityRequest {
            id: call.id.clone(),
        }))
        .await
        .expect("uncompleted")
        .into_inner();
    assert!(!undone.completed);
    assert!(list(rep, filter).await.is_empty());

    let hidden = activities(&channel)
        .get_activity(team.other_rep.req(pb::GetActivityRequest {
            id: call.id.clone(),
        }))
        .await
        .expect_err("invisible");
    assert_eq!(hidden.code(), Code::NotFound);

    let received = tap.wait_for(team.tenant_id, 6).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.activity.created",
            "crm.activity.logged",
            "crm.activity.created",
            "crm.activity.logged",
            "crm.activity.updated",
            "crm.activity.updated",
        ]
    );
    let logged: pb::ActivityChanged = payload(&received[1]);
    assert_eq!(logged.activity.expect("activity").id, call.id);
    assert_eq!(logged.actor_id, rep.user_id.to_string());
    tap.close().await;
}
