//! Deal events on the real broker: a won deal becomes commission lines for each credited owner,
//! a duplicate creates nothing, a reopening claws back exactly what was credited (into the
//! current period when the original statement is paid), and recalculation agrees.

use chrono::{Datelike, Utc};
use proto::commissions as pb;
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, Db, closed_product, create_plan, day, declare_consumer_queue, flat_plan, lines_until,
    publish, reopened, team, won, won_with_products,
};

#[tokio::test]
async fn a_won_deal_credits_each_split_owner_once() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (rep, manager) = (team.rep.user_id, team.manager.user_id);
    create_plan(&team.admin, "Core 5%", flat_plan(&[rep, manager], 50_000)).await;

    let deal = Uuid::now_v7();
    let win = won(
        team.tenant_id,
        deal,
        48_000,
        &[(rep, 60), (manager, 40)],
        day("2026-05-12"),
    );
    // The same event again (redelivery), then a second win of the deal in force (new event id).
    let again = won(
        team.tenant_id,
        deal,
        48_000,
        &[(rep, 60), (manager, 40)],
        day("2026-05-12"),
    );
    publish(&service, &[&win, &win, &again]).await;

    // Events of one deal are applied in order: once the second win is ignored, all three ran.
    testkit::poll_until(DEADLINE, || async {
        (db.audit_count(team.tenant_id, "deal.duplicate_win_ignored")
            .await
            == 1)
            .then_some(())
    })
    .await
    .expect("the duplicate win was handled");

    let rep_lines = lines_until(&team.rep, rep, "2026-04-01", |l| !l.is_empty()).await;
    assert_eq!(rep_lines.len(), 1);
    let line = &rep_lines[0];
    // 60 % of 48 000.00 = 28 800.00 at 5 % = 1 440.00.
    assert_eq!(line.base_minor, 2_880_000);
    assert_eq!(line.amount_minor, 144_000);
    assert_eq!(line.kind, pb::LineKind::Commission as i32);
    assert_eq!(line.deal_id, deal.to_string());
    assert_eq!(line.explanation, "28800.00 of bookings at flat rate 5%");
    let manager_lines = team
        .manager
        .lines(manager, "2026-04-01")
        .await
        .expect("manager reads own lines");
    assert_eq!(
        manager_lines
            .iter()
            .map(|l| l.amount_minor)
            .collect::<Vec<_>>(),
        [96_000]
    );
    // The manager sees the rep's lines (team); the other rep does not.
    assert_eq!(
        team.manager
            .lines(rep, "2026-04-01")
            .await
            .expect("team")
            .len(),
        1
    );
    let hidden = team
        .other_rep
        .lines(rep, "2026-04-01")
        .await
        .expect_err("not visible");
    assert_eq!(hidden.code(), tonic::Code::NotFound);

    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        [
            "commissions.plan_version.created",
            "commissions.line.recorded",
            "commissions.line.recorded"
        ]
    );
    let recalculated = team
        .admin
        .commissions()
        .recalculate_period(team.admin.req(pb::RecalculatePeriodRequest {
            participant_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
        }))
        .await
        .expect("recalculated")
        .into_inner();
    assert!(recalculated.matches);
    assert_eq!(recalculated.stored_total_minor, 144_000);
    assert_eq!(recalculated.recalculated_total_minor, 144_000);
}

#[tokio::test]
async fn a_won_deal_with_products_earns_product_rates_and_recalculates_the_same() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (rep, manager) = (team.rep.user_id, team.manager.user_id);
    let (rated, unrated) = (Uuid::now_v7(), Uuid::now_v7());
    let mut version = flat_plan(&[rep, manager], 50_000);
    version.product_rates = vec![pb::ProductRate {
        product_id: rated.to_string(),
        rate_millionths: 100_000,
    }];
    let plan = create_plan(&team.admin, "Core 5%, P-1 10%", version).await;
    assert_eq!(
        plan.versions[0]
            .product_rates
            .iter()
            .map(|p| (p.product_id.clone(), p.rate_millionths))
            .collect::<Vec<_>>(),
        [(rated.to_string(), 100_000)]
    );

    let deal = Uuid::now_v7();
    publish(
        &service,
        &[&won_with_products(
            team.tenant_id,
            deal,
            48_000,
            &[(rep, 60), (manager, 40)],
            day("2026-05-12"),
            vec![
                closed_product(rated, "P-1", 2_000_001),
                closed_product(unrated, "Q-1", 1_000_000),
            ],
        )],
    )
    .await;

    let shape = |lines: &[pb::Line]| -> Vec<(String, i64, i64, bool)> {
        lines
            .iter()
            .map(|l| {
                (
                    l.product_id.clone(),
                    l.base_minor,
                    l.amount_minor,
                    l.reversal,
                )
            })
            .collect()
    };
    // 60 %: 12 000.01 of P-1 at 10 % = 1 200.00; the rest, 16 799.99 at 5 % = 840.00 (839.9995).
    let rep_lines = lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 2).await;
    assert_eq!(
        shape(&rep_lines),
        [
            (rated.to_string(), 1_200_001, 120_000, false),
            (String::new(), 1_679_999, 84_000, false),
        ]
    );
    assert_eq!(
        rep_lines[0].explanation,
        "12000.01 of bookings at product rate 10% for P-1 (Product P-1)"
    );
    // 40 %: 8 000.00 of P-1 at 10 % = 800.00; 11 200.00 at 5 % = 560.00.
    let manager_lines = lines_until(&team.manager, manager, "2026-04-01", |l| l.len() == 2).await;
    assert_eq!(
        shape(&manager_lines),
        [
            (rated.to_string(), 800_000, 80_000, false),
            (String::new(), 1_120_000, 56_000, false),
        ]
    );
    // Product bookings count toward attainment: the whole 60 % share.
    let attainment = team
        .rep
        .commissions()
        .get_attainment(team.rep.req(pb::GetAttainmentRequest {
            participant_id: String::new(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            ..Default::default()
        }))
        .await
        .expect("attainment")
        .into_inner();
    assert_eq!(attainment.attained_minor, 2_880_000);

    let recalculate = async |participant: Uuid| {
        team.admin
            .commissions()
            .recalculate_period(team.admin.req(pb::RecalculatePeriodRequest {
                participant_id: participant.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
            }))
            .await
            .expect("recalculated")
            .into_inner()
    };
    for (participant, total) in [(rep, 204_000), (manager, 136_000)] {
        let replayed = recalculate(participant).await;
        assert!(replayed.matches, "{replayed:?}");
        assert_eq!(
            (
                replayed.stored_total_minor,
                replayed.recalculated_total_minor
            ),
            (total, total)
        );
    }

    // Reopening reverses exactly what was paid, the product line included.
    publish(&service, &[&reopened(team.tenant_id, deal)]).await;
    let clawed = lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 4).await;
    assert_eq!(
        shape(&clawed[2..]),
        [
            (rated.to_string(), -1_200_001, -120_000, true),
            (String::new(), -1_679_999, -84_000, true),
        ]
    );
    let replayed = recalculate(rep).await;
    assert!(replayed.matches);
    assert_eq!(replayed.stored_total_minor, 0);
}

#[tokio::test]
async fn reopening_claws_back_into_the_current_period_once_the_statement_is_paid() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    let mut version = flat_plan(&[rep], 100_000);
    version.deal_cap_minor = 300_000;
    create_plan(&team.admin, "Capped 10%", version).await;

    let (paid_deal, open_deal) = (Uuid::now_v7(), Uuid::now_v7());
    publish(
        &service,
        &[
            &won(
                team.tenant_id,
                paid_deal,
                50_000,
                &[(rep, 100)],
                day("2026-01-15"),
            ),
            &won(
                team.tenant_id,
                open_deal,
                10_000,
                &[(rep, 100)],
                day("2026-04-15"),
            ),
        ],
    )
    .await;
    let q1 = lines_until(&team.rep, rep, "2026-01-01", |l| l.len() == 2).await;
    // 10 % of 50 000.00 = 5 000.00, capped at 3 000.00 per deal.
    assert_eq!(
        q1.iter().map(|l| l.amount_minor).collect::<Vec<_>>(),
        [500_000, -200_000]
    );
    lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 1).await;

    let mut admin = team.admin.commissions();
    for status in [pb::StatementStatus::Approved, pb::StatementStatus::Paid] {
        admin
            .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
                participant_id: rep.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-01-01".into(),
                status: status as i32,
            }))
            .await
            .expect("status moved");
    }

    publish(
        &service,
        &[
            &reopened(team.tenant_id, paid_deal),
            &reopened(team.tenant_id, open_deal),
        ],
    )
    .await;
    // The open quarter's clawback stays in its own statement.
    let q2 = lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 2).await;
    assert_eq!(
        q2.iter()
            .map(|l| (l.amount_minor, l.reversal))
            .collect::<Vec<_>>(),
        [(100_000, false), (-100_000, true)]
    );
    // The paid quarter's clawback lands in the quarter the reopening happened in.
    let today = Utc::now().date_naive();
    let current = format!("{}-{:02}-01", today.year(), (today.month0() / 3) * 3 + 1);
    let clawed = lines_until(&team.rep, rep, &current, |l| {
        l.iter()
            .filter(|l| l.deal_id == paid_deal.to_string())
            .count()
            == 2
    })
    .await;
    let reversal: Vec<(i64, bool, String)> = clawed
        .iter()
        .filter(|l| l.deal_id == paid_deal.to_string())
        .map(|l| (l.amount_minor, l.reversal, l.credit_period_start.clone()))
        .collect();
    assert_eq!(
        reversal,
        [
            (-500_000, true, "2026-01-01".to_owned()),
            (200_000, true, "2026-01-01".to_owned())
        ]
    );
    // The paid statement did not change.
    let paid = admin
        .get_statement(team.admin.req(pb::GetStatementRequest {
            participant_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-01-01".into(),
        }))
        .await
        .expect("statement")
        .into_inner();
    assert_eq!(paid.status, pb::StatementStatus::Paid as i32);
    assert_eq!(
        (paid.earned_minor, paid.clawbacks_minor, paid.total_minor),
        (300_000, 0, 300_000)
    );
    // A paid statement is locked.
    let locked = admin
        .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
            participant_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-01-01".into(),
            status: pb::StatementStatus::Approved as i32,
        }))
        .await
        .expect_err("locked");
    assert_eq!(locked.code(), tonic::Code::FailedPrecondition);

    // The Q1 history replays to the same lines.
    let recalculated = admin
        .recalculate_period(team.admin.req(pb::RecalculatePeriodRequest {
            participant_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-01-01".into(),
        }))
        .await
        .expect("recalculated")
        .into_inner();
    assert!(recalculated.matches);
    assert_eq!(recalculated.stored_total_minor, 0);
}

#[tokio::test]
async fn a_clawback_beyond_earnings_opens_the_next_statements_negative() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    create_plan(&team.admin, "Flat 10%", flat_plan(&[rep], 100_000)).await;

    // Future quarters, so where the clawback lands does not depend on today.
    let paid_deal = Uuid::now_v7();
    publish(
        &service,
        &[&won(
            team.tenant_id,
            paid_deal,
            50_000,
            &[(rep, 100)],
            day("2030-01-15"),
        )],
    )
    .await;
    lines_until(&team.rep, rep, "2030-01-01", |l| l.len() == 1).await;
    for status in [pb::StatementStatus::Approved, pb::StatementStatus::Paid] {
        team.admin
            .commissions()
            .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
                participant_id: rep.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2030-01-01".into(),
                status: status as i32,
            }))
            .await
            .expect("status moved");
    }
    publish(
        &service,
        &[
            &reopened(team.tenant_id, paid_deal),
            &won(
                team.tenant_id,
                Uuid::now_v7(),
                20_000,
                &[(rep, 100)],
                day("2030-05-10"),
            ),
            &won(
                team.tenant_id,
                Uuid::now_v7(),
                10_000,
                &[(rep, 100)],
                day("2030-08-01"),
            ),
        ],
    )
    .await;
    lines_until(&team.rep, rep, "2030-04-01", |l| l.len() == 2).await;
    lines_until(&team.rep, rep, "2030-07-01", |l| l.len() == 1).await;

    // (opening, total, closing) per quarter: the paid 5 000.00 does not carry; the clawback of
    // it beyond Q2's 2 000.00 does, until Q3's earnings reduce it.
    let mut balances = Vec::new();
    for start in ["2030-01-01", "2030-04-01", "2030-07-01", "2030-10-01"] {
        let statement = team
            .rep
            .commissions()
            .get_statement(team.rep.req(pb::GetStatementRequest {
                participant_id: String::new(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: start.into(),
            }))
            .await
            .expect("statement")
            .into_inner();
        balances.push((
            statement.opening_balance_minor,
            statement.total_minor,
            statement.closing_balance_minor,
        ));
    }
    assert_eq!(
        balances,
        [
            (0, 500_000, 500_000),
            (0, -300_000, -300_000),
            (-300_000, 100_000, -200_000),
            (-200_000, 0, -200_000),
        ]
    );
}
