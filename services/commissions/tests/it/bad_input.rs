//! Bad input is refused with field violations and changes nothing; only admins change plans,
//! quotas and statements.

use proto::commissions as pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{As, Db, assert_invalid, create_plan, flat_plan, team};

async fn create(admin: &As, name: &str, version: pb::PlanVersion) -> tonic::Status {
    admin
        .plans()
        .create_plan(admin.req(pb::CreatePlanRequest {
            name: name.to_owned(),
            version: Some(version),
        }))
        .await
        .expect_err("refused")
}

#[tokio::test]
async fn bad_plans_are_refused_and_nothing_is_written() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    let plan = create_plan(&team.admin, "Base", flat_plan(&[rep], 50_000)).await;
    assert_eq!(plan.versions.len(), 1);

    // Overlapping versions for the same participant, in another plan or the same.
    let overlapping = create(&team.admin, "Other", flat_plan(&[rep], 10_000)).await;
    assert_invalid(&overlapping, &["version.participant_ids"]);
    let same_plan = team
        .admin
        .plans()
        .create_plan_version(team.admin.req(pb::CreatePlanVersionRequest {
            plan_id: plan.id.clone(),
            version: Some(flat_plan(&[rep], 60_000)),
        }))
        .await
        .expect_err("overlaps");
    assert_invalid(&same_plan, &["version.participant_ids"]);

    let tiers = |bounds: &[(i64, i64, i64)]| {
        bounds
            .iter()
            .map(|(from, to, rate)| pb::Tier {
                from_minor: *from,
                to_minor: *to,
                rate_millionths: *rate,
            })
            .collect::<Vec<_>>()
    };
    let manager = team.manager.user_id;
    let mut gap = flat_plan(&[manager], 0);
    gap.tier_mode = pb::TierMode::Graduated as i32;
    gap.tiers = tiers(&[(0, 100, 1), (150, 0, 2)]);
    assert_invalid(
        &create(&team.admin, "Gap", gap).await,
        &["version.tiers[1].from_minor"],
    );
    let mut overlap = flat_plan(&[manager], 0);
    overlap.tier_mode = pb::TierMode::Retroactive as i32;
    overlap.tiers = tiers(&[(0, 100, 1), (50, 0, 2)]);
    assert_invalid(
        &create(&team.admin, "Overlap", overlap).await,
        &["version.tiers[1].from_minor"],
    );
    assert_invalid(
        &create(&team.admin, "Negative", flat_plan(&[manager], -1)).await,
        &["version.flat_rate_millionths"],
    );
    assert_invalid(
        &create(&team.admin, "Nobody", flat_plan(&[Uuid::now_v7()], 1)).await,
        &["version.participant_ids"],
    );

    let product = Uuid::now_v7().to_string();
    let rate = |product_id: &str, rate_millionths: i64| pb::ProductRate {
        product_id: product_id.to_owned(),
        rate_millionths,
    };
    let mut products = flat_plan(&[manager], 1);
    products.product_rates = vec![
        rate(&product, 100_000),
        rate(&Uuid::now_v7().to_string(), -1),
        rate(&product, 1_000_001),
    ];
    assert_invalid(
        &create(&team.admin, "Products", products.clone()).await,
        &[
            "version.product_rates[1].rate_millionths",
            "version.product_rates[2].rate_millionths",
            "version.product_rates[2].product_id",
        ],
    );
    products.product_rates = vec![rate(&product, 1), rate("SKU-1", 1)];
    assert_invalid(
        &create(&team.admin, "Products", products).await,
        &["version.product_rates[1].product_id"],
    );
    // A bad pipeline id ahead of a bad rate: the rate is not reported under a shifted index.
    let mut pipelines = flat_plan(&[manager], 1);
    pipelines.pipeline_rates = vec![
        pb::PipelineRate {
            pipeline_id: "sales".to_owned(),
            rate_millionths: 1,
        },
        pb::PipelineRate {
            pipeline_id: Uuid::now_v7().to_string(),
            rate_millionths: -1,
        },
    ];
    assert_invalid(
        &create(&team.admin, "Pipelines", pipelines).await,
        &["version.pipeline_rates[0].pipeline_id"],
    );

    let plans: i64 = sqlx::query_scalar("SELECT count(*) FROM plans")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(plans, 1, "refused plans left nothing behind");

    // Sales reps read their own plan but cannot create one.
    let denied = create(&team.rep, "Mine", flat_plan(&[rep], 1)).await;
    assert_eq!(denied.code(), Code::PermissionDenied);
    let visible = team
        .rep
        .plans()
        .list_plans(team.rep.req(pb::ListPlansRequest {}))
        .await
        .expect("listed")
        .into_inner()
        .plans;
    assert_eq!(visible.len(), 1);
    let other = team
        .other_rep
        .plans()
        .list_plans(team.other_rep.req(pb::ListPlansRequest {}))
        .await
        .expect("listed")
        .into_inner()
        .plans;
    assert!(other.is_empty());
}

#[tokio::test]
async fn quotas_need_a_known_user_and_an_aligned_period() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let quota = |user: Uuid, start: &str, amount: i64| pb::SetQuotaRequest {
        quota: Some(pb::Quota {
            user_id: user.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: start.to_owned(),
            currency_code: "USD".into(),
            amount_minor: amount,
            fiscal_year_start_month: 0,
        }),
    };
    let mut admin = team.admin.commissions();
    admin
        .set_quota(
            team.admin
                .req(quota(team.rep.user_id, "2026-04-01", 10_000_000)),
        )
        .await
        .expect("quota set");
    let unknown = admin
        .set_quota(team.admin.req(quota(Uuid::now_v7(), "2026-04-01", 1)))
        .await
        .expect_err("unknown user");
    assert_invalid(&unknown, &["quota.user_id"]);
    let misaligned = admin
        .set_quota(team.admin.req(quota(team.rep.user_id, "2026-05-01", -1)))
        .await
        .expect_err("misaligned");
    assert_invalid(&misaligned, &["quota.period_start", "quota.amount_minor"]);
    let denied = team
        .rep
        .commissions()
        .set_quota(team.rep.req(quota(team.rep.user_id, "2026-04-01", 1)))
        .await
        .expect_err("reps cannot set quotas");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let quotas: i64 = sqlx::query_scalar("SELECT count(*) FROM quotas")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(quotas, 1);
}

#[tokio::test]
async fn nobody_approves_their_own_statement() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let own = team
        .admin
        .commissions()
        .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
            participant_id: team.admin.user_id.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            status: pb::StatementStatus::Approved as i32,
        }))
        .await
        .expect_err("own statement");
    assert_eq!(own.code(), Code::FailedPrecondition);
    let skipping = team
        .admin
        .commissions()
        .set_statement_status(team.admin.req(pb::SetStatementStatusRequest {
            participant_id: team.rep.user_id.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            status: pb::StatementStatus::Paid as i32,
        }))
        .await
        .expect_err("draft cannot be paid");
    assert_eq!(skipping.code(), Code::FailedPrecondition);
}
