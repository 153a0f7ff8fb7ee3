//! Team quotas and attainment: a manager's team rolls up the reports' quotas unless an admin
//! overrides it, members are ranked, year to date follows the tenant's fiscal year, and only
//! managers (their own team and below) and admins read teams.

use auth::BuiltinRole;
use proto::commissions as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    As, Db, assert_invalid, create_plan, day, declare_consumer_queue, flat_plan, lines_until,
    publish, report_to, team, won,
};

fn quota(user: Uuid, kind: pb::PeriodKind, start: &str, amount_minor: i64) -> pb::Quota {
    pb::Quota {
        user_id: user.to_string(),
        period: kind as i32,
        period_start: start.to_owned(),
        currency_code: "USD".into(),
        amount_minor,
        fiscal_year_start_month: 0,
    }
}

async fn set_quota(admin: &As, quota: pb::Quota) {
    admin
        .commissions()
        .set_quota(admin.req(pb::SetQuotaRequest { quota: Some(quota) }))
        .await
        .expect("quota set");
}

fn team_request(manager: Uuid, start: &str, year_to_date: bool) -> pb::GetTeamAttainmentRequest {
    pb::GetTeamAttainmentRequest {
        manager_id: manager.to_string(),
        period: pb::PeriodKind::Quarter as i32,
        period_start: start.to_owned(),
        as_of: "2026-05-15".into(),
        year_to_date,
    }
}

async fn set_team_quota(who: &As, quota: pb::Quota) -> Result<pb::Quota, tonic::Status> {
    Ok(who
        .commissions()
        .set_team_quota(who.req(pb::SetTeamQuotaRequest { quota: Some(quota) }))
        .await?
        .into_inner())
}

async fn team_of(who: &As, request: pb::GetTeamAttainmentRequest) -> pb::TeamAttainment {
    who.commissions()
        .get_team_attainment(who.req(request))
        .await
        .expect("team attainment")
        .into_inner()
}

async fn attainment_of(who: &As, participant: Uuid, year_to_date: bool) -> pb::Attainment {
    who.commissions()
        .get_attainment(who.req(pb::GetAttainmentRequest {
            participant_id: participant.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            as_of: "2026-05-15".into(),
            year_to_date,
        }))
        .await
        .expect("attainment")
        .into_inner()
}

/// (attained, quota, attainment, elapsed, pace)
fn figures(a: &pb::Attainment) -> (i64, i64, i64, i64, i64) {
    (
        a.attained_minor,
        a.quota_minor,
        a.attainment_basis_points,
        a.elapsed_basis_points,
        a.pace_basis_points,
    )
}

#[tokio::test]
async fn a_managers_team_rolls_up_ranks_and_takes_an_override() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (admin, manager) = (&team.admin, &team.manager);
    let rep = team.rep.user_id;
    let rep2 = report_to(
        &service,
        &db,
        &team,
        Some(manager.user_id),
        BuiltinRole::SalesRep,
    )
    .await
    .user_id;
    create_plan(admin, "Team 5%", flat_plan(&[rep, rep2], 50_000)).await;
    set_quota(
        admin,
        quota(rep, pb::PeriodKind::Quarter, "2026-04-01", 10_000_000),
    )
    .await;
    set_quota(
        admin,
        quota(rep2, pb::PeriodKind::Quarter, "2026-04-01", 5_000_000),
    )
    .await;
    set_quota(
        admin,
        quota(rep, pb::PeriodKind::Quarter, "2026-01-01", 8_000_000),
    )
    .await;

    let wins = [
        won(
            team.tenant_id,
            Uuid::now_v7(),
            60_000,
            &[(rep, 100)],
            day("2026-05-12"),
        ),
        won(
            team.tenant_id,
            Uuid::now_v7(),
            40_000,
            &[(rep2, 100)],
            day("2026-05-13"),
        ),
        won(
            team.tenant_id,
            Uuid::now_v7(),
            20_000,
            &[(rep, 100)],
            day("2026-02-10"),
        ),
    ];
    publish(&service, &wins.iter().collect::<Vec<_>>()).await;
    lines_until(admin, rep, "2026-04-01", |l| l.len() == 1).await;
    lines_until(admin, rep2, "2026-04-01", |l| l.len() == 1).await;
    lines_until(admin, rep, "2026-01-01", |l| l.len() == 1).await;

    // The rep alone: 60 000.00 of 100 000.00 with 45 of 91 days gone.
    let own = attainment_of(&team.rep, rep, false).await;
    assert_eq!(figures(&own), (6_000_000, 10_000_000, 6_000, 4_945, 12_133));
    assert!(!own.year_to_date);

    // The team: the reports' bookings against the sum of their quotas; rep2 leads at 80 %.
    let board = team_of(manager, team_request(manager.user_id, "2026-04-01", false)).await;
    let whole = board.team.as_ref().expect("team figures");
    assert_eq!(whole.participant_id, manager.user_id.to_string());
    assert_eq!(
        figures(whole),
        (10_000_000, 15_000_000, 6_667, 4_945, 13_482)
    );
    assert!(!board.quota_overridden);
    let ranking: Vec<(i32, String, i64)> = board
        .members
        .iter()
        .map(|m| {
            let a = m.attainment.as_ref().expect("member figures");
            (m.rank, a.participant_id.clone(), a.attainment_basis_points)
        })
        .collect();
    assert_eq!(
        ranking,
        vec![(1, rep2.to_string(), 8_000), (2, rep.to_string(), 6_000)]
    );

    // An admin's override of the manager's team quota replaces the roll-up.
    let over = quota(
        manager.user_id,
        pb::PeriodKind::Quarter,
        "2026-04-01",
        20_000_000,
    );
    set_team_quota(admin, over).await.expect("team quota set");
    let board = team_of(admin, team_request(manager.user_id, "2026-04-01", false)).await;
    assert_eq!(
        figures(board.team.as_ref().expect("team")),
        (10_000_000, 20_000_000, 5_000, 4_945, 10_111)
    );
    assert!(board.quota_overridden);
    assert_eq!(db.audit_count(team.tenant_id, "team_quota.set").await, 1);

    // Year to date (fiscal year from January): both of the rep's quarters, against the sum of
    // the year's quarterly quotas, then against a year quota once one is set.
    let ytd = attainment_of(&team.rep, rep, true).await;
    assert!(ytd.year_to_date);
    assert_eq!(ytd.period_start, "2026-01-01");
    assert_eq!(figures(&ytd), (8_000_000, 18_000_000, 4_444, 3_699, 12_014));
    set_quota(
        admin,
        quota(rep, pb::PeriodKind::Year, "2026-01-01", 30_000_000),
    )
    .await;
    let ytd = attainment_of(manager, rep, true).await;
    assert_eq!(figures(&ytd), (8_000_000, 30_000_000, 2_667, 3_699, 7_210));

    // A fiscal year from April (the tenant's settings): only the second quarter counts.
    sqlx::query(
        "INSERT INTO commission_tenants (tenant_id, display_name, fiscal_year_start_month, source_time)
         VALUES ($1, 'Acme', 4, now())",
    )
    .bind(team.tenant_id)
    .execute(&db.pool)
    .await
    .expect("tenant projected");
    let ytd = attainment_of(admin, rep, true).await;
    assert_eq!(ytd.period_start, "2026-04-01");
    assert_eq!(figures(&ytd), (6_000_000, 10_000_000, 6_000, 1_233, 48_662));
}

#[tokio::test]
async fn teams_are_read_by_their_managers_and_admins_only() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let request = || team_request(team.manager.user_id, "2026-04-01", false);

    let refused = team
        .rep
        .commissions()
        .get_team_attainment(team.rep.req(request()))
        .await
        .expect_err("a rep reads no team");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    // A manager outside the chain above other_rep does not see other_rep's team.
    let hidden = team
        .manager
        .commissions()
        .get_team_attainment(team.manager.req(team_request(
            team.other_rep.user_id,
            "2026-04-01",
            false,
        )))
        .await
        .expect_err("not their team");
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    // The manager's team without any quota: bookings only, no ratio.
    let board = team_of(&team.manager, request()).await;
    assert_eq!(board.members.len(), 1);
    assert_eq!(figures(board.team.as_ref().expect("team")).1, 0);

    // Only admins set team quotas.
    let own = quota(
        team.manager.user_id,
        pb::PeriodKind::Quarter,
        "2026-04-01",
        1,
    );
    let refused = set_team_quota(&team.manager, own)
        .await
        .expect_err("admin only");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
}

#[tokio::test]
async fn bad_team_requests_name_the_field_and_change_nothing() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let admin = &team.admin;
    let unknown = quota(Uuid::now_v7(), pb::PeriodKind::Quarter, "2026-04-01", 100);
    assert_invalid(
        &set_team_quota(admin, unknown).await.expect_err("unknown"),
        &["quota.user_id"],
    );
    let negative = quota(
        team.manager.user_id,
        pb::PeriodKind::Quarter,
        "2026-04-01",
        -1,
    );
    assert_invalid(
        &set_team_quota(admin, negative).await.expect_err("negative"),
        &["quota.amount_minor"],
    );
    let misaligned = quota(
        team.manager.user_id,
        pb::PeriodKind::Quarter,
        "2026-05-01",
        1,
    );
    assert_invalid(
        &set_team_quota(admin, misaligned)
            .await
            .expect_err("misaligned"),
        &["quota.period_start"],
    );
    assert_eq!(db.audit_count(team.tenant_id, "team_quota.set").await, 0);

    let mut bad = team_request(team.manager.user_id, "2026-04-02", false);
    bad.as_of = "tomorrow".into();
    let status = admin
        .commissions()
        .get_team_attainment(admin.req(bad))
        .await
        .expect_err("bad");
    assert_invalid(&status, &["period_start", "as_of"]);
    let mut bad = team_request(team.manager.user_id, "2026-04-01", false);
    bad.manager_id = "nope".into();
    let status = admin
        .commissions()
        .get_team_attainment(admin.req(bad))
        .await
        .expect_err("bad id");
    assert_invalid(&status, &["manager_id"]);
}
