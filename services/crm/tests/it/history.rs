//! Field history written by the database on every update (with the acting user), and record
//! timelines merging activities, field changes and stage moves, newest first.

use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::activities::{log, note_on};
use crate::helpers::{Db, team};

fn history(channel: &Channel) -> pb::history_service_client::HistoryServiceClient<Channel> {
    pb::history_service_client::HistoryServiceClient::new(channel.clone())
}

#[tokio::test]
async fn updates_record_each_changed_field_with_the_actor() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let account = team.rep.create_account("Acme").await;
    // The manager edits the rep's account.
    team.manager
        .accounts()
        .update_account(team.manager.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: account.id.clone(),
                name: "Acme GmbH".into(),
                industry: "Robotics".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into(), "industry".into()],
            }),
        }))
        .await
        .expect("updated");

    let changes = history(&channel)
        .list_field_history(team.rep.req(pb::ListFieldHistoryRequest {
            record_type: pb::RecordType::Account as i32,
            record_id: account.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("history readable")
        .into_inner()
        .changes;
    let mut fields: Vec<(&str, &str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c.field.as_str(),
                c.old_value.as_str(),
                c.new_value.as_str(),
                c.actor_id.as_str(),
            )
        })
        .collect();
    fields.sort();
    let manager = team.manager.user_id.to_string();
    assert_eq!(
        fields,
        [
            ("industry", "\"\"", "\"Robotics\"", manager.as_str()),
            ("name", "\"Acme\"", "\"Acme GmbH\"", manager.as_str()),
        ],
        "updated_at is bookkeeping, not a field change"
    );

    // Cases are recorded the same way.
    let mut cases = pb::case_service_client::CaseServiceClient::new(channel.clone());
    let case = cases
        .create_case(team.support.req(pb::CreateCaseRequest {
            case: Some(pb::Case {
                subject: "Slow".into(),
                ..Default::default()
            }),
        }))
        .await
        .expect("case")
        .into_inner();
    cases
        .update_case(team.support.req(pb::UpdateCaseRequest {
            case: Some(pb::Case {
                id: case.id.clone(),
                priority: pb::CasePriority::Urgent as i32,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["priority".into()],
            }),
        }))
        .await
        .expect("case updated");
    let case_changes = history(&channel)
        .list_field_history(team.support.req(pb::ListFieldHistoryRequest {
            record_type: pb::RecordType::Case as i32,
            record_id: case.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("case history")
        .into_inner()
        .changes;
    let priority = case_changes
        .iter()
        .find(|c| c.field == "priority")
        .expect("priority change recorded");
    assert_eq!(
        (priority.old_value.as_str(), priority.new_value.as_str()),
        ("\"normal\"", "\"urgent\"")
    );
    assert_eq!(priority.actor_id, team.support.user_id.to_string());
    assert!(case_changes.iter().any(|c| c.field == "resolution_due"));

    // Who cannot see the record cannot read its history.
    let hidden = history(&channel)
        .list_field_history(team.other_rep.req(pb::ListFieldHistoryRequest {
            record_type: pb::RecordType::Account as i32,
            record_id: account.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("invisible");
    assert_eq!(hidden.code(), Code::NotFound);
}

#[tokio::test]
async fn the_timeline_lists_activities_and_changes_newest_first_in_pages() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let rep = &team.rep;
    let account = rep.create_account("Acme").await;
    let note = log(
        &channel,
        rep,
        note_on(pb::RecordType::Account, &account.id, "Met at the fair"),
    )
    .await
    .expect("logged");
    rep.accounts()
        .update_account(rep.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: account.id.clone(),
                name: "Acme Corp".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        }))
        .await
        .expect("renamed");

    let page = |token: String| pb::ListTimelineRequest {
        record_type: pb::RecordType::Account as i32,
        record_id: account.id.clone(),
        page_size: 1,
        page_token: token,
    };
    let first = history(&channel)
        .list_timeline(rep.req(page(String::new())))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.entries.len(), 1);
    match &first.entries[0].entry {
        Some(pb::timeline_entry::Entry::FieldChange(change)) => {
            assert_eq!(change.field, "name");
            assert_eq!(change.new_value, "\"Acme Corp\"");
        }
        other => panic!("expected the rename first, got {other:?}"),
    }
    assert!(!first.next_page_token.is_empty());
    let second = history(&channel)
        .list_timeline(rep.req(page(first.next_page_token)))
        .await
        .expect("second page")
        .into_inner();
    match &second.entries[..] {
        [
            pb::TimelineEntry {
                entry: Some(pb::timeline_entry::Entry::Activity(activity)),
                ..
            },
        ] => assert_eq!(activity.id, note.id),
        other => panic!("expected the note, got {other:?}"),
    }
    assert!(second.next_page_token.is_empty());

    // Opportunities show their stage moves too.
    let deal = rep.create_opportunity("Big deal").await;
    let timeline = history(&channel)
        .list_timeline(rep.req(pb::ListTimelineRequest {
            record_type: pb::RecordType::Opportunity as i32,
            record_id: deal.id.clone(),
            ..Default::default()
        }))
        .await
        .expect("deal timeline")
        .into_inner();
    assert!(
        timeline
            .entries
            .iter()
            .any(|e| matches!(e.entry, Some(pb::timeline_entry::Entry::StageChange(_)))),
        "{timeline:?}"
    );

    let hidden = history(&channel)
        .list_timeline(team.other_rep.req(page(String::new())))
        .await
        .expect_err("invisible");
    assert_eq!(hidden.code(), Code::NotFound);
}
