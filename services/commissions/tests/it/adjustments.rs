//! Manual adjustments with approval above the threshold, and disputes on lines.

use auth::BuiltinRole;
use proto::commissions as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    As, Db, another, assert_invalid, create_plan, day, declare_consumer_queue, flat_plan,
    lines_until, publish, team, won,
};

fn adjustment(participant: Uuid, amount: i64, reason: &str) -> pb::CreateAdjustmentRequest {
    pb::CreateAdjustmentRequest {
        adjustment: Some(pb::Adjustment {
            participant_id: participant.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            currency_code: "USD".into(),
            amount_minor: amount,
            reason: reason.into(),
            ..Default::default()
        }),
    }
}

async fn statement(who: &As, participant: Uuid) -> pb::Statement {
    who.commissions()
        .get_statement(who.req(pb::GetStatementRequest {
            participant_id: participant.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
        }))
        .await
        .expect("statement")
        .into_inner()
}

#[tokio::test]
async fn large_adjustments_need_another_admin_and_paid_statements_are_locked() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let second_admin = another(&service, &db, &team, BuiltinRole::Admin).await;
    let rep = team.rep.user_id;
    let mut admin = team.admin.adjustments();

    let small = admin
        .create_adjustment(
            team.admin
                .req(adjustment(rep, 50_000, "spiff for the demo")),
        )
        .await
        .expect("created")
        .into_inner();
    assert_eq!(small.status, pb::AdjustmentStatus::Approved as i32);
    assert_eq!(small.approved_by, team.admin.user_id.to_string());

    let large = admin
        .create_adjustment(team.admin.req(adjustment(rep, 500_000, "quarter bonus")))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(large.status, pb::AdjustmentStatus::Pending as i32);
    assert_eq!(statement(&team.rep, rep).await.total_minor, 50_000);

    let own = admin
        .approve_adjustment(team.admin.req(pb::ApproveAdjustmentRequest {
            id: large.id.clone(),
        }))
        .await
        .expect_err("own approval");
    assert_eq!(own.code(), Code::FailedPrecondition);
    assert!(own.message().contains("your own adjustment"), "{own:?}");
    let approved = second_admin
        .adjustments()
        .approve_adjustment(second_admin.req(pb::ApproveAdjustmentRequest {
            id: large.id.clone(),
        }))
        .await
        .expect("approved")
        .into_inner();
    assert_eq!(approved.approved_by, second_admin.user_id.to_string());
    let seen = statement(&team.rep, rep).await;
    assert_eq!(
        (
            seen.adjustments_minor,
            seen.total_minor,
            seen.adjustments.len()
        ),
        (550_000, 550_000, 2)
    );

    let bad = admin
        .create_adjustment(team.admin.req(adjustment(rep, 0, " ")))
        .await
        .expect_err("invalid");
    assert_invalid(&bad, &["adjustment.amount_minor", "adjustment.reason"]);
    let own_pay = admin
        .create_adjustment(team.admin.req(adjustment(team.admin.user_id, 1, "me")))
        .await
        .expect_err("own statement");
    assert_eq!(own_pay.code(), Code::FailedPrecondition);
    let denied = team
        .rep
        .adjustments()
        .create_adjustment(team.rep.req(adjustment(rep, 1, "me")))
        .await
        .expect_err("reps cannot adjust");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut commissions = team.admin.commissions();
    for status in [pb::StatementStatus::Approved, pb::StatementStatus::Paid] {
        commissions
            .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
                participant_id: rep.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
                status: status as i32,
            }))
            .await
            .expect("moved");
    }
    let locked = admin
        .create_adjustment(team.admin.req(adjustment(rep, 100, "late fix")))
        .await
        .expect_err("paid statement");
    assert_eq!(locked.code(), Code::FailedPrecondition);
    assert_eq!(statement(&team.rep, rep).await.adjustments.len(), 2);
    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        [
            "commissions.adjustment.created",
            "commissions.adjustment.created",
            "commissions.adjustment.approved",
            "commissions.statement.approved",
            "commissions.statement.paid"
        ]
    );
}

#[tokio::test]
async fn reps_dispute_their_own_lines_and_admins_resolve() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    create_plan(&team.admin, "Core", flat_plan(&[rep], 50_000)).await;
    publish(
        &service,
        &[&won(
            team.tenant_id,
            Uuid::now_v7(),
            1_000,
            &[(rep, 100)],
            day("2026-04-02"),
        )],
    )
    .await;
    let lines = lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 1).await;
    let raise = |who: &As, line: &str| {
        who.req(pb::RaiseDisputeRequest {
            line_id: line.to_owned(),
            comment: "the deal was 1 200".into(),
        })
    };
    let hidden = team
        .other_rep
        .adjustments()
        .raise_dispute(raise(&team.other_rep, &lines[0].id))
        .await
        .expect_err("not their line");
    assert_eq!(hidden.code(), Code::NotFound);
    let dispute = team
        .rep
        .adjustments()
        .raise_dispute(raise(&team.rep, &lines[0].id))
        .await
        .expect("raised")
        .into_inner();
    assert_eq!(dispute.status, pb::DisputeStatus::Open as i32);

    let resolve = |who: &As| {
        who.req(pb::ResolveDisputeRequest {
            id: dispute.id.clone(),
            resolution: "checked: the CRM amount is 1 000".into(),
        })
    };
    let denied = team
        .rep
        .adjustments()
        .resolve_dispute(resolve(&team.rep))
        .await
        .expect_err("reps do not resolve");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let resolved = team
        .admin
        .adjustments()
        .resolve_dispute(resolve(&team.admin))
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(resolved.status, pb::DisputeStatus::Resolved as i32);
    let again = team
        .admin
        .adjustments()
        .resolve_dispute(resolve(&team.admin))
        .await
        .expect_err("already resolved");
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert_eq!(db.audit_count(team.tenant_id, "dispute.resolved").await, 1);
    // The rep hears of it, with the statement the disputed line is in.
    let notified: Vec<pb::DisputeResolved> = db
        .outbox_payloads(team.tenant_id, "commissions.dispute.resolved")
        .await;
    assert_eq!(notified.len(), 1);
    assert_eq!(
        (
            notified[0].participant_id.as_str(),
            notified[0].period_start.as_str(),
            notified[0].dispute.as_ref().map(|d| d.id.as_str()),
        ),
        (
            rep.to_string().as_str(),
            "2026-04-01",
            Some(dispute.id.as_str())
        )
    );
    let trail = team
        .admin
        .commissions()
        .list_audit_entries(team.admin.req(pb::ListAuditEntriesRequest {
            subject_id: lines[0].id.clone(),
            page_size: 0,
        }))
        .await
        .expect("audit trail")
        .into_inner()
        .entries;
    let actions: Vec<(&str, String)> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.actor_id.clone()))
        .collect();
    assert_eq!(
        actions,
        [
            ("dispute.resolved", team.admin.user_id.to_string()),
            ("dispute.raised", rep.to_string())
        ]
    );
    let denied = team
        .rep
        .commissions()
        .list_audit_entries(team.rep.req(pb::ListAuditEntriesRequest::default()))
        .await
        .expect_err("admins only");
    assert_eq!(denied.code(), Code::PermissionDenied);
}
