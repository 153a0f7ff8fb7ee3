//! Editing pipelines after creation: stages renamed, reordered, archived (with their deals
//! moved), the default changed, pipelines archived, and the lost-reason picklist.

use prost_types::FieldMask;
use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{As, Db, Team, assert_invalid, team};

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn boards(channel: &Channel) -> pb::board_service_client::BoardServiceClient<Channel> {
    pb::board_service_client::BoardServiceClient::new(channel.clone())
}

fn named<'a>(pipeline: &'a pb::Pipeline, name: &str) -> &'a pb::Stage {
    pipeline
        .stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("stage {name}"))
}

async fn move_stage(
    who: &As,
    deal: &str,
    stage: &str,
    reason: &str,
) -> Result<pb::Opportunity, tonic::Status> {
    who.opportunities()
        .move_stage(who.req(pb::MoveStageRequest {
            id: deal.to_owned(),
            stage_id: stage.to_owned(),
            lost_reason: reason.to_owned(),
        }))
        .await
        .map(|r| r.into_inner())
}

async fn archive_stage(
    team: &Team,
    pipeline: &pb::Pipeline,
    stage: &str,
    move_to: &str,
) -> Result<pb::ArchiveStageResponse, tonic::Status> {
    team.admin
        .pipelines()
        .archive_stage(team.admin.req(pb::ArchiveStageRequest {
            pipeline_id: pipeline.id.clone(),
            stage_id: stage.to_owned(),
            move_to_stage_id: move_to.to_owned(),
        }))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn admins_rename_reorder_and_archive_stages_moving_their_open_deals() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let a = team.rep.create_opportunity("Deal A").await;
    let b = team.rep.create_opportunity("Deal B").await;
    let sales = team.admin.default_pipeline().await;
    let prospecting = named(&sales, "Prospecting").id.clone();
    let qualification = named(&sales, "Qualification").id.clone();
    let proposal = named(&sales, "Proposal").id.clone();

    // Proposal before Qualification, then renamed.
    let mut order: Vec<String> = sales.stages.iter().map(|s| s.id.clone()).collect();
    order.swap(1, 2);
    let reordered = team
        .admin
        .pipelines()
        .reorder_stages(team.admin.req(pb::ReorderStagesRequest {
            pipeline_id: sales.id.clone(),
            stage_ids: order.clone(),
        }))
        .await
        .expect("reordered")
        .into_inner();
    let ids: Vec<&str> = reordered.stages.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, order);
    let renamed = team
        .admin
        .pipelines()
        .update_stage(team.admin.req(pb::UpdateStageRequest {
            pipeline_id: sales.id.clone(),
            stage: Some(pb::Stage {
                id: proposal.clone(),
                name: "Demo".into(),
                probability: 40,
                ..Default::default()
            }),
            update_mask: mask(&["name", "probability"]),
        }))
        .await
        .expect("renamed")
        .into_inner();
    assert_eq!(renamed.stages[1].name, "Demo");
    assert_eq!(renamed.stages[1].probability, 40);
    let status = team
        .manager
        .pipelines()
        .update_pipeline(team.manager.req(pb::UpdatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                id: sales.id.clone(),
                name: "Mine".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
        }))
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);

    // Prospecting holds both deals: archived, they move to Qualification in the same call.
    let done = archive_stage(&team, &sales, &prospecting, &qualification)
        .await
        .expect("archived");
    assert_eq!(done.moved_opportunity_count, 2);
    let after = done.pipeline.expect("pipeline");
    assert!(named(&after, "Prospecting").archived);
    for deal in [&a, &b] {
        let fetched = team
            .rep
            .opportunities()
            .get_opportunity(team.rep.req(pb::GetOpportunityRequest {
                id: deal.id.clone(),
                ..Default::default()
            }))
            .await
            .expect("readable")
            .into_inner();
        assert_eq!(fetched.stage_id, qualification);
        let history = team
            .rep
            .opportunities()
            .list_stage_history(team.rep.req(pb::ListStageHistoryRequest {
                id: deal.id.clone(),
            }))
            .await
            .expect("history")
            .into_inner()
            .changes;
        let moves: Vec<(&str, &str)> = history
            .iter()
            .map(|c| (c.from_stage_id.as_str(), c.to_stage_id.as_str()))
            .collect();
        assert_eq!(
            moves,
            [
                ("", prospecting.as_str()),
                (prospecting.as_str(), qualification.as_str())
            ]
        );
    }
    let stage_field_changes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM field_history WHERE tenant_id = $1 AND field = 'stage_id'
         AND old_value = to_jsonb($2::text) AND new_value = to_jsonb($3::text)",
    )
    .bind(team.tenant_id)
    .bind(&prospecting)
    .bind(&qualification)
    .fetch_one(&db.pool)
    .await
    .expect("field history");
    assert_eq!(
        stage_field_changes, 2,
        "one field-history row per moved deal"
    );
    let types = db.outbox_types(team.tenant_id).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| *t == "crm.opportunity.stage_changed")
            .count(),
        2
    );
    assert!(types.iter().any(|t| t == "crm.pipeline.updated"));

    // The board follows positions (not ids) and still shows the archived column.
    let board = boards(&team.admin.channel())
        .get_board(team.admin.req(pb::GetBoardRequest {
            pipeline_id: sales.id.clone(),
            page_size: 10,
        }))
        .await
        .expect("board")
        .into_inner();
    let columns: Vec<(&str, bool, i64)> = board
        .columns
        .iter()
        .map(|c| {
            let stage = c.stage.as_ref().expect("stage");
            (stage.name.as_str(), stage.archived, c.count)
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("Prospecting", true, 0),
            ("Demo", false, 0),
            ("Qualification", false, 2),
            ("Negotiation", false, 0),
            ("Closed Won", false, 0),
            ("Closed Lost", false, 0),
        ]
    );

    // An archived stage takes neither moves nor new deals.
    let status = move_stage(&team.rep, &a.id, &prospecting, "")
        .await
        .expect_err("archived");
    assert_invalid(&status, &["stage_id"]);
    let status = team
        .rep
        .opportunities()
        .create_opportunity(team.rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Late".into(),
                stage_id: prospecting.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("archived");
    assert_invalid(&status, &["opportunity.stage_id"]);
    // New deals start in the first open stage that is not archived.
    let c = team.rep.create_opportunity("Deal C").await;
    assert_eq!(c.stage_id, proposal);
}

#[tokio::test]
async fn the_last_won_stage_stays_and_refusals_write_nothing() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let deal = team.rep.create_opportunity("Deal").await;
    let sales = team.admin.default_pipeline().await;
    let won = named(&sales, "Closed Won").id.clone();
    let prospecting = named(&sales, "Prospecting").id.clone();
    let events_before = db.outbox_types(team.tenant_id).await.len();

    let status = archive_stage(&team, &sales, &won, "")
        .await
        .expect_err("last won stage");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("\"Closed Won\"") && status.message().contains("last won"),
        "{}",
        status.message()
    );
    // Open deals without a destination, or a destination of another category: refused too.
    let status = archive_stage(&team, &sales, &prospecting, "")
        .await
        .expect_err("open deals");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("1 open"), "{}", status.message());
    let status = archive_stage(&team, &sales, &prospecting, &won)
        .await
        .expect_err("won is not open");
    assert_invalid(&status, &["move_to_stage_id"]);
    // A category change under a deal, and deleting a stage that held one.
    let status = team
        .admin
        .pipelines()
        .update_stage(team.admin.req(pb::UpdateStageRequest {
            pipeline_id: sales.id.clone(),
            stage: Some(pb::Stage {
                id: prospecting.clone(),
                category: pb::StageCategory::Won as i32,
                ..Default::default()
            }),
            update_mask: mask(&["category"]),
        }))
        .await
        .expect_err("holds a deal");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = team
        .admin
        .pipelines()
        .delete_stage(team.admin.req(pb::DeleteStageRequest {
            pipeline_id: sales.id.clone(),
            stage_id: prospecting.clone(),
        }))
        .await
        .expect_err("held deals");
    assert_eq!(status.code(), Code::FailedPrecondition);

    assert_eq!(
        team.admin.default_pipeline().await,
        sales,
        "nothing changed"
    );
    assert_eq!(db.outbox_types(team.tenant_id).await.len(), events_before);
    let still = team
        .rep
        .opportunities()
        .get_opportunity(team.rep.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("readable")
        .into_inner();
    assert_eq!(still.stage_id, prospecting);

    // With a second won stage the first may go; an unused stage may even be deleted.
    let grown = team
        .admin
        .pipelines()
        .create_stage(team.admin.req(pb::CreateStageRequest {
            pipeline_id: sales.id.clone(),
            stage: Some(pb::Stage {
                name: "Won (renewal)".into(),
                probability: 100,
                category: pb::StageCategory::Won as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect("stage added")
        .into_inner();
    assert_eq!(grown.stages.last().map(|s| s.position), Some(6));
    archive_stage(&team, &sales, &won, "")
        .await
        .expect("another won stage remains");
    let spare = team
        .admin
        .pipelines()
        .create_stage(team.admin.req(pb::CreateStageRequest {
            pipeline_id: sales.id.clone(),
            stage: Some(pb::Stage {
                name: "Spare".into(),
                probability: 5,
                category: pb::StageCategory::Open as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect("stage added")
        .into_inner();
    let spare_id = named(&spare, "Spare").id.clone();
    let trimmed = team
        .admin
        .pipelines()
        .delete_stage(team.admin.req(pb::DeleteStageRequest {
            pipeline_id: sales.id.clone(),
            stage_id: spare_id,
        }))
        .await
        .expect("never used")
        .into_inner();
    let positions: Vec<i32> = trimmed.stages.iter().map(|s| s.position).collect();
    assert_eq!(positions, [0, 1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn the_default_moves_and_archived_pipelines_take_no_new_deals() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let sales = team.admin.default_pipeline().await;
    let stage = |name: &str, probability, category: pb::StageCategory| pb::Stage {
        name: name.into(),
        probability,
        category: category as i32,
        ..Default::default()
    };
    let renewals = team
        .admin
        .pipelines()
        .create_pipeline(team.admin.req(pb::CreatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                name: "Renewals".into(),
                stages: vec![
                    stage("Due", 40, pb::StageCategory::Open),
                    stage("Renewed", 100, pb::StageCategory::Won),
                    stage("Churned", 0, pb::StageCategory::Lost),
                ],
                ..Default::default()
            }),
        }))
        .await
        .expect("created")
        .into_inner();
    let set_default = |id: String| {
        let admin = &team.admin;
        async move {
            admin
                .pipelines()
                .set_default_pipeline(admin.req(pb::SetDefaultPipelineRequest { id }))
                .await
        }
    };
    let archive = |id: String| {
        let admin = &team.admin;
        async move {
            admin
                .pipelines()
                .archive_pipeline(admin.req(pb::ArchivePipelineRequest { id }))
                .await
        }
    };

    assert!(
        set_default(renewals.id.clone())
            .await
            .expect("default")
            .into_inner()
            .is_default
    );
    assert_eq!(team.rep.default_pipeline().await.id, renewals.id);
    let deal = team.rep.create_opportunity("Renewal").await;
    assert_eq!(deal.pipeline_id, renewals.id, "new deals go to the default");

    let status = archive(renewals.id.clone()).await.expect_err("default");
    assert_eq!(status.code(), Code::FailedPrecondition);
    set_default(sales.id.clone()).await.expect("back");
    let status = archive(renewals.id.clone()).await.expect_err("open deal");
    assert!(status.message().contains("1 open"), "{}", status.message());
    move_stage(&team.rep, &deal.id, &named(&renewals, "Renewed").id, "")
        .await
        .expect("won");
    let archived = archive(renewals.id.clone())
        .await
        .expect("archived")
        .into_inner();
    assert!(archived.archived);

    let status = team
        .rep
        .opportunities()
        .create_opportunity(team.rep.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: "Too late".into(),
                pipeline_id: renewals.id.clone(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("archived pipeline");
    assert_invalid(&status, &["opportunity.pipeline_id"]);
    let status = set_default(renewals.id.clone())
        .await
        .expect_err("archived");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let renamed = team
        .admin
        .pipelines()
        .update_pipeline(team.admin.req(pb::UpdatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                id: sales.id.clone(),
                name: "New business".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
        }))
        .await
        .expect("renamed")
        .into_inner();
    assert_eq!(renamed.name, "New business");
    let status = team
        .admin
        .pipelines()
        .update_pipeline(team.admin.req(pb::UpdatePipelineRequest {
            pipeline: Some(pb::Pipeline {
                id: sales.id.clone(),
                name: "renewals".into(),
                ..Default::default()
            }),
            update_mask: mask(&["name"]),
        }))
        .await
        .expect_err("taken");
    assert_eq!(status.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn lost_reasons_are_an_ordered_archivable_picklist_required_by_setting() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let create = |label: &str| {
        let admin = &team.admin;
        let label = label.to_owned();
        async move {
            admin
                .pipelines()
                .create_lost_reason(admin.req(pb::CreateLostReasonRequest {
                    lost_reason: Some(pb::LostReason {
                        label,
                        ..Default::default()
                    }),
                }))
                .await
        }
    };
    let price = create("Price").await.expect("created").into_inner();
    let timing = create("Timing").await.expect("created").into_inner();
    let budget = create("No budget").await.expect("created").into_inner();
    assert_eq!(
        create("price").await.expect_err("duplicate").code(),
        Code::AlreadyExists
    );
    let status = team
        .rep
        .pipelines()
        .create_lost_reason(team.rep.req(pb::CreateLostReasonRequest {
            lost_reason: Some(pb::LostReason {
                label: "Mine".into(),
                ..Default::default()
            }),
        }))
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);
    let listed = team
        .admin
        .pipelines()
        .reorder_lost_reasons(team.admin.req(pb::ReorderLostReasonsRequest {
            lost_reason_ids: vec![budget.id.clone(), price.id.clone(), timing.id.clone()],
        }))
        .await
        .expect("reordered")
        .into_inner();
    let labels: Vec<&str> = listed
        .lost_reasons
        .iter()
        .map(|r| r.label.as_str())
        .collect();
    assert_eq!(labels, ["No budget", "Price", "Timing"]);
    team.admin
        .pipelines()
        .update_lost_reason(team.admin.req(pb::UpdateLostReasonRequest {
            lost_reason: Some(pb::LostReason {
                id: timing.id.clone(),
                archived: true,
                ..Default::default()
            }),
            update_mask: mask(&["archived"]),
        }))
        .await
        .expect("archived");

    let sales = team.rep.default_pipeline().await;
    let lost = named(&sales, "Closed Lost").id.clone();
    let deal = team.rep.create_opportunity("Deal").await;
    for reason in ["", "Went dark", "timing"] {
        let status = move_stage(&team.rep, &deal.id, &lost, reason)
            .await
            .expect_err("refused");
        assert_invalid(&status, &["lost_reason"]);
    }
    let moved = move_stage(&team.rep, &deal.id, &lost, " price ")
        .await
        .expect("a picklist reason");
    assert_eq!(
        moved.lost_reason, "Price",
        "stored as the picklist spells it"
    );
    let status = team
        .rep
        .opportunities()
        .update_opportunity(team.rep.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: deal.id.clone(),
                lost_reason: "Went dark".into(),
                ..Default::default()
            }),
            update_mask: mask(&["lost_reason"]),
        }))
        .await
        .expect_err("not in the picklist");
    assert_invalid(&status, &["opportunity.lost_reason"]);

    // The tenant may let deals be lost without a reason.
    team.admin
        .settings()
        .update_crm_settings(team.admin.req(pb::UpdateCrmSettingsRequest {
            settings: Some(pb::CrmSettings {
                lost_reason_required: false,
                ..Default::default()
            }),
            update_mask: mask(&["lost_reason_required"]),
        }))
        .await
        .expect("settings");
    let other = team.rep.create_opportunity("Other").await;
    let moved = move_stage(&team.rep, &other.id, &lost, "")
        .await
        .expect("no reason needed");
    assert_eq!(moved.state, "lost");
    let types = db.outbox_types(team.tenant_id).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| t.starts_with("crm.lost_reason."))
            .count(),
        3 + 3 + 1,
        "created ×3, reordered ×3, archived: {types:?}"
    );
    // Deleting a reason leaves the deals lost with it as they were.
    team.admin
        .pipelines()
        .delete_lost_reason(team.admin.req(pb::DeleteLostReasonRequest {
            id: price.id.clone(),
        }))
        .await
        .expect("deleted");
    let kept: String = sqlx::query_scalar("SELECT lost_reason FROM opportunities WHERE id = $1")
        .bind(Uuid::parse_str(&deal.id).expect("uuid"))
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(kept, "Price");
}
