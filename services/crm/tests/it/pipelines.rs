//! Pipelines: the default pipeline exists without any event, exactly once; admins add more.

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{Db, assert_invalid, team};

fn stage(name: &str, probability: i32, category: pb::StageCategory) -> pb::Stage {
    pb::Stage {
        name: name.into(),
        probability,
        category: category as i32,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_default_pipeline_is_created_once_even_under_concurrent_first_use() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;

    let calls = (0..6).map(|i| {
        let user = if i % 2 == 0 { &team.rep } else { &team.admin };
        async move {
            if i % 3 == 0 {
                user.create_opportunity(&format!("Deal {i}")).await;
            }
            user.default_pipeline().await
        }
    });
    let pipelines = futures::future::join_all(calls).await;
    assert!(pipelines.windows(2).all(|w| w[0].id == w[1].id));
    assert_eq!(
        db.count(
            "SELECT count(*) FROM pipelines WHERE tenant_id = $1 AND is_default",
            team.tenant_id
        )
        .await,
        1
    );

    let default = &pipelines[0];
    let stages: Vec<(&str, i32, i32)> = default
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.probability, s.category))
        .collect();
    use pb::StageCategory::{Lost, Open, Won};
    assert_eq!(
        stages,
        [
            ("Prospecting", 10, Open as i32),
            ("Qualification", 25, Open as i32),
            ("Proposal", 50, Open as i32),
            ("Negotiation", 75, Open as i32),
            ("Closed Won", 100, Won as i32),
            ("Closed Lost", 0, Lost as i32),
        ]
    );
    let positions: Vec<i32> = default.stages.iter().map(|s| s.position).collect();
    assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        db.outbox_types(team.tenant_id)
            .await
            .iter()
            .filter(|t| *t == "crm.pipeline.created")
            .count(),
        1
    );
}

#[tokio::test]
async fn admins_create_pipelines_and_others_cannot() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let renewals = pb::Pipeline {
        name: "Renewals".into(),
        stages: vec![
            stage("Due", 40, pb::StageCategory::Open),
            stage("Renewed", 100, pb::StageCategory::Won),
            stage("Churned", 0, pb::StageCategory::Lost),
        ],
        ..Default::default()
    };
    let created = team
        .admin
        .pipelines()
        .create_pipeline(team.admin.req(pb::CreatePipelineRequest {
            pipeline: Some(renewals.clone()),
        }))
        .await
        .expect("created")
        .into_inner();
    assert!(!created.is_default);
    assert_eq!(created.stages.len(), 3);

    let fetched = team
        .rep
        .pipelines()
        .get_pipeline(team.rep.req(pb::GetPipelineRequest {
            id: created.id.clone(),
        }))
        .await
        .expect("everyone reads pipelines")
        .into_inner();
    assert_eq!(fetched, created);

    let listed = team
        .support
        .pipelines()
        .list_pipelines(team.support.req(pb::ListPipelinesRequest {}))
        .await
        .expect("listed")
        .into_inner();
    let names: Vec<&str> = listed.pipelines.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Sales", "Renewals"], "default first");

    let status = team
        .admin
        .pipelines()
        .create_pipeline(team.admin.req(pb::CreatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                name: "renewals".into(),
                ..renewals.clone()
            }),
        }))
        .await
        .expect_err("duplicate name");
    assert_eq!(status.code(), Code::AlreadyExists);

    let status = team
        .manager
        .pipelines()
        .create_pipeline(team.manager.req(pb::CreatePipelineRequest {
            pipeline: Some(renewals),
        }))
        .await
        .expect_err("managers cannot");
    assert_eq!(status.code(), Code::PermissionDenied);

    let status = team
        .admin
        .pipelines()
        .create_pipeline(team.admin.req(pb::CreatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                name: "Broken".into(),
                stages: vec![
                    stage("Open", 10, pb::StageCategory::Open),
                    stage("Won", 90, pb::StageCategory::Won),
                    stage("Won", 100, pb::StageCategory::Won),
                ],
                ..Default::default()
            }),
        }))
        .await
        .expect_err("invalid stages");
    assert_invalid(
        &status,
        &[
            "pipeline.stages[1].probability",
            "pipeline.stages[2].name",
            "pipeline.stages",
        ],
    );

    let status = team
        .rep
        .pipelines()
        .get_pipeline(team.rep.req(pb::GetPipelineRequest {
            id: uuid::Uuid::now_v7().to_string(),
        }))
        .await
        .expect_err("unknown pipeline");
    assert_eq!(status.code(), Code::NotFound);
}
