//! Credit splits name active users of the tenant.

use auth::BuiltinRole;
use proto::crm as pb;
use uuid::Uuid;

use crate::helpers::{Db, assert_invalid, team, usd};

fn split(user_id: Uuid, percent: i32) -> pb::CreditSplit {
    pb::CreditSplit {
        user_id: user_id.to_string(),
        percent,
    }
}

fn with_splits(splits: Vec<pb::CreditSplit>) -> pb::CreateOpportunityRequest {
    pb::CreateOpportunityRequest {
        opportunity: Some(pb::Opportunity {
            name: "Split deal".into(),
            amount: Some(usd(1_000)),
            splits,
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn splits_to_unknown_or_deactivated_users_are_refused() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let gone = Uuid::now_v7();
    db.project_user(t.tenant_id, gone, None, BuiltinRole::SalesRep, false)
        .await;
    let stranger = Uuid::now_v7();
    let status = rep
        .opportunities()
        .create_opportunity(rep.req(with_splits(vec![
            split(rep.user_id, 50),
            split(stranger, 30),
            split(gone, 20),
        ])))
        .await
        .expect_err("refused");
    assert_invalid(
        &status,
        &[
            "opportunity.splits[1].user_id",
            "opportunity.splits[2].user_id",
        ],
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM opportunities WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        0,
        "nothing written"
    );
}

#[tokio::test]
async fn a_user_deactivated_after_being_credited_keeps_the_share() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let rep = &t.rep;
    let deal = rep
        .opportunities()
        .create_opportunity(rep.req(with_splits(vec![
            split(rep.user_id, 60),
            split(t.other_rep.user_id, 40),
        ])))
        .await
        .expect("active users may be credited")
        .into_inner();
    sqlx::query("UPDATE crm_users SET active = false WHERE user_id = $1")
        .bind(t.other_rep.user_id)
        .execute(&db.pool)
        .await
        .expect("deactivated");
    let update = |splits| pb::UpdateOpportunityRequest {
        opportunity: Some(pb::Opportunity {
            id: deal.id.clone(),
            splits,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["splits".into()],
        }),
    };
    let updated = rep
        .opportunities()
        .update_opportunity(rep.req(update(vec![
            split(rep.user_id, 50),
            split(t.other_rep.user_id, 50),
        ])))
        .await
        .expect("an earned share stays")
        .into_inner();
    assert_eq!(updated.splits[1].percent, 50);
    let status = rep
        .opportunities()
        .update_opportunity(rep.req(update(vec![
            split(rep.user_id, 50),
            split(t.other_rep.user_id, 25),
            split(Uuid::now_v7(), 25),
        ])))
        .await
        .expect_err("a new unknown user is refused");
    assert_invalid(&status, &["opportunity.splits[2].user_id"]);
}
