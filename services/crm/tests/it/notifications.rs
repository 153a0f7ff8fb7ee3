//! Reminders and the notification feed: reminders fire once at their time (also with several
//! schedulers racing), past reminders are refused, the feed lists only the caller's own
//! notifications (assignments, mentions, SLA breaches, reminders) with unread counts, marking
//! read, and the live stream.

use chrono::Utc;
use futures::StreamExt as _;
use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::activities::{activities, log, note_on};
use crate::events::tenants_event;
use crate::helpers::{As, DEADLINE, Db, assert_invalid, declare_consumer_queue, publish, team};

fn feed(channel: &Channel) -> pb::notification_service_client::NotificationServiceClient<Channel> {
    pb::notification_service_client::NotificationServiceClient::new(channel.clone())
}

fn timestamp(at: chrono::DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

async fn list(who: &As, unread_only: bool) -> pb::ListNotificationsResponse {
    feed(&who.channel())
        .list_notifications(who.req(pb::ListNotificationsRequest {
            page_size: 100,
            unread_only,
            ..Default::default()
        }))
        .await
        .expect("list notifications")
        .into_inner()
}

/// Polls the feed until a notification of `kind` about `subject_id` is there.
async fn wait_for(who: &As, kind: pb::NotificationKind, subject_id: &str) -> pb::Notification {
    testkit::poll_until(DEADLINE, || async {
        list(who, false)
            .await
            .notifications
            .into_iter()
            .find(|n| n.kind == kind as i32 && n.subject_id == subject_id)
    })
    .await
    .unwrap_or_else(|| panic!("no {kind:?} notification about {subject_id}"))
}

fn task_on_lead(lead_id: &str, subject: &str) -> pb::Activity {
    pb::Activity {
        kind: pb::ActivityKind::Task as i32,
        ..note_on(pb::RecordType::Lead, lead_id, subject)
    }
}

#[tokio::test]
async fn a_reminder_fires_once_at_its_time_as_event_and_notification() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let lead = team.rep.create_lead("Reminded", "Soon Inc").await;
    // Whole milliseconds: the database keeps microseconds.
    let remind_at =
        chrono::SubsecRound::trunc_subsecs(Utc::now() + chrono::Duration::milliseconds(1500), 3);
    let activity = log(
        &team.rep.channel(),
        &team.rep,
        pb::Activity {
            remind_time: Some(timestamp(remind_at)),
            ..task_on_lead(&lead.id, "Call back Soon Inc")
        },
    )
    .await
    .expect("activity with a reminder");

    let reminder = wait_for(&team.rep, pb::NotificationKind::Reminder, &activity.id).await;
    assert_eq!(reminder.title, "Reminder: Call back Soon Inc");
    assert_eq!(reminder.subject_type, "activity");
    assert!(!reminder.read);
    let fired_at: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT reminded_at FROM activities WHERE id = $1::uuid")
            .bind(&activity.id)
            .fetch_one(&db.pool)
            .await
            .expect("fired");
    assert!(fired_at >= remind_at, "fired before its time");

    // Once: another round of firing finds nothing, the outbox has one event.
    assert_eq!(crm.fire_reminders(Utc::now()).await, 0);
    let due: Vec<String> = db
        .outbox_types(team.tenant_id)
        .await
        .into_iter()
        .filter(|t| t == "crm.activity.reminder_due")
        .collect();
    assert_eq!(due.len(), 1);
    let reminders = list(&team.rep, false)
        .await
        .notifications
        .into_iter()
        .filter(|n| n.kind == pb::NotificationKind::Reminder as i32)
        .count();
    assert_eq!(reminders, 1);
}

#[tokio::test]
async fn racing_schedulers_fire_each_due_reminder_exactly_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let lead = team.rep.create_lead("Many", "Reminders Inc").await;
    // Due in the past, as after a restart that missed them: written directly, since the API
    // refuses past reminders.
    for n in 0..40 {
        sqlx::query(
            "INSERT INTO activities (id, tenant_id, kind, subject, related_type, related_id,
                 remind_at, owner_id, created_at, updated_at)
             VALUES ($1, $2, 'task', $3, 'lead', $4::uuid, now() - interval '1 minute', $5,
                 now(), now())",
        )
        .bind(Uuid::now_v7())
        .bind(team.tenant_id)
        .bind(format!("Task {n}"))
        .bind(&lead.id)
        .bind(team.rep.user_id)
        .execute(&db.pool)
        .await
        .expect("pending reminder");
    }
    let now = Utc::now();
    let (a, b, c) = tokio::join!(
        crm.fire_reminders(now),
        crm.fire_reminders(now),
        crm.fire_reminders(now)
    );
    // The service's own scheduler may take some too (and commit after these calls return);
    // together, each exactly once.
    assert!(a + b + c <= 40);
    testkit::poll_until(DEADLINE, || async {
        let pending = db
            .count(
                "SELECT count(*) FROM activities WHERE tenant_id = $1 AND reminded_at IS NULL",
                team.tenant_id,
            )
            .await;
        (pending == 0).then_some(())
    })
    .await
    .expect("every reminder fired");
    assert_eq!(
        db.count(
            "SELECT count(*) FROM notifications WHERE tenant_id = $1 AND kind = 'reminder'",
            team.tenant_id
        )
        .await,
        40
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1
                 AND event_type = 'crm.activity.reminder_due'",
            team.tenant_id
        )
        .await,
        40
    );
}

#[tokio::test]
async fn a_reminder_in_the_past_is_refused_on_create_and_update() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let lead = team.rep.create_lead("Late", "Past Inc").await;
    let past = Some(timestamp(Utc::now() - chrono::Duration::minutes(5)));
    let refused = log(
        &team.rep.channel(),
        &team.rep,
        pb::Activity {
            remind_time: past,
            ..task_on_lead(&lead.id, "Too late")
        },
    )
    .await
    .expect_err("past reminder");
    assert_invalid(&refused, &["activity.remind_time"]);

    let activity = log(
        &team.rep.channel(),
        &team.rep,
        task_on_lead(&lead.id, "Later"),
    )
    .await
    .expect("no reminder");
    let refused = activities(&team.rep.channel())
        .update_activity(team.rep.req(pb::UpdateActivityRequest {
            activity: Some(pb::Activity {
                id: activity.id.clone(),
                remind_time: past,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["remind_time".into()],
            }),
        }))
        .await
        .expect_err("past reminder");
    assert_invalid(&refused, &["activity.remind_time"]);
}

#[tokio::test]
async fn the_feed_holds_assignments_mentions_and_breaches_of_the_caller_only() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;

    // Assigned by the admin: the rep is told; the admin's own lead tells nobody.
    let given = team
        .admin
        .leads()
        .create_lead(team.admin.req(pb::CreateLeadRequest {
            last_name: "Given".into(),
            company: "Handed Inc".into(),
            owner_id: team.rep.user_id.to_string(),
            force: true,
            ..Default::default()
        }))
        .await
        .expect("lead for the rep")
        .into_inner();
    team.admin.create_lead("Own", "Self Inc").await;
    let assigned = wait_for(&team.rep, pb::NotificationKind::Assigned, &given.id).await;
    assert_eq!(assigned.subject_type, "lead");
    assert_eq!(assigned.title, "Lead assigned to you: Given");

    // Mentioned in a note by the manager: the rep is told, unknown ids are plain text.
    let note = log(
        &team.manager.channel(),
        &team.manager,
        pb::Activity {
            body: format!(
                "<@{}> please call; <@{}> is nobody",
                team.rep.user_id,
                Uuid::now_v7()
            ),
            ..note_on(pb::RecordType::Lead, &given.id, "Follow up")
        },
    )
    .await
    .expect("note with a mention");
    let mention = wait_for(&team.rep, pb::NotificationKind::Mentioned, &note.id).await;
    assert_eq!(mention.title, "You were mentioned: Follow up");

    // A case of the support user misses its SLA.
    let case = pb::case_service_client::CaseServiceClient::new(team.support.channel())
        .create_case(team.support.req(pb::CreateCaseRequest {
            case: Some(pb::Case {
                subject: "Printer on fire".into(),
                priority: pb::CasePriority::Urgent as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect("case")
        .into_inner();
    assert!(crm.sweep_sla(Utc::now() + chrono::Duration::days(30)).await >= 1);
    let breach = wait_for(&team.support, pb::NotificationKind::SlaBreached, &case.id).await;
    assert_eq!(breach.title, "SLA breached: Printer on fire");

    // Nobody sees another's feed.
    let others = list(&team.other_rep, false).await;
    assert!(others.notifications.is_empty());
    assert_eq!(others.unread_count, 0);

    // Unread count, mark one read (another user's attempt changes nothing), then all.
    let before = list(&team.rep, true).await;
    assert_eq!(before.unread_count, 2);
    assert_eq!(before.notifications.len(), 2);
    let stolen = feed(&team.other_rep.channel())
        .mark_notifications_read(team.other_rep.req(pb::MarkNotificationsReadRequest {
            ids: vec![assigned.id.clone()],
            all: false,
        }))
        .await
        .expect("mark")
        .into_inner();
    assert_eq!(stolen.marked_count, 0);
    let one = feed(&team.rep.channel())
        .mark_notifications_read(team.rep.req(pb::MarkNotificationsReadRequest {
            ids: vec![assigned.id.clone()],
            all: false,
        }))
        .await
        .expect("mark one")
        .into_inner();
    assert_eq!((one.marked_count, one.unread_count), (1, 1));
    let unread = list(&team.rep, true).await;
    assert_eq!(
        unread
            .notifications
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        [mention.id.as_str()]
    );
    let all = feed(&team.rep.channel())
        .mark_notifications_read(team.rep.req(pb::MarkNotificationsReadRequest {
            ids: vec![],
            all: true,
        }))
        .await
        .expect("mark all")
        .into_inner();
    assert_eq!((all.marked_count, all.unread_count), (1, 0));
    let everything = list(&team.rep, false).await;
    assert_eq!(everything.unread_count, 0);
    assert!(
        everything
            .notifications
            .iter()
            .all(|n| n.read && n.read_time.is_some())
    );

    // Bad input names the field.
    let bad = feed(&team.rep.channel())
        .mark_notifications_read(team.rep.req(pb::MarkNotificationsReadRequest {
            ids: vec!["nope".into()],
            all: false,
        }))
        .await
        .expect_err("bad id");
    assert_invalid(&bad, &["ids[0]"]);
}

#[tokio::test]
async fn the_feed_pages_newest_first() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    for n in 0..5 {
        team.admin
            .leads()
            .create_lead(team.admin.req(pb::CreateLeadRequest {
                last_name: format!("Lead {n}"),
                company: "Paged Inc".into(),
                owner_id: team.rep.user_id.to_string(),
                force: true,
                ..Default::default()
            }))
            .await
            .expect("lead");
    }
    let mut titles = Vec::new();
    let mut token = String::new();
    loop {
        let page = feed(&team.rep.channel())
            .list_notifications(team.rep.req(pb::ListNotificationsRequest {
                page_size: 2,
                page_token: token.clone(),
                unread_only: false,
            }))
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.unread_count, 5);
        titles.extend(page.notifications.into_iter().map(|n| n.title));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..5)
        .rev()
        .map(|n| format!("Lead assigned to you: Lead {n}"))
        .collect();
    assert_eq!(titles, expected);
    let mismatched = feed(&team.rep.channel())
        .list_notifications(team.rep.req(pb::ListNotificationsRequest {
            page_size: 2,
            page_token: token,
            unread_only: true,
        }))
        .await
        .expect_err("token of another query");
    assert_eq!(mismatched.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn the_stream_delivers_the_callers_new_notifications() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let mut stream = feed(&team.rep.channel())
        .stream_notifications(team.rep.req(pb::StreamNotificationsRequest {}))
        .await
        .expect("stream opens")
        .into_inner();
    // Another user's notification is not streamed to the rep; the rep's is.
    team.admin
        .leads()
        .create_lead(team.admin.req(pb::CreateLeadRequest {
            last_name: "Not yours".into(),
            company: "Elsewhere Inc".into(),
            owner_id: team.other_rep.user_id.to_string(),
            force: true,
            ..Default::default()
        }))
        .await
        .expect("lead for the other rep");
    let lead = team
        .admin
        .leads()
        .create_lead(team.admin.req(pb::CreateLeadRequest {
            last_name: "Streamed".into(),
            company: "Live Inc".into(),
            owner_id: team.rep.user_id.to_string(),
            force: true,
            ..Default::default()
        }))
        .await
        .expect("lead for the rep")
        .into_inner();
    let first = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a notification in time")
        .expect("stream open")
        .expect("no error");
    let notification = first.notification.expect("notification");
    assert_eq!(notification.subject_id, lead.id);
    assert_eq!(notification.kind, pb::NotificationKind::Assigned as i32);
    assert_eq!(first.unread_count, 1);
    drop(stream);
}

#[tokio::test]
async fn commission_outcomes_reach_the_participants_feed_once() {
    use proto::commissions as cpb;

    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let rep = team.rep.user_id;
    let approved = tenants_event(
        "commissions.statement.approved",
        team.tenant_id,
        "participant",
        rep,
        &cpb::StatementStatusChanged {
            participant_id: rep.to_string(),
            period: cpb::PeriodKind::Month as i32,
            period_start: "2026-11-01".into(),
            status: cpb::StatementStatus::Approved as i32,
            actor_id: team.admin.user_id.to_string(),
        },
    );
    publish(&approved).await;
    publish(&approved).await; // a duplicate delivery
    let dispute_id = Uuid::now_v7().to_string();
    publish(&tenants_event(
        "commissions.dispute.resolved",
        team.tenant_id,
        "participant",
        rep,
        &cpb::DisputeResolved {
            dispute: Some(cpb::Dispute {
                id: dispute_id.clone(),
                comment: "Split missing".into(),
                resolution: "Added the split".into(),
                ..Default::default()
            }),
            participant_id: rep.to_string(),
            period: cpb::PeriodKind::Month as i32,
            period_start: "2026-11-01".into(),
            actor_id: team.admin.user_id.to_string(),
        },
    ))
    .await;

    let resolved = wait_for(
        &team.rep,
        pb::NotificationKind::CommissionDisputeResolved,
        &dispute_id,
    )
    .await;
    assert_eq!(resolved.title, "Commission dispute resolved: Split missing");
    assert_eq!(resolved.body, "Added the split");
    let statement = wait_for(
        &team.rep,
        pb::NotificationKind::CommissionStatementApproved,
        "month/2026-11-01",
    )
    .await;
    assert_eq!(
        statement.title,
        "Commission statement approved: month from 2026-11-01"
    );
    let approvals = list(&team.rep, false)
        .await
        .notifications
        .into_iter()
        .filter(|n| n.kind == pb::NotificationKind::CommissionStatementApproved as i32)
        .count();
    assert_eq!(approvals, 1);
}
