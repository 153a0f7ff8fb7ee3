//! Opportunities: placement in pipelines, updates by field mask, stage moves and history.

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{Db, assert_invalid, team, usd};

#[tokio::test]
async fn an_opportunity_starts_in_the_first_open_stage_and_updates_by_mask() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let account = rep.create_account("Wayne Enterprises").await;
    let contact = rep.create_contact("Fox").await;
    let mut opportunities = rep.opportunities();

    let created = opportunities
        .create_opportunity(rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Armour".into(),
                amount: Some(usd(250_000)),
                close_date: "2031-01-31".into(),
                account_id: account.id.clone(),
                primary_contact_id: contact.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect("created")
        .into_inner();
    let pipeline = rep.default_pipeline().await;
    assert_eq!(created.pipeline_id, pipeline.id);
    assert_eq!(created.stage_id, pipeline.stages[0].id);
    assert_eq!(created.probability, 10);
    assert_eq!(created.state, "open");

    // PATCH /v1/opportunities/{id}?updateMask=amount
    let updated = opportunities
        .update_opportunity(rep.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: created.id.clone(),
                amount: Some(usd(12_000)),
                name: "not in the mask".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["amount".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.amount.as_ref().map(|m| m.units), Some(12_000));
    assert_eq!(updated.name, "Armour");

    let split_user = team.manager.user_id.to_string();
    let split = opportunities
        .update_opportunity(rep.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: created.id.clone(),
                splits: vec![
                    pb::CreditSplit {
                        user_id: rep.user_id.to_string(),
                        percent: 70,
                    },
                    pb::CreditSplit {
                        user_id: split_user,
                        percent: 30,
                    },
                ],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["splits".into()],
            }),
        }))
        .await
        .expect("splits set")
        .into_inner();
    assert_eq!(split.splits.len(), 2);

    let listed = opportunities
        .list_opportunities(rep.req(pb::ListOpportunitiesRequest {
            filter: format!(
                r#"state = open AND amount_units >= 10000 AND close_date < 2032-01-01 AND account_id = "{}""#,
                account.id
            ),
            order_by: "amount_units desc".into(),
            ..Default::default()
        }))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.opportunities.len(), 1);

    opportunities
        .delete_opportunity(rep.req(pb::DeleteOpportunityRequest {
            id: created.id.clone(),
        }))
        .await
        .expect("deleted");
    let status = opportunities
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: created.id,
            read_mask: None,
        }))
        .await
        .expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_placement_dates_amounts_and_moves_are_refused() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let mut opportunities = rep.opportunities();
    let create = |o: pb::Opportunity| {
        rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Deal".into(),
                ..o
            }),
        })
    };

    let status = opportunities
        .create_opportunity(create(pb::Opportunity {
            pipeline_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        }))
        .await
        .expect_err("unknown pipeline");
    assert_invalid(&status, &["opportunity.pipeline_id"]);

    let status = opportunities
        .create_opportunity(create(pb::Opportunity {
            stage_id: uuid::Uuid::now_v7().to_string(),
            ..Default::default()
        }))
        .await
        .expect_err("unknown stage");
    assert_invalid(&status, &["opportunity.stage_id"]);

    let other = team
        .admin
        .pipelines()
        .create_pipeline(team.admin.req(pb::CreatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                name: "Partners".into(),
                stages: vec![
                    pb::Stage {
                        name: "Intro".into(),
                        probability: 5,
                        category: pb::StageCategory::Open as i32,
                        ..Default::default()
                    },
                    pb::Stage {
                        name: "Signed".into(),
                        probability: 100,
                        category: pb::StageCategory::Won as i32,
                        ..Default::default()
                    },
                    pb::Stage {
                        name: "Dropped".into(),
                        probability: 0,
                        category: pb::StageCategory::Lost as i32,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
        }))
        .await
        .expect("pipeline")
        .into_inner();
    let default = rep.default_pipeline().await;
    let status = opportunities
        .create_opportunity(create(pb::Opportunity {
            pipeline_id: default.id.clone(),
            stage_id: other.stages[0].id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("stage of another pipeline");
    assert_invalid(&status, &["opportunity.stage_id"]);

    let status = opportunities
        .create_opportunity(create(pb::Opportunity {
            stage_id: default.stages[4].id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("born won");
    assert_invalid(&status, &["opportunity.stage_id"]);

    for bad_date in ["31/12/2030", "2030-12-32", "2030-1-5", "tomorrow"] {
        let status = opportunities
            .create_opportunity(create(pb::Opportunity {
                close_date: bad_date.into(),
                ..Default::default()
            }))
            .await
            .expect_err(bad_date);
        assert_invalid(&status, &["opportunity.close_date"]);
    }

    let status = opportunities
        .create_opportunity(create(pb::Opportunity {
            amount: Some(proto::google::r#type::Money {
                currency_code: "USD".into(),
                units: 1,
                nanos: -5,
            }),
            ..Default::default()
        }))
        .await
        .expect_err("mixed signs");
    assert_invalid(&status, &["opportunity.amount.nanos"]);

    // In the partner pipeline, by stage alone.
    let deal = opportunities
        .create_opportunity(create(pb::Opportunity {
            stage_id: other.stages[0].id.clone(),
            ..Default::default()
        }))
        .await
        .expect("placed by its stage")
        .into_inner();
    assert_eq!(deal.pipeline_id, other.id);

    let move_to = |stage_id: &str, lost_reason: &str| {
        rep.req(pb::MoveStageRequest {
            id: deal.id.clone(),
            stage_id: stage_id.to_owned(),
            lost_reason: lost_reason.to_owned(),
        })
    };
    let status = opportunities
        .move_stage(move_to(&default.stages[1].id, ""))
        .await
        .expect_err("stage of another pipeline");
    assert_invalid(&status, &["stage_id"]);
    let status = opportunities
        .move_stage(move_to(&uuid::Uuid::now_v7().to_string(), ""))
        .await
        .expect_err("unknown stage");
    assert_invalid(&status, &["stage_id"]);
    let status = opportunities
        .move_stage(move_to(&other.stages[2].id, " "))
        .await
        .expect_err("lost without reason");
    assert_invalid(&status, &["lost_reason"]);
    let status = opportunities
        .move_stage(move_to(&other.stages[1].id, "because"))
        .await
        .expect_err("won with a lost reason");
    assert_invalid(&status, &["lost_reason"]);
    let status = opportunities
        .move_stage(move_to(&other.stages[0].id, ""))
        .await
        .expect_err("same stage");
    assert_eq!(status.code(), Code::FailedPrecondition);

    let history = opportunities
        .list_stage_history(rep.req(pb::ListStageHistoryRequest {
            id: deal.id.clone(),
        }))
        .await
        .expect("history")
        .into_inner();
    assert_eq!(history.changes.len(), 1, "refused moves leave no history");
}

#[tokio::test]
async fn stage_history_records_who_when_from_to_and_time_in_stage() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("History").await;
    let pipeline = rep.default_pipeline().await;
    // Pretend the deal entered its stage an hour ago.
    sqlx::query(
        "UPDATE opportunities SET stage_entered_at = now() - interval '1 hour' WHERE id = $1::uuid",
    )
    .bind(&deal.id)
    .execute(&db.pool)
    .await
    .expect("backdated");

    let mut opportunities = rep.opportunities();
    let moved = opportunities
        .move_stage(rep.req(pb::MoveStageRequest {
            id: deal.id.clone(),
            stage_id: pipeline.stages[2].id.clone(),
            lost_reason: String::new(),
        }))
        .await
        .expect("moved")
        .into_inner();
    assert_eq!(moved.stage_id, pipeline.stages[2].id);
    assert_eq!(moved.probability, 50);

    let history = opportunities
        .list_stage_history(rep.req(pb::ListStageHistoryRequest {
            id: deal.id.clone(),
        }))
        .await
        .expect("history")
        .into_inner()
        .changes;
    assert_eq!(history.len(), 2);
    assert!(history[0].from_stage_id.is_empty());
    assert_eq!(history[0].to_stage_id, pipeline.stages[0].id);
    assert_eq!(history[1].from_stage_id, pipeline.stages[0].id);
    assert_eq!(history[1].to_stage_id, pipeline.stages[2].id);
    assert_eq!(history[1].changed_by, rep.user_id.to_string());
    assert!(
        (3600..3700).contains(&history[1].seconds_in_stage),
        "{}",
        history[1].seconds_in_stage
    );

    let status = team
        .other_rep
        .opportunities()
        .list_stage_history(
            team.other_rep
                .req(pb::ListStageHistoryRequest { id: deal.id }),
        )
        .await
        .expect_err("not visible");
    assert_eq!(status.code(), Code::NotFound);
}
