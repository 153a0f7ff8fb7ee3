//! Lead assignment rules: criteria, round-robin (fair under concurrency), admin-only
//! management with events, bad input.

use std::collections::HashMap;

use auth::BuiltinRole;
use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{As, Db, Tap, assert_invalid, payload, team};

fn rules(user: &As) -> pb::lead_assignment_service_client::LeadAssignmentServiceClient<Channel> {
    pb::lead_assignment_service_client::LeadAssignmentServiceClient::new(user.channel())
}

fn rule(name: &str, position: i32, source: &str, users: &[Uuid]) -> pb::LeadAssignmentRule {
    pb::LeadAssignmentRule {
        name: name.into(),
        position,
        source: source.into(),
        user_ids: users.iter().map(Uuid::to_string).collect(),
        ..Default::default()
    }
}

async fn create_rule(admin: &As, r: pb::LeadAssignmentRule) -> pb::LeadAssignmentRule {
    rules(admin)
        .create_lead_assignment_rule(
            admin.req(pb::CreateLeadAssignmentRuleRequest { rule: Some(r) }),
        )
        .await
        .expect("rule created")
        .into_inner()
}

/// Replaces the users of rule `id` (update mask `user_ids`).
async fn set_users(admin: &As, id: &str, users: &[Uuid]) -> pb::LeadAssignmentRule {
    rules(admin)
        .update_lead_assignment_rule(admin.req(pb::UpdateLeadAssignmentRuleRequest {
            rule: Some(pb::LeadAssignmentRule {
                id: id.to_owned(),
                user_ids: users.iter().map(Uuid::to_string).collect(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["user_ids".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner()
}

/// Creates an unowned lead (no owner_id) and returns its owner.
async fn unowned_lead(user: &As, source: &str) -> String {
    user.leads()
        .create_lead(user.req(pb::CreateLeadRequest {
            last_name: format!("Lead {}", Uuid::now_v7()),
            source: source.into(),
            force: true,
            ..Default::default()
        }))
        .await
        .expect("lead")
        .into_inner()
        .owner_id
}

#[tokio::test]
async fn unowned_leads_follow_the_first_matching_rule_in_turn() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let gone = Uuid::now_v7();
    db.project_user(t.tenant_id, gone, None, BuiltinRole::SalesRep, true)
        .await;
    let (rep, other) = (t.rep.user_id, t.other_rep.user_id);
    // Created out of order: position decides.
    create_rule(&t.admin, rule("everyone else", 2, "", &[rep, gone, other])).await;
    create_rule(&t.admin, rule("events", 1, "event", &[other])).await;
    // Deactivated after being named in a rule: skipped.
    sqlx::query("UPDATE crm_users SET active = false WHERE user_id = $1")
        .bind(gone)
        .execute(&db.pool)
        .await
        .expect("deactivated");

    assert_eq!(unowned_lead(&t.rep, "Event").await, other.to_string());
    let mut owners = Vec::new();
    for _ in 0..4 {
        owners.push(unowned_lead(&t.manager, "web").await);
    }
    assert_eq!(
        owners,
        [rep, other, rep, other].map(|u| u.to_string()),
        "round-robin skipping the deactivated user"
    );
    // An explicit owner is kept.
    let owned = t
        .rep
        .leads()
        .create_lead(t.rep.req(pb::CreateLeadRequest {
            last_name: "Owned".into(),
            owner_id: rep.to_string(),
            ..Default::default()
        }))
        .await
        .expect("owned lead")
        .into_inner();
    assert_eq!(owned.owner_id, rep.to_string());
}

#[tokio::test]
async fn imported_leads_without_an_owner_follow_the_rules_too() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (rep, other) = (t.rep.user_id, t.other_rep.user_id);
    create_rule(&t.admin, rule("webinars", 1, "webinar", &[other])).await;

    let csv = format!(
        "last_name,source,owner_id\nAlpha,Webinar,\nBeta,Webinar,{rep}\nGamma,Cold call,\n"
    );
    let report = crate::imports::import(&t.admin, pb::RecordType::Lead, &[], false, &csv, 16)
        .await
        .expect("imported");
    assert_eq!((report.created, report.errors.len()), (3, 0));

    let owners: HashMap<String, Uuid> =
        sqlx::query_as("SELECT last_name, owner_id FROM leads WHERE tenant_id = $1")
            .bind(t.tenant_id)
            .fetch_all(&db.pool)
            .await
            .expect("leads")
            .into_iter()
            .collect();
    assert_eq!(owners["Alpha"], other, "the matching rule chose the owner");
    assert_eq!(owners["Beta"], rep, "an owner in the file is kept");
    assert_eq!(
        owners["Gamma"], t.admin.user_id,
        "no rule matched: the importer owns it"
    );
}

#[tokio::test]
async fn concurrent_creates_share_the_turns_evenly() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (rep, other) = (t.rep.user_id, t.other_rep.user_id);
    create_rule(&t.admin, rule("all", 0, "", &[rep, other])).await;
    let creates = (0..20).map(|_| unowned_lead(&t.admin, ""));
    let owners = futures::future::join_all(creates).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for owner in owners {
        *counts.entry(owner).or_default() += 1;
    }
    assert_eq!(counts.get(&rep.to_string()), Some(&10), "{counts:?}");
    assert_eq!(counts.get(&other.to_string()), Some(&10), "{counts:?}");
}

#[tokio::test]
async fn only_admins_manage_rules_and_changes_are_events() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    for user in [&t.rep, &t.manager, &t.support] {
        let status = rules(user)
            .list_lead_assignment_rules(user.req(pb::ListLeadAssignmentRulesRequest {}))
            .await
            .expect_err("admins only");
        assert_eq!(status.code(), Code::PermissionDenied);
    }
    let tap = Tap::bind(&["crm.lead_assignment_rule.*"]).await;
    let created = create_rule(&t.admin, rule("web", 0, "web", &[t.rep.user_id])).await;
    let updated = set_users(&t.admin, &created.id, &[t.other_rep.user_id]).await;
    assert_eq!(updated.user_ids, [t.other_rep.user_id.to_string()]);
    assert_eq!(updated.source, "web", "unmasked fields kept");
    let listed = rules(&t.admin)
        .list_lead_assignment_rules(t.admin.req(pb::ListLeadAssignmentRulesRequest {}))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.rules, std::slice::from_ref(&updated));
    let delete = || pb::DeleteLeadAssignmentRuleRequest {
        id: created.id.clone(),
    };
    rules(&t.admin)
        .delete_lead_assignment_rule(t.admin.req(delete()))
        .await
        .expect("deleted");
    let status = rules(&t.admin)
        .delete_lead_assignment_rule(t.admin.req(delete()))
        .await
        .expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);

    let events = tap
        .wait_for_matching(t.tenant_id, 3, |e| {
            e.event_type.starts_with("crm.lead_assignment_rule.")
        })
        .await;
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.lead_assignment_rule.created",
            "crm.lead_assignment_rule.updated",
            "crm.lead_assignment_rule.deleted"
        ]
    );
    let body: pb::LeadAssignmentRule = payload(&events[1]);
    assert_eq!(body, updated);
    tap.close().await;
}

#[tokio::test]
async fn bad_rules_name_every_field() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mut client = rules(&t.admin);
    let status = client
        .create_lead_assignment_rule(t.admin.req(pb::CreateLeadAssignmentRuleRequest {
            rule: Some(pb::LeadAssignmentRule {
                name: " ".into(),
                position: -1,
                country_code: "Germany".into(),
                min_employee_count: -5,
                user_ids: vec!["someone".into()],
                ..Default::default()
            }),
        }))
        .await
        .expect_err("bad rule");
    assert_invalid(
        &status,
        &[
            "rule.name",
            "rule.position",
            "rule.country_code",
            "rule.min_employee_count",
            "rule.user_ids",
        ],
    );
    let mut range = rule("range", 0, "", &[t.rep.user_id]);
    range.min_employee_count = 50;
    range.max_employee_count = 10;
    let status = client
        .create_lead_assignment_rule(
            t.admin
                .req(pb::CreateLeadAssignmentRuleRequest { rule: Some(range) }),
        )
        .await
        .expect_err("bad range");
    assert_invalid(&status, &["rule.max_employee_count"]);
    let status = client
        .create_lead_assignment_rule(t.admin.req(pb::CreateLeadAssignmentRuleRequest {
            rule: Some(rule("strangers", 0, "", &[t.rep.user_id, Uuid::now_v7()])),
        }))
        .await
        .expect_err("unknown user");
    assert_invalid(&status, &["rule.user_ids[1]"]);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM lead_assignment_rules WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        0
    );
}

async fn config_version(db: &Db, tenant_id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT config_version FROM crm_tenants WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&db.pool)
        .await
        .expect("config version")
}

/// The service keeps the rules in memory (store/tenant_config.rs); every change must reach the
/// very next lead, and taking a turn must not count as a change.
#[tokio::test]
async fn the_next_lead_follows_a_changed_or_deleted_rule() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (rep, other) = (t.rep.user_id, t.other_rep.user_id);
    let created = create_rule(&t.admin, rule("web", 0, "web", &[rep])).await;
    assert_eq!(unowned_lead(&t.manager, "web").await, rep.to_string());
    let version = config_version(&db, t.tenant_id).await;
    assert_eq!(unowned_lead(&t.manager, "web").await, rep.to_string());
    assert_eq!(
        config_version(&db, t.tenant_id).await,
        version,
        "a turn taken is not a configuration change"
    );

    set_users(&t.admin, &created.id, &[other]).await;
    assert_ne!(config_version(&db, t.tenant_id).await, version);
    assert_eq!(unowned_lead(&t.manager, "web").await, other.to_string());

    rules(&t.admin)
        .delete_lead_assignment_rule(t.admin.req(pb::DeleteLeadAssignmentRuleRequest {
            id: created.id.clone(),
        }))
        .await
        .expect("deleted");
    assert_eq!(
        unowned_lead(&t.manager, "web").await,
        t.manager.user_id.to_string(),
        "no rule left: the creator owns it"
    );
}
