//! Support cases: SLA targets on the tenant's business hours, the breach sweeper with its event
//! on the real broker, the life cycle actions and who sees which case.

use chrono::{DateTime, Duration, Utc};
use crm::domain::business_hours::{BusinessHours, parse_time, parse_time_zone, parse_weekdays};
use crm::store::PgStore;
use crm::store::cases::CaseStore;
use crm::testing::TestCrm;
use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{As, Db, Tap, assert_invalid, payload, team};

fn cases(crm_channel: &Channel) -> pb::case_service_client::CaseServiceClient<Channel> {
    pb::case_service_client::CaseServiceClient::new(crm_channel.clone())
}

fn instant(t: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.expect("timestamp set");
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).expect("nanos")).expect("instant")
}

async fn create_case(
    channel: &Channel,
    who: &As,
    subject: &str,
    priority: pb::CasePriority,
    account_id: &str,
    owner_id: &str,
) -> pb::Case {
    cases(channel)
        .create_case(who.req(pb::CreateCaseRequest {
            case: Some(pb::Case {
                subject: subject.to_owned(),
                priority: priority as i32,
                account_id: account_id.to_owned(),
                owner_id: owner_id.to_owned(),
                ..Default::default()
            }),
        }))
        .await
        .expect("case created")
        .into_inner()
}

/// The store as the service runs it (application role, so row-level security applies).
async fn app_store(crm: &TestCrm) -> PgStore {
    let app = Db::connect_as(crm, crm.settings.database.app_role.as_deref()).await;
    PgStore::new(app.pool)
}

#[tokio::test]
async fn a_case_is_due_on_business_hours_and_the_sweeper_breaches_it_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let tap = Tap::bind(&["crm.case.*"]).await;

    let saved = cases(&channel)
        .update_business_hours(team.admin.req(pb::UpdateBusinessHoursRequest {
            business_hours: Some(pb::BusinessHours {
                time_zone: "America/New_York".into(),
                weekdays: vec![1, 2, 3, 4, 5, 6],
                opens_at: "08:00".into(),
                closes_at: "18:30".into(),
            }),
        }))
        .await
        .expect("business hours saved")
        .into_inner();
    assert_eq!(saved.weekdays, [1, 2, 3, 4, 5, 6]);

    let case = create_case(
        &channel,
        &team.support,
        "Cannot log in",
        pb::CasePriority::Urgent,
        "",
        "",
    )
    .await;
    assert_eq!(case.status, pb::CaseStatus::New as i32);
    assert!(!case.sla_breached);
    let hours = BusinessHours::new(
        parse_time_zone("America/New_York").expect("zone"),
        parse_weekdays(&[1, 2, 3, 4, 5, 6]).expect("days"),
        parse_time("08:00").expect("time"),
        parse_time("18:30").expect("time"),
    )
    .expect("hours");
    let created = instant(case.create_time);
    let first_due = instant(case.first_response_due_time);
    let resolution_due = instant(case.resolution_due_time);
    assert_eq!(first_due, hours.add_business_minutes(created, 60));
    assert_eq!(resolution_due, hours.add_business_minutes(created, 240));

    let store = app_store(&crm).await;
    // Just before the first response is due nothing is overdue.
    assert_eq!(
        store
            .sweep_sla(first_due - Duration::seconds(1))
            .await
            .expect("sweep"),
        0
    );
    let late = first_due + Duration::minutes(1);
    assert_eq!(store.sweep_sla(late).await.expect("sweep"), 1);
    assert_eq!(store.sweep_sla(late).await.expect("sweep again"), 0);
    assert_eq!(
        store
            .sweep_sla(resolution_due + Duration::hours(1))
            .await
            .expect("sweep later"),
        0,
        "a breached case is never marked twice"
    );

    let breached = cases(&channel)
        .get_case(team.support.req(pb::GetCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect("case readable")
        .into_inner();
    assert!(breached.sla_breached);
    assert_eq!(instant(breached.sla_breach_time), late);

    let received = tap.wait_for(team.tenant_id, 3).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.case.created",
            "crm.case.opened",
            "crm.case.sla_breached"
        ]
    );
    let event: pb::CaseSlaBreached = payload(&received[2]);
    assert_eq!(event.target, "first_response");
    assert_eq!(event.case.expect("case").id, case.id);
    assert_eq!(instant(event.due_time), first_due);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event_type = 'crm.case.sla_breached'",
            team.tenant_id,
        )
        .await,
        1
    );
    tap.close().await;
}

#[tokio::test]
async fn replicas_sweeping_at_once_breach_each_case_once() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let mut latest_due = None;
    for subject in ["One", "Two", "Three"] {
        let case = create_case(
            &channel,
            &team.support,
            subject,
            pb::CasePriority::High,
            "",
            "",
        )
        .await;
        let due = instant(case.resolution_due_time);
        latest_due = latest_due.max(Some(due));
    }
    let at = latest_due.expect("cases created") + Duration::minutes(1);
    // Two replicas, each with its own connections.
    let (first, second) = (app_store(&crm).await, app_store(&crm).await);
    let (a, b) = tokio::join!(first.sweep_sla(at), second.sweep_sla(at));
    assert_eq!(a.expect("sweep") + b.expect("sweep"), 3);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND event_type = 'crm.case.sla_breached'",
            team.tenant_id,
        )
        .await,
        3
    );
}

#[tokio::test]
async fn case_actions_follow_the_life_cycle_and_announce_closing_and_reopening() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let tap = Tap::bind(&["crm.case.*"]).await;
    let support = &team.support;
    let case = create_case(
        &channel,
        support,
        "Invoice wrong",
        pb::CasePriority::Low,
        "",
        "",
    )
    .await;
    let mut client = cases(&channel);

    let responded = client
        .respond_case(support.req(pb::RespondCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect("responded")
        .into_inner();
    assert_eq!(responded.status, pb::CaseStatus::Open as i32);
    let first_response = responded.first_response_time.expect("first response");
    let again = client
        .respond_case(support.req(pb::RespondCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect("responded again")
        .into_inner();
    assert_eq!(again.first_response_time, Some(first_response));

    let closed = client
        .close_case(support.req(pb::CloseCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect("closed")
        .into_inner();
    assert_eq!(closed.status, pb::CaseStatus::Closed as i32);
    assert!(closed.resolve_time.is_some() && closed.close_time.is_some());

    let refused = client
        .respond_case(support.req(pb::RespondCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect_err("closed cases take no response");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let reopened = client
        .reopen_case(support.req(pb::ReopenCaseRequest {
            id: case.id.clone(),
        }))
        .await
        .expect("reopened")
        .into_inner();
    assert_eq!(reopened.status, pb::CaseStatus::Open as i32);
    assert_eq!(reopened.resolve_time, None);

    let received = tap.wait_for(team.tenant_id, 7).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.case.created",
            "crm.case.opened",
            "crm.case.updated",
            "crm.case.updated",
            "crm.case.closed",
            "crm.case.updated",
            "crm.case.opened",
        ]
    );
    tap.close().await;
}

#[tokio::test]
async fn support_works_every_case_and_reps_see_their_own_and_their_accounts() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let account = team.rep.create_account("Rep's customer").await;
    // Owned by the other rep, about the rep's account: both reps see it, and the rep's manager.
    let shared = create_case(
        &channel,
        &team.support,
        "Shipment lost",
        pb::CasePriority::High,
        &account.id,
        &team.other_rep.user_id.to_string(),
    )
    .await;
    let internal = create_case(
        &channel,
        &team.support,
        "Password reset",
        pb::CasePriority::Normal,
        "",
        "",
    )
    .await;

    let listed = async |who: &As| -> Vec<String> {
        let mut ids: Vec<String> = cases(&channel)
            .list_cases(who.req(pb::ListCasesRequest::default()))
            .await
            .expect("listed")
            .into_inner()
            .cases
            .into_iter()
            .map(|c| c.id)
            .collect();
        ids.sort();
        ids
    };
    let mut both = vec![shared.id.clone(), internal.id.clone()];
    both.sort();
    assert_eq!(listed(&team.support).await, both);
    assert_eq!(listed(&team.admin).await, both);
    assert_eq!(listed(&team.rep).await, [shared.id.as_str()]);
    assert_eq!(listed(&team.other_rep).await, [shared.id.as_str()]);
    assert_eq!(listed(&team.manager).await, [shared.id.as_str()]);

    let hidden = cases(&channel)
        .get_case(team.rep.req(pb::GetCaseRequest {
            id: internal.id.clone(),
        }))
        .await
        .expect_err("invisible");
    assert_eq!(hidden.code(), Code::NotFound);
    let not_theirs = cases(&channel)
        .resolve_case(team.rep.req(pb::ResolveCaseRequest {
            id: internal.id.clone(),
        }))
        .await
        .expect_err("invisible");
    assert_eq!(not_theirs.code(), Code::NotFound);
    // Support works the case another user owns.
    let resolved = cases(&channel)
        .resolve_case(team.support.req(pb::ResolveCaseRequest {
            id: shared.id.clone(),
        }))
        .await
        .expect("support resolves")
        .into_inner();
    assert_eq!(resolved.status, pb::CaseStatus::Resolved as i32);

    // Filters combine with visibility.
    let urgent_or_high = cases(&channel)
        .list_cases(team.support.req(pb::ListCasesRequest {
            filter: "priority = CASE_PRIORITY_HIGH AND status = CASE_STATUS_RESOLVED".into(),
            ..Default::default()
        }))
        .await
        .expect("filtered")
        .into_inner();
    let ids: Vec<String> = urgent_or_high.cases.into_iter().map(|c| c.id).collect();
    assert_eq!(ids, [shared.id.as_str()]);
}

#[tokio::test]
async fn bad_case_input_is_refused_with_field_violations() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let status = cases(&channel)
        .create_case(team.support.req(pb::CreateCaseRequest {
            case: Some(pb::Case {
                subject: "Broken".into(),
                priority: 17,
                ..Default::default()
            }),
        }))
        .await
        .expect_err("unknown priority");
    assert_invalid(&status, &["case.priority"]);

    let missing_account = cases(&channel)
        .create_case(team.rep.req(pb::CreateCaseRequest {
            case: Some(pb::Case {
                subject: "Broken".into(),
                account_id: uuid::Uuid::now_v7().to_string(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("no such account");
    assert_invalid(&missing_account, &["case.account_id"]);

    let hours = cases(&channel)
        .update_business_hours(team.admin.req(pb::UpdateBusinessHoursRequest {
            business_hours: Some(pb::BusinessHours {
                time_zone: "Europe/Atlantis".into(),
                weekdays: vec![1],
                opens_at: "09:00".into(),
                closes_at: "17:00".into(),
            }),
        }))
        .await
        .expect_err("unknown zone");
    assert_invalid(&hours, &["business_hours.time_zone"]);

    let not_admin = cases(&channel)
        .update_business_hours(team.support.req(pb::UpdateBusinessHoursRequest {
            business_hours: Some(pb::BusinessHours::default()),
        }))
        .await
        .expect_err("support may not");
    assert_eq!(not_admin.code(), Code::PermissionDenied);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM cases WHERE tenant_id = $1",
            team.tenant_id
        )
        .await,
        0
    );
}

#[tokio::test]
async fn business_hours_follow_the_tenants_time_zone() {
    use events::NewEvent;
    use proto::tenants as tpb;

    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    crate::helpers::declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let defaults = cases(&channel)
        .get_business_hours(team.support.req(pb::GetBusinessHoursRequest {}))
        .await
        .expect("defaults")
        .into_inner();
    assert_eq!(
        (
            defaults.time_zone.as_str(),
            defaults.weekdays.as_slice(),
            defaults.opens_at.as_str(),
            defaults.closes_at.as_str()
        ),
        ("UTC", &[1, 2, 3, 4, 5][..], "09:00", "17:00")
    );

    let tenant = |zone: &str| tpb::Tenant {
        id: team.tenant_id.to_string(),
        settings: Some(tpb::TenantSettings {
            timezone: zone.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let updated = NewEvent::new(
        "tenants.tenant.updated",
        team.tenant_id,
        "tenant",
        team.tenant_id,
        &tpb::TenantUpdated {
            tenant: Some(tenant("Asia/Tokyo")),
            changed_fields: vec!["settings.timezone".into()],
        },
    )
    .expect("event")
    .to_envelope();
    crate::helpers::publish(&updated).await;

    let zone = testkit::poll_until(crate::helpers::DEADLINE, || {
        let mut client = cases(&channel);
        let request = team.support.req(pb::GetBusinessHoursRequest {});
        async move {
            let hours = client.get_business_hours(request).await.ok()?.into_inner();
            (hours.time_zone != "UTC").then_some(hours)
        }
    })
    .await
    .expect("the tenant's zone is applied");
    assert_eq!(zone.time_zone, "Asia/Tokyo");
    assert_eq!(zone.opens_at, "09:00");
}
