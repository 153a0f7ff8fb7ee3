//! Bad input: each case a clear error naming the field, and a rejected batch writes nothing.

use chrono::{Duration, Utc};
use proto::engagement as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Db, bad_fields, on_contact, team, ts};

#[tokio::test]
async fn each_bad_event_is_named_and_the_batch_writes_nothing() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, None)
        .await;
    let lead = db
        .project_record(team.tenant_id, "lead", team.rep.user_id, None)
        .await;
    let good = on_contact("good", pb::EngagementKind::EmailOpened, contact, Utc::now());
    let unknown_kind = pb::EngagementEvent {
        request_id: "k".into(),
        kind: 4242,
        ..good.clone()
    };
    let twice = pb::EngagementEvent {
        request_id: "t".into(),
        lead_id: lead.to_string(),
        ..good.clone()
    };
    let none = pb::EngagementEvent {
        request_id: "n".into(),
        contact_id: String::new(),
        ..good.clone()
    };
    let future = pb::EngagementEvent {
        request_id: "f".into(),
        occur_time: Some(ts(Utc::now() + Duration::minutes(10))),
        ..good.clone()
    };
    let refused = team
        .rep
        .record(vec![good.clone(), unknown_kind, twice, none, future])
        .await
        .expect_err("refused");
    assert_eq!(
        bad_fields(&refused),
        [
            "events[1].kind",
            "events[2].contact_id",
            "events[3].lead_id",
            "events[4].occur_time"
        ]
    );

    let unknown_record = on_contact("u", pb::EngagementKind::Call, Uuid::now_v7(), Utc::now());
    let refused = team
        .rep
        .record(vec![good.clone(), unknown_record])
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["events[1].contact_id"]);

    let too_many: Vec<_> = (0..501)
        .map(|i| {
            on_contact(
                &format!("b-{i}"),
                pb::EngagementKind::WebVisit,
                contact,
                Utc::now(),
            )
        })
        .collect();
    let refused = team.rep.record(too_many).await.expect_err("refused");
    assert_eq!(bad_fields(&refused), ["events"]);
    assert_eq!(db.touch_count(team.tenant_id).await, 0);
}

#[tokio::test]
async fn a_caller_without_the_permission_is_refused() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let support = crate::helpers::user(&service, team.tenant_id, auth::BuiltinRole::Support).await;
    let refused = support.contact(Uuid::now_v7()).await.expect_err("refused");
    assert_eq!(refused.code(), Code::PermissionDenied);
}
