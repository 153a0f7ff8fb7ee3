//! Field history written by the database on every create, update, delete and restore (with the
//! acting user, under the API's field names), record timelines merging activities, field changes
//! and stage moves, newest first, and restoring deleted records.

use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;

use crate::activities::{log, note_on};
use crate::helpers::{As, Db, team, usd};

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
        .filter(|c| c.kind == pb::ChangeKind::Update as i32)
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
    assert!(
        case_changes
            .iter()
            .any(|c| c.field == "resolution_due_time"),
        "the API's name, not the column's: {case_changes:?}"
    );

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
    // Before the note: the account's creation, one entry per set field.
    let rest = history(&channel)
        .list_timeline(rep.req(pb::ListTimelineRequest {
            page_size: 100,
            ..page(second.next_page_token)
        }))
        .await
        .expect("the rest")
        .into_inner();
    assert!(rest.next_page_token.is_empty());
    let created: Vec<&str> = rest
        .entries
        .iter()
        .map(|e| match &e.entry {
            Some(pb::timeline_entry::Entry::FieldChange(c))
                if c.kind == pb::ChangeKind::Create as i32 =>
            {
                c.field.as_str()
            }
            other => panic!("expected the creation, got {other:?}"),
        })
        .collect();
    assert!(created.contains(&"name"), "{created:?}");

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

fn changes_of(
    channel: &Channel,
    who: &As,
    record_type: pb::RecordType,
    id: &str,
) -> impl std::future::Future<Output = Result<Vec<pb::FieldChange>, tonic::Status>> {
    let mut client = history(channel);
    let request = who.req(pb::ListFieldHistoryRequest {
        record_type: record_type as i32,
        record_id: id.to_owned(),
        page_size: 1000,
        ..Default::default()
    });
    async move {
        Ok(client
            .list_field_history(request)
            .await?
            .into_inner()
            .changes)
    }
}

fn of_kind(changes: &[pb::FieldChange], kind: pb::ChangeKind) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = changes
        .iter()
        .filter(|c| c.kind == kind as i32)
        .map(|c| (c.field.clone(), c.old_value.clone(), c.new_value.clone()))
        .collect();
    found.sort();
    found
}

fn undelete(
    channel: &Channel,
    who: &As,
    record_type: pb::RecordType,
    id: &str,
) -> impl std::future::Future<Output = Result<pb::UndeleteRecordResponse, tonic::Status>> {
    let mut client = history(channel);
    let request = who.req(pb::UndeleteRecordRequest {
        record_type: record_type as i32,
        record_id: id.to_owned(),
    });
    async move { Ok(client.undelete_record(request).await?.into_inner()) }
}

#[tokio::test]
async fn creates_updates_deletes_and_restores_are_history_under_the_api_field_names() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let rep = &team.rep;
    let deal = rep.create_opportunity("Big deal").await;
    rep.opportunities()
        .update_opportunity(rep.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: deal.id.clone(),
                amount: Some(usd(7_000)),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["amount".into()],
            }),
        }))
        .await
        .expect("amount changed");

    let changes = changes_of(&channel, rep, pb::RecordType::Opportunity, &deal.id)
        .await
        .expect("history");
    assert!(
        changes.iter().all(|c| !c.field.starts_with("amount_")),
        "stored column names never show: {changes:?}"
    );
    let created = of_kind(&changes, pb::ChangeKind::Create);
    let created_fields: Vec<&str> = created.iter().map(|(f, _, _)| f.as_str()).collect();
    for field in [
        "amount",
        "close_date",
        "name",
        "owner_id",
        "pipeline_id",
        "stage_id",
    ] {
        assert!(created_fields.contains(&field), "{field}: {created:?}");
    }
    assert!(created.iter().all(|(_, old, _)| old == "null"));
    let updated = of_kind(&changes, pb::ChangeKind::Update);
    assert_eq!(updated.len(), 1, "{updated:?}");
    let (field, old, new) = &updated[0];
    assert_eq!(field, "amount");
    let old: serde_json::Value = serde_json::from_str(old).expect("json");
    let new: serde_json::Value = serde_json::from_str(new).expect("json");
    assert_eq!(old["units"], 5_000);
    assert_eq!(
        (new["units"].clone(), new["currency_code"].clone()),
        (7_000.into(), "USD".into())
    );
    let actor = rep.user_id.to_string();
    assert!(changes.iter().all(|c| c.actor_id == actor));

    // Deleted: every set field cleared, and the history stays readable for who could read it.
    rep.opportunities()
        .delete_opportunity(rep.req(pb::DeleteOpportunityRequest {
            id: deal.id.clone(),
        }))
        .await
        .expect("deleted");
    let after_delete = changes_of(
        &channel,
        &team.manager,
        pb::RecordType::Opportunity,
        &deal.id,
    )
    .await
    .expect("the manager reads a deleted record's history");
    let deleted = of_kind(&after_delete, pb::ChangeKind::Delete);
    assert!(
        deleted
            .iter()
            .any(|(f, old, new)| f == "name" && old == "\"Big deal\"" && new == "null"),
        "{deleted:?}"
    );
    assert!(deleted.iter().all(|(_, _, new)| new == "null"));
    let hidden = changes_of(
        &channel,
        &team.other_rep,
        pb::RecordType::Opportunity,
        &deal.id,
    )
    .await
    .expect_err("not theirs");
    assert_eq!(hidden.code(), Code::NotFound);

    // Restored by who may delete it; someone else cannot, nor can it be restored twice.
    let refused = undelete(
        &channel,
        &team.other_rep,
        pb::RecordType::Opportunity,
        &deal.id,
    )
    .await
    .expect_err("not theirs");
    assert_eq!(refused.code(), Code::NotFound);
    let support = undelete(
        &channel,
        &team.support,
        pb::RecordType::Opportunity,
        &deal.id,
    )
    .await
    .expect_err("support does not delete deals");
    assert_eq!(support.code(), Code::PermissionDenied);
    let restored = undelete(&channel, rep, pb::RecordType::Opportunity, &deal.id)
        .await
        .expect("restored");
    assert_eq!(
        restored.record,
        Some(pb::RecordRef {
            r#type: pb::RecordType::Opportunity as i32,
            id: deal.id.clone(),
        })
    );
    let back = rep
        .opportunities()
        .get_opportunity(rep.req(pb::GetOpportunityRequest {
            id: deal.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("back")
        .into_inner();
    assert_eq!(back.amount, Some(usd(7_000)));
    assert_eq!(
        back.stage_id, deal.stage_id,
        "its relations come back with it"
    );
    let again = undelete(&channel, rep, pb::RecordType::Opportunity, &deal.id)
        .await
        .expect_err("live");
    assert_eq!(again.code(), Code::AlreadyExists);
    let after_restore = changes_of(&channel, rep, pb::RecordType::Opportunity, &deal.id)
        .await
        .expect("history");
    assert!(
        of_kind(&after_restore, pb::ChangeKind::Restore)
            .iter()
            .any(|(f, old, new)| f == "name" && old == "null" && new == "\"Big deal\"")
    );
    assert_eq!(
        after_restore.first().map(|c| c.kind),
        Some(pb::ChangeKind::Restore as i32),
        "newest first"
    );
    let types = db.outbox_types(team.tenant_id).await;
    assert_eq!(
        types
            .iter()
            .filter(|t| t.as_str() == "crm.opportunity.created")
            .count(),
        2,
        "the restore announces the record again: {types:?}"
    );
}

#[tokio::test]
async fn a_record_deleted_before_the_restore_window_stays_deleted() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let admin = &team.admin;
    let settings = admin
        .settings()
        .update_crm_settings(admin.req(pb::UpdateCrmSettingsRequest {
            settings: Some(pb::CrmSettings {
                restore_window_days: 7,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["restore_window_days".into()],
            }),
        }))
        .await
        .expect("window set")
        .into_inner();
    assert_eq!(settings.restore_window_days, 7);
    let bad = admin
        .settings()
        .update_crm_settings(admin.req(pb::UpdateCrmSettingsRequest {
            settings: Some(pb::CrmSettings::default()),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["restore_window_days".into()],
            }),
        }))
        .await
        .expect_err("zero days");
    crate::helpers::assert_invalid(&bad, &["settings.restore_window_days"]);

    let old = team.rep.create_account("Old").await;
    let recent = team.rep.create_account("Recent").await;
    for account in [&old, &recent] {
        team.rep
            .accounts()
            .delete_account(team.rep.req(pb::DeleteAccountRequest {
                id: account.id.clone(),
            }))
            .await
            .expect("deleted");
    }
    sqlx::query("UPDATE accounts SET deleted_at = now() - interval '8 days' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&old.id).expect("uuid"))
        .execute(&db.pool)
        .await
        .expect("aged");
    let gone = undelete(&channel, &team.rep, pb::RecordType::Account, &old.id)
        .await
        .expect_err("past the window");
    assert_eq!(gone.code(), Code::NotFound);
    undelete(&channel, &team.rep, pb::RecordType::Account, &recent.id)
        .await
        .expect("within the window");

    // The settings change is history of the settings, for admins only.
    let tenant = team.tenant_id.to_string();
    let changes = changes_of(&channel, admin, pb::RecordType::Settings, &tenant)
        .await
        .expect("admin reads the settings' history");
    assert_eq!(
        of_kind(&changes, pb::ChangeKind::Update),
        [(
            "restore_window_days".to_owned(),
            "30".to_owned(),
            "7".to_owned()
        )]
    );
    let denied = changes_of(&channel, &team.rep, pb::RecordType::Settings, &tenant)
        .await
        .expect_err("reps do not read settings history");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn catalog_activities_and_shares_have_history_too() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let channel = crm.channel().await;
    let mut catalog = pb::product_service_client::ProductServiceClient::new(channel.clone());
    let product = catalog
        .create_product(team.admin.req(pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: "H-1".into(),
                name: "Hammer".into(),
                ..Default::default()
            }),
        }))
        .await
        .expect("product")
        .into_inner();
    let product_changes = changes_of(&channel, &team.rep, pb::RecordType::Product, &product.id)
        .await
        .expect("the catalog's history is everyone's");
    let created = of_kind(&product_changes, pb::ChangeKind::Create);
    assert!(created.contains(&("sku".to_owned(), "null".to_owned(), "\"H-1\"".to_owned())));

    let account = team.rep.create_account("Shared").await;
    let note = log(
        &channel,
        &team.rep,
        note_on(pb::RecordType::Account, &account.id, "Call back"),
    )
    .await
    .expect("logged");
    let note_changes = changes_of(&channel, &team.rep, pb::RecordType::Activity, &note.id)
        .await
        .expect("activity history");
    let related = of_kind(&note_changes, pb::ChangeKind::Create)
        .into_iter()
        .find(|(f, _, _)| f == "related_to")
        .expect("the link is one field");
    let related: serde_json::Value = serde_json::from_str(&related.2).expect("json");
    assert_eq!(related["id"], account.id.as_str());
    let hidden = changes_of(
        &channel,
        &team.other_rep,
        pb::RecordType::Activity,
        &note.id,
    )
    .await
    .expect_err("not their activity");
    assert_eq!(hidden.code(), Code::NotFound);

    pb::sharing_service_client::SharingServiceClient::new(channel.clone())
        .share_record(team.rep.req(pb::ShareRecordRequest {
            record: Some(pb::share_record_request::Record::AccountId(
                account.id.clone(),
            )),
            share: Some(pb::RecordShare {
                user_id: team.other_rep.user_id.to_string(),
                access: pb::ShareAccess::Read as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect("shared");
    let account_changes = changes_of(&channel, &team.rep, pb::RecordType::Account, &account.id)
        .await
        .expect("account history");
    let share_field = format!("shares.{}", team.other_rep.user_id);
    let share = account_changes
        .iter()
        .find(|c| c.field == share_field)
        .expect("the share is the record's history");
    assert_eq!(
        (share.old_value.as_str(), share.new_value.as_str()),
        ("null", "\"read\"")
    );
}
