//! Batch ingestion and score reads: touches recorded once per request id, caps, decay on read,
//! a contact's touches counting for its account, and visibility.

use chrono::{Duration, Utc};
use proto::engagement as pb;
use tonic::Code;

use crate::helpers::{Db, bad_fields, on_contact, team};

#[tokio::test]
async fn a_retried_batch_counts_once_and_answers_the_first_recording() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let account = db
        .project_record(team.tenant_id, "account", team.rep.user_id, None)
        .await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, Some(account))
        .await;
    let now = Utc::now();
    let batch = vec![
        on_contact("m-1", pb::EngagementKind::Meeting, contact, now),
        on_contact("r-1", pb::EngagementKind::EmailReplied, contact, now),
    ];
    let first = team.rep.record(batch.clone()).await.expect("recorded");
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].points, 20.0);
    assert_eq!(first[1].points, 15.0);
    assert_eq!(first[0].source, "newsletter");
    let again = team.rep.record(batch).await.expect("recorded again");
    assert_eq!(
        again.iter().map(|e| &e.id).collect::<Vec<_>>(),
        first.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    assert_eq!(db.touch_count(team.tenant_id).await, 2);

    let score = team.rep.contact(contact).await.expect("score");
    // Read a moment later: decayed by a hair, never more than the points.
    assert!(
        score.score <= 35.0 && score.score > 34.99,
        "{}",
        score.score
    );
    assert_eq!(score.state, pb::EngagementState::Engaged as i32);
    assert_eq!(score.breakdown[0].kind, pb::EngagementKind::Meeting as i32);
    assert!(score.last_touch_time.is_some());
    // The contact's touches count for its account.
    let rollup = team.rep.account(account).await.expect("account score");
    assert!((rollup.score - score.score).abs() < 0.01, "{rollup:?}");
}

#[tokio::test]
async fn a_hundred_opens_score_only_the_daily_cap() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, None)
        .await;
    let now = Utc::now();
    let opens: Vec<_> = (0..100)
        .map(|i| {
            on_contact(
                &format!("open-{i}"),
                pb::EngagementKind::EmailOpened,
                contact,
                now - Duration::seconds(i),
            )
        })
        .collect();
    let recorded = team.rep.record(opens).await.expect("recorded");
    let scored = recorded.iter().filter(|e| e.points > 0.0).count();
    assert_eq!(scored, 3, "the default cap of opens per record and day");
    let score = team.rep.contact(contact).await.expect("score");
    assert!(score.score <= 6.0 && score.score > 5.99, "{}", score.score);
}

#[tokio::test]
async fn an_old_touch_weighs_half_after_one_half_life() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let lead = db
        .project_record(team.tenant_id, "lead", team.rep.user_id, None)
        .await;
    let event = pb::EngagementEvent {
        request_id: "old-meeting".into(),
        kind: pb::EngagementKind::Meeting as i32,
        lead_id: lead.to_string(),
        occur_time: Some(crate::helpers::ts(Utc::now() - Duration::days(14))),
        ..Default::default()
    };
    team.rep.record(vec![event]).await.expect("recorded");
    let score = team.rep.lead(lead).await.expect("score");
    assert!((score.score - 10.0).abs() < 0.001, "{}", score.score);
    assert_eq!(score.state, pb::EngagementState::Cooling as i32);
}

#[tokio::test]
async fn reps_see_their_own_managers_their_team_and_nobody_another_tenants() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let contact = db
        .project_record(team.tenant_id, "contact", team.rep.user_id, None)
        .await;
    team.rep
        .record(vec![on_contact(
            "c-1",
            pb::EngagementKind::Call,
            contact,
            Utc::now(),
        )])
        .await
        .expect("recorded");
    assert!(team.manager.contact(contact).await.is_ok());
    assert!(team.admin.contact(contact).await.is_ok());
    let hidden = team.other_rep.contact(contact).await.expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);

    // Recording on an invisible record is refused, naming the field, and writes nothing.
    let refused = team
        .other_rep
        .record(vec![on_contact(
            "c-2",
            pb::EngagementKind::Call,
            contact,
            Utc::now(),
        )])
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["events[0].contact_id"]);

    // Another tenant's admin sees nothing of it.
    let stranger = crate::helpers::team(&service, &db).await;
    let foreign = stranger.admin.contact(contact).await.expect_err("hidden");
    assert_eq!(foreign.code(), Code::NotFound);
    let refused = stranger
        .admin
        .record(vec![on_contact(
            "c-3",
            pb::EngagementKind::Call,
            contact,
            Utc::now(),
        )])
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["events[0].contact_id"]);
    assert_eq!(db.touch_count(team.tenant_id).await, 1);
    assert_eq!(db.touch_count(stranger.tenant_id).await, 0);
}

#[tokio::test]
async fn a_disengaged_account_touched_again_is_announced_as_reengaged() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let account = db
        .project_record(team.tenant_id, "account", team.rep.user_id, None)
        .await;
    let event = |id: &str, kind: pb::EngagementKind, days_ago: i64| pb::EngagementEvent {
        request_id: id.to_owned(),
        kind: kind as i32,
        account_id: account.to_string(),
        occur_time: Some(crate::helpers::ts(Utc::now() - Duration::days(days_ago))),
        ..Default::default()
    };
    // A single old open: disengaged from the first touch on.
    team.rep
        .record(vec![event("old", pb::EngagementKind::EmailOpened, 60)])
        .await
        .expect("recorded");
    let cold = team.rep.account(account).await.expect("score");
    assert_eq!(cold.state, pb::EngagementState::Disengaged as i32);
    team.rep
        .record(vec![event("meeting", pb::EngagementKind::Meeting, 0)])
        .await
        .expect("recorded");
    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        ["engagement.account.reengaged"]
    );
}

#[tokio::test]
async fn an_account_whose_score_decayed_is_swept_into_disengaged_and_announced_once() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let account = db
        .project_record(team.tenant_id, "account", team.rep.user_id, None)
        .await;
    team.rep
        .record(vec![pb::EngagementEvent {
            request_id: "meeting".into(),
            kind: pb::EngagementKind::Meeting as i32,
            account_id: account.to_string(),
            occur_time: Some(crate::helpers::ts(Utc::now())),
            ..Default::default()
        }])
        .await
        .expect("recorded");
    // Two months on, the meeting weighs 20 · 2^(-60/14) ≈ 1: below the disengaged threshold.
    let later = Utc::now() + Duration::days(60);
    assert_eq!(
        engagement::store::sweep::sweep(&db.pool, later)
            .await
            .expect("swept"),
        1
    );
    assert_eq!(
        engagement::store::sweep::sweep(&db.pool, later)
            .await
            .expect("swept"),
        0
    );
    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        ["engagement.account.disengaged"]
    );
}
