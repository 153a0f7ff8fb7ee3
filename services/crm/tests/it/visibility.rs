//! Record visibility with a team: admin, a manager with a direct report, a rep outside the
//! manager's team, and support. Every read and write path is checked.

use std::collections::BTreeSet;

use auth::BuiltinRole;
use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, team, user};

/// One of each record type owned by `owner`.
struct Owned {
    account: String,
    contact: String,
    lead: String,
    opportunity: String,
}

async fn records_of(owner: &As, label: &str) -> Owned {
    Owned {
        account: owner.create_account(&format!("{label} account")).await.id,
        contact: owner.create_contact(&format!("{label} contact")).await.id,
        lead: owner.create_lead(label, "Co").await.id,
        opportunity: owner.create_opportunity(&format!("{label} deal")).await.id,
    }
}

async fn listed_accounts(user: &As) -> BTreeSet<String> {
    user.accounts()
        .list_accounts(user.req(pb::ListAccountsRequest::default()))
        .await
        .expect("accounts listed")
        .into_inner()
        .accounts
        .into_iter()
        .map(|a| a.id)
        .collect()
}

async fn listed_contacts(user: &As) -> BTreeSet<String> {
    user.contacts()
        .list_contacts(user.req(pb::ListContactsRequest::default()))
        .await
        .expect("contacts listed")
        .into_inner()
        .contacts
        .into_iter()
        .map(|c| c.id)
        .collect()
}

async fn listed_leads(user: &As) -> Result<BTreeSet<String>, tonic::Status> {
    Ok(user
        .leads()
        .list_leads(user.req(pb::ListLeadsRequest::default()))
        .await?
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.id)
        .collect())
}

async fn listed_opportunities(user: &As) -> Result<BTreeSet<String>, tonic::Status> {
    Ok(user
        .opportunities()
        .list_opportunities(user.req(pb::ListOpportunitiesRequest::default()))
        .await?
        .into_inner()
        .opportunities
        .into_iter()
        .map(|o| o.id)
        .collect())
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map_or_else(|s| s.code(), |_| Code::Ok)
}

async fn gets(user: &As, records: &Owned) -> [Code; 4] {
    [
        code(
            user.accounts()
                .get_account(user.req(pb::GetAccountRequest {
                    id: records.account.clone(),
                    read_mask: None,
                }))
                .await,
        ),
        code(
            user.contacts()
                .get_contact(user.req(pb::GetContactRequest {
                    id: records.contact.clone(),
                    read_mask: None,
                }))
                .await,
        ),
        code(
            user.leads()
                .get_lead(user.req(pb::GetLeadRequest {
                    id: records.lead.clone(),
                    read_mask: None,
                }))
                .await,
        ),
        code(
            user.opportunities()
                .get_opportunity(user.req(pb::GetOpportunityRequest {
                    id: records.opportunity.clone(),
                    read_mask: None,
                }))
                .await,
        ),
    ]
}

fn ids(owned: &[&Owned], pick: fn(&Owned) -> &String) -> BTreeSet<String> {
    owned.iter().map(|o| pick(o).clone()).collect()
}

#[tokio::test]
async fn each_role_reads_exactly_the_records_it_may_see() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let admin = records_of(&team.admin, "admin").await;
    let manager = records_of(&team.manager, "manager").await;
    let rep = records_of(&team.rep, "rep").await;
    let other = records_of(&team.other_rep, "other").await;
    let everyone = [&admin, &manager, &rep, &other];

    fn account(o: &Owned) -> &String {
        &o.account
    }
    fn contact(o: &Owned) -> &String {
        &o.contact
    }
    fn lead(o: &Owned) -> &String {
        &o.lead
    }
    fn opportunity(o: &Owned) -> &String {
        &o.opportunity
    }

    for (who, visible) in [
        (&team.admin, everyone.to_vec()),
        (&team.manager, vec![&manager, &rep]),
        (&team.rep, vec![&rep]),
        (&team.other_rep, vec![&other]),
    ] {
        assert_eq!(listed_accounts(who).await, ids(&visible, account));
        assert_eq!(listed_contacts(who).await, ids(&visible, contact));
        assert_eq!(listed_leads(who).await.expect("leads"), ids(&visible, lead));
        assert_eq!(
            listed_opportunities(who).await.expect("opportunities"),
            ids(&visible, opportunity)
        );
        for records in everyone {
            let expected = if visible.iter().any(|v| std::ptr::eq(*v, records)) {
                Code::Ok
            } else {
                Code::NotFound
            };
            assert_eq!(gets(who, records).await, [expected; 4]);
        }
    }

    // Support reads every account and contact, and no leads or deals at all.
    assert_eq!(
        listed_accounts(&team.support).await,
        ids(&everyone, account)
    );
    assert_eq!(
        listed_contacts(&team.support).await,
        ids(&everyone, contact)
    );
    assert_eq!(
        listed_leads(&team.support)
            .await
            .expect_err("no leads")
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        listed_opportunities(&team.support)
            .await
            .expect_err("no deals")
            .code(),
        Code::PermissionDenied
    );
    assert_eq!(
        gets(&team.support, &other).await,
        [
            Code::Ok,
            Code::Ok,
            Code::PermissionDenied,
            Code::PermissionDenied
        ]
    );
}

#[tokio::test]
async fn writes_follow_visibility_and_support_is_read_only() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = records_of(&team.rep, "rep").await;
    let other = records_of(&team.other_rep, "other").await;

    let rename = |user: &As, id: &str| {
        user.req(pb::UpdateAccountRequest {
            account: Some(pb::Account {
                id: id.to_owned(),
                name: "Renamed".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["name".into()],
            }),
        })
    };
    // A rep cannot touch a colleague's record: it does not exist for them.
    let status = team
        .rep
        .accounts()
        .update_account(rename(&team.rep, &other.account))
        .await
        .expect_err("other rep's account");
    assert_eq!(status.code(), Code::NotFound);
    let status = team
        .rep
        .leads()
        .delete_lead(team.rep.req(pb::DeleteLeadRequest {
            id: other.lead.clone(),
        }))
        .await
        .expect_err("other rep's lead");
    assert_eq!(status.code(), Code::NotFound);
    let status = team
        .rep
        .opportunities()
        .move_stage(team.rep.req(pb::MoveStageRequest {
            id: other.opportunity.clone(),
            stage_id: team.rep.default_pipeline().await.stages[1].id.clone(),
            lost_reason: String::new(),
        }))
        .await
        .expect_err("other rep's deal");
    assert_eq!(status.code(), Code::NotFound);
    let status = team
        .rep
        .leads()
        .convert_lead(team.rep.req(pb::ConvertLeadRequest {
            id: other.lead.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("other rep's lead");
    assert_eq!(status.code(), Code::NotFound);

    // The manager edits the report's records, not those outside the team.
    team.manager
        .accounts()
        .update_account(rename(&team.manager, &rep.account))
        .await
        .expect("manager edits the report's account");
    let status = team
        .manager
        .opportunities()
        .delete_opportunity(team.manager.req(pb::DeleteOpportunityRequest {
            id: other.opportunity.clone(),
        }))
        .await
        .expect_err("outside the team");
    assert_eq!(status.code(), Code::NotFound);

    // Support reads but never writes.
    team.support
        .accounts()
        .get_account(team.support.req(pb::GetAccountRequest {
            id: rep.account.clone(),
            read_mask: None,
        }))
        .await
        .expect("support reads");
    let status = team
        .support
        .accounts()
        .update_account(rename(&team.support, &rep.account))
        .await
        .expect_err("support writes");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = team
        .support
        .contacts()
        .delete_contact(team.support.req(pb::DeleteContactRequest {
            id: rep.contact.clone(),
        }))
        .await
        .expect_err("support deletes");
    assert_eq!(status.code(), Code::PermissionDenied);

    // The admin deletes anything.
    team.admin
        .opportunities()
        .delete_opportunity(team.admin.req(pb::DeleteOpportunityRequest {
            id: other.opportunity.clone(),
        }))
        .await
        .expect("admin deletes");
}

#[tokio::test]
async fn records_are_assigned_only_within_reach() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let reassign = |user: &As, lead: &str, owner: uuid::Uuid| {
        user.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.to_owned(),
                owner_id: owner.to_string(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner_id".into()],
            }),
        })
    };
    let lead = team.manager.create_lead("Handover", "Co").await;

    let status = team
        .manager
        .leads()
        .update_lead(reassign(&team.manager, &lead.id, team.other_rep.user_id))
        .await
        .expect_err("outside the team");
    crate::helpers::assert_invalid(&status, &["lead.owner_id"]);

    let handed = team
        .manager
        .leads()
        .update_lead(reassign(&team.manager, &lead.id, team.rep.user_id))
        .await
        .expect("to the report")
        .into_inner();
    assert_eq!(handed.owner_id, team.rep.user_id.to_string());
    team.rep
        .leads()
        .get_lead(team.rep.req(pb::GetLeadRequest {
            id: lead.id.clone(),
            read_mask: None,
        }))
        .await
        .expect("the new owner sees it");

    let status = team
        .rep
        .leads()
        .update_lead(reassign(&team.rep, &lead.id, team.manager.user_id))
        .await
        .expect_err("reps keep their records");
    crate::helpers::assert_invalid(&status, &["lead.owner_id"]);

    let status = team
        .rep
        .leads()
        .create_lead(team.rep.req(pb::CreateLeadRequest {
            last_name: "For someone else".into(),
            owner_id: team.other_rep.user_id.to_string(),
            ..Default::default()
        }))
        .await
        .expect_err("creating for another rep");
    crate::helpers::assert_invalid(&status, &["owner_id"]);

    // Deactivated users own nothing new, even when the admin asks.
    sqlx::query("UPDATE crm_users SET active = false WHERE user_id = $1")
        .bind(team.other_rep.user_id)
        .execute(&db.pool)
        .await
        .expect("deactivated");
    let status = team
        .admin
        .leads()
        .update_lead(reassign(&team.admin, &lead.id, team.other_rep.user_id))
        .await
        .expect_err("deactivated owner");
    crate::helpers::assert_invalid(&status, &["lead.owner_id"]);
}

#[tokio::test]
async fn managers_see_their_whole_chain_including_deactivated_reports() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    // director → manager → rep
    let director_id = uuid::Uuid::now_v7();
    db.project_user(
        team.tenant_id,
        director_id,
        Some(team.admin.user_id),
        BuiltinRole::Manager,
        true,
    )
    .await;
    sqlx::query("UPDATE crm_users SET manager_id = $1 WHERE user_id = $2")
        .bind(director_id)
        .bind(team.manager.user_id)
        .execute(&db.pool)
        .await
        .expect("re-parented");
    let director = user(&crm, team.tenant_id, director_id, BuiltinRole::Manager).await;
    let deal = team.rep.create_opportunity("Deep").await;
    sqlx::query("UPDATE crm_users SET active = false WHERE user_id = $1")
        .bind(team.rep.user_id)
        .execute(&db.pool)
        .await
        .expect("rep left");

    let seen = listed_opportunities(&director).await.expect("listed");
    assert_eq!(seen, BTreeSet::from([deal.id.clone()]));
    let seen = listed_opportunities(&team.manager).await.expect("listed");
    assert_eq!(seen, BTreeSet::from([deal.id]));
    assert!(
        listed_opportunities(&team.other_rep)
            .await
            .expect("listed")
            .is_empty()
    );
}
