//! Ending an open-ended plan version: later deals find no plan, deals already calculated under
//! it keep theirs (an end that would strand them is refused), and bad requests change nothing.

use proto::commissions as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    As, DEADLINE, Db, assert_invalid, create_plan, day, declare_consumer_queue, flat_plan,
    lines_until, publish, team, won,
};

fn end_request(plan: &pb::Plan, effective_to: &str) -> pb::EndPlanVersionRequest {
    pb::EndPlanVersionRequest {
        plan_id: plan.id.clone(),
        version_id: plan.versions[0].id.clone(),
        effective_to: effective_to.to_owned(),
    }
}

async fn end(
    who: &As,
    request: pb::EndPlanVersionRequest,
) -> Result<pb::PlanVersion, tonic::Status> {
    Ok(who
        .plans()
        .end_plan_version(who.req(request))
        .await?
        .into_inner())
}

#[tokio::test]
async fn an_ended_version_covers_its_calculated_deals_and_no_later_ones() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (admin, rep) = (&team.admin, team.rep.user_id);
    let plan = create_plan(admin, "Core 5%", flat_plan(&[rep], 50_000)).await;
    assert!(plan.versions[0].effective_to.is_empty());

    let first = won(
        team.tenant_id,
        Uuid::now_v7(),
        48_000,
        &[(rep, 100)],
        day("2026-05-12"),
    );
    publish(&service, &[&first]).await;
    let lines = lines_until(admin, rep, "2026-04-01", |l| l.len() == 1).await;
    assert_eq!(lines[0].amount_minor, 240_000);

    // Ending on the day the calculated deal closed, or on the version's first day: refused.
    for too_early in ["2026-05-12", "2025-01-01", "2024-12-31"] {
        let refused = end(admin, end_request(&plan, too_early))
            .await
            .expect_err("would strand the deal or precede the start");
        assert_invalid(&refused, &["effective_to"]);
    }
    assert_eq!(
        db.audit_count(team.tenant_id, "plan_version.ended").await,
        0
    );

    let ended = end(admin, end_request(&plan, "2026-05-13"))
        .await
        .expect("ended");
    assert_eq!(ended.effective_to, "2026-05-13");
    assert_eq!(ended.id, plan.versions[0].id);
    let stored = admin
        .plans()
        .get_plan(admin.req(pb::GetPlanRequest {
            id: plan.id.clone(),
        }))
        .await
        .expect("plan")
        .into_inner();
    assert_eq!(stored.versions[0].effective_to, "2026-05-13");
    assert_eq!(
        db.audit_count(team.tenant_id, "plan_version.ended").await,
        1
    );
    assert!(
        db.outbox_types(team.tenant_id)
            .await
            .contains(&"commissions.plan_version.ended".to_owned())
    );
    // Ended once: not again.
    let again = end(admin, end_request(&plan, "2026-06-01"))
        .await
        .expect_err("already ended");
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    // A deal closing on the end day finds no plan; the calculated line stays.
    let later = won(
        team.tenant_id,
        Uuid::now_v7(),
        10_000,
        &[(rep, 100)],
        day("2026-05-13"),
    );
    publish(&service, &[&later]).await;
    let skipped = testkit::poll_until(DEADLINE, || async {
        (db.audit_count(team.tenant_id, "deal.no_plan").await == 1).then_some(())
    })
    .await;
    assert!(skipped.is_some(), "the later deal was never processed");
    let lines = admin.lines(rep, "2026-04-01").await.expect("lines");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].amount_minor, 240_000);
}

#[tokio::test]
async fn ending_a_version_is_for_admins_and_checks_its_input() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let admin = &team.admin;
    let plan = create_plan(admin, "Core 5%", flat_plan(&[team.rep.user_id], 50_000)).await;

    let refused = end(&team.manager, end_request(&plan, "2026-01-01"))
        .await
        .expect_err("admin only");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    let mut unknown = end_request(&plan, "2026-01-01");
    unknown.version_id = Uuid::now_v7().to_string();
    let missing = end(admin, unknown).await.expect_err("no such version");
    assert_eq!(missing.code(), Code::NotFound, "{missing:?}");

    let bad = pb::EndPlanVersionRequest {
        plan_id: "nope".into(),
        version_id: String::new(),
        effective_to: "1 May".into(),
    };
    assert_invalid(
        &end(admin, bad).await.expect_err("bad input"),
        &["plan_id", "version_id", "effective_to"],
    );
    assert_eq!(
        db.audit_count(team.tenant_id, "plan_version.ended").await,
        0
    );
}

#[tokio::test]
async fn a_plan_for_a_role_covers_whoever_holds_it_when_the_deal_is_calculated() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let admin = &team.admin;
    let (rep, other_rep, manager) = (
        team.rep.user_id,
        team.other_rep.user_id,
        team.manager.user_id,
    );
    let mut by_role = flat_plan(&[], 50_000);
    by_role.participant_roles = vec!["ROLE_SALES_REP".into()];
    let plan = create_plan(admin, "Reps 5%", by_role.clone()).await;
    assert_eq!(plan.versions[0].participant_roles, ["ROLE_SALES_REP"]);
    // Naming the user wins over their role.
    create_plan(admin, "Other 10%", flat_plan(&[other_rep], 100_000)).await;
    // A rep hired after the plan was written.
    let hire = crate::helpers::another(&service, &db, &team, auth::BuiltinRole::SalesRep)
        .await
        .user_id;

    let close = day("2026-05-12");
    let wins: Vec<_> = [rep, other_rep, hire, manager]
        .iter()
        .map(|who| {
            won(
                team.tenant_id,
                Uuid::now_v7(),
                10_000,
                &[(*who, 100)],
                close,
            )
        })
        .collect();
    publish(&service, &wins.iter().collect::<Vec<_>>()).await;
    for (who, amount) in [(rep, 50_000), (other_rep, 100_000), (hire, 50_000)] {
        let lines = lines_until(admin, who, "2026-04-01", |l| l.len() == 1).await;
        assert_eq!(lines[0].amount_minor, amount, "{who}");
    }
    let skipped = testkit::poll_until(DEADLINE, || async {
        (db.audit_count(team.tenant_id, "deal.no_plan").await == 1).then_some(())
    })
    .await;
    assert!(skipped.is_some(), "the manager's deal found a plan");
    assert!(
        admin
            .lines(manager, "2026-04-01")
            .await
            .expect("lines")
            .is_empty()
    );

    // The rep reads the plan their role gives them; an overlapping role plan is refused.
    let listed = team
        .rep
        .plans()
        .list_plans(team.rep.req(pb::ListPlansRequest {}))
        .await
        .expect("plans")
        .into_inner();
    assert!(listed.plans.iter().any(|p| p.id == plan.id));
    let overlapping = admin
        .plans()
        .create_plan(admin.req(pb::CreatePlanRequest {
            name: "Reps again".into(),
            version: Some(by_role),
        }))
        .await
        .expect_err("overlaps");
    assert_invalid(&overlapping, &["version.participant_roles"]);
    let mut unknown = flat_plan(&[], 50_000);
    unknown.participant_roles = vec!["ROLE_CEO".into()];
    let refused = admin
        .plans()
        .create_plan(admin.req(pb::CreatePlanRequest {
            name: "Bosses".into(),
            version: Some(unknown),
        }))
        .await
        .expect_err("no such role");
    assert_invalid(&refused, &["version.participant_roles[0]"]);
}
