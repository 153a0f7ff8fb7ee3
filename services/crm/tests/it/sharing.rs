//! Sharing records with individual users. In the team, `other_rep` (A, outside the manager's
//! team) shares with `rep` (B, the manager's report): B then reads A's record on every read
//! path, edits it with an EDIT share, and never deletes, reassigns, converts, merges or shares
//! it on. B's manager gains nothing through B's shares.

use std::collections::BTreeSet;

use chrono::Utc;
use crm::domain::csv::RowReader;
use proto::crm as pb;
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::helpers::{As, Db, Tap, Team, assert_invalid, payload, team, usd};

type Sharing = pb::sharing_service_client::SharingServiceClient<Channel>;

fn sharing(user: &As) -> Sharing {
    Sharing::new(user.channel())
}

/// A record named the way the sharing requests name it.
#[derive(Clone)]
enum Rec {
    Account(String),
    Lead(String),
    Opportunity(String),
}

impl Rec {
    fn share_ref(&self) -> pb::share_record_request::Record {
        use pb::share_record_request::Record as R;
        match self.clone() {
            Rec::Account(id) => R::AccountId(id),
            Rec::Lead(id) => R::LeadId(id),
            Rec::Opportunity(id) => R::OpportunityId(id),
        }
    }

    fn list_ref(&self) -> pb::list_record_shares_request::Record {
        use pb::list_record_shares_request::Record as R;
        match self.clone() {
            Rec::Account(id) => R::AccountId(id),
            Rec::Lead(id) => R::LeadId(id),
            Rec::Opportunity(id) => R::OpportunityId(id),
        }
    }

    fn unshare_ref(&self) -> pb::unshare_record_request::Record {
        use pb::unshare_record_request::Record as R;
        match self.clone() {
            Rec::Account(id) => R::AccountId(id),
            Rec::Lead(id) => R::LeadId(id),
            Rec::Opportunity(id) => R::OpportunityId(id),
        }
    }
}

async fn share(
    by: &As,
    record: &Rec,
    with: Uuid,
    access: pb::ShareAccess,
) -> Result<pb::RecordShare, tonic::Status> {
    Ok(sharing(by)
        .share_record(by.req(pb::ShareRecordRequest {
            record: Some(record.share_ref()),
            share: Some(pb::RecordShare {
                user_id: with.to_string(),
                access: access as i32,
                ..Default::default()
            }),
        }))
        .await?
        .into_inner())
}

async fn unshare(by: &As, record: &Rec, with: Uuid) -> Result<(), tonic::Status> {
    sharing(by)
        .unshare_record(by.req(pb::UnshareRecordRequest {
            record: Some(record.unshare_ref()),
            user_id: with.to_string(),
        }))
        .await?;
    Ok(())
}

async fn shares(by: &As, record: &Rec) -> Result<Vec<pb::RecordShare>, tonic::Status> {
    Ok(sharing(by)
        .list_record_shares(by.req(pb::ListRecordSharesRequest {
            record: Some(record.list_ref()),
        }))
        .await?
        .into_inner()
        .shares)
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map_or_else(|s| s.code(), |_| Code::Ok)
}

/// A's records: a lead with a name nobody else has, an account and a deal closing this week.
struct Shared {
    marker: String,
    lead: pb::Lead,
    account: pb::Account,
    deal: pb::Opportunity,
}

impl Shared {
    fn all(&self) -> [Rec; 3] {
        [
            Rec::Lead(self.lead.id.clone()),
            Rec::Account(self.account.id.clone()),
            Rec::Opportunity(self.deal.id.clone()),
        ]
    }
}

async fn records_of(owner: &As) -> Shared {
    let marker = format!("Zephyrine{}", &Uuid::now_v7().simple().to_string()[20..]);
    let lead = owner.create_lead(&marker, "Sharing Co").await;
    let account = owner.create_account(&format!("{marker} Holdings")).await;
    let deal = owner
        .opportunities()
        .create_opportunity(owner.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: format!("{marker} deal"),
                amount: Some(usd(7_000)),
                close_date: Utc::now().date_naive().format("%Y-%m-%d").to_string(),
                ..Default::default()
            }),
        }))
        .await
        .expect("deal created")
        .into_inner();
    Shared {
        marker,
        lead,
        account,
        deal,
    }
}

async fn get_lead(user: &As, id: &str) -> Result<pb::Lead, tonic::Status> {
    Ok(user
        .leads()
        .get_lead(user.req(pb::GetLeadRequest {
            id: id.to_owned(),
            read_mask: Some(prost_types::FieldMask {
                paths: vec!["id".into(), "last_name".into(), "owner_id".into()],
            }),
        }))
        .await?
        .into_inner())
}

async fn gets(user: &As, s: &Shared) -> [Code; 3] {
    [
        code(get_lead(user, &s.lead.id).await),
        code(
            user.accounts()
                .get_account(user.req(pb::GetAccountRequest {
                    id: s.account.id.clone(),
                    read_mask: None,
                }))
                .await,
        ),
        code(
            user.opportunities()
                .get_opportunity(user.req(pb::GetOpportunityRequest {
                    id: s.deal.id.clone(),
                    read_mask: None,
                }))
                .await,
        ),
    ]
}

/// Leads listed with a filter, one per page, following every page token.
async fn listed_leads(user: &As, filter: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut token = String::new();
    loop {
        let page = user
            .leads()
            .list_leads(user.req(pb::ListLeadsRequest {
                page_size: 1,
                page_token: token,
                filter: filter.to_owned(),
                ..Default::default()
            }))
            .await
            .expect("leads listed")
            .into_inner();
        ids.extend(page.leads.into_iter().map(|l| l.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
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

async fn listed_deals(user: &As) -> BTreeSet<String> {
    user.opportunities()
        .list_opportunities(user.req(pb::ListOpportunitiesRequest::default()))
        .await
        .expect("deals listed")
        .into_inner()
        .opportunities
        .into_iter()
        .map(|o| o.id)
        .collect()
}

async fn searched(user: &As, text: &str) -> BTreeSet<String> {
    pb::search_service_client::SearchServiceClient::new(user.channel())
        .search(user.req(pb::SearchRequest {
            query: text.to_owned(),
            ..Default::default()
        }))
        .await
        .expect("searched")
        .into_inner()
        .results
        .into_iter()
        .filter_map(|r| r.record.map(|r| r.id))
        .collect()
}

async fn on_board(user: &As) -> BTreeSet<String> {
    let pipeline = user.default_pipeline().await;
    pb::board_service_client::BoardServiceClient::new(user.channel())
        .get_board(user.req(pb::GetBoardRequest {
            pipeline_id: pipeline.id,
            page_size: 0,
        }))
        .await
        .expect("board")
        .into_inner()
        .columns
        .into_iter()
        .flat_map(|c| c.opportunities.into_iter().map(|o| o.id))
        .collect()
}

/// Deals counted by the forecast of this month (optionally of one owner).
async fn forecast_count(user: &As, owner: Option<Uuid>) -> i64 {
    pb::board_service_client::BoardServiceClient::new(user.channel())
        .get_forecast(user.req(pb::GetForecastRequest {
            period: Utc::now().date_naive().format("%Y-%m").to_string(),
            owner_id: owner.map(|o| o.to_string()).unwrap_or_default(),
            ..Default::default()
        }))
        .await
        .expect("forecast")
        .into_inner()
        .lines
        .iter()
        .filter_map(|l| l.total.as_ref().map(|t| t.count))
        .sum()
}

async fn timeline(user: &As, record_type: pb::RecordType, id: &str) -> Code {
    code(
        pb::history_service_client::HistoryServiceClient::new(user.channel())
            .list_timeline(user.req(pb::ListTimelineRequest {
                record_type: record_type as i32,
                record_id: id.to_owned(),
                ..Default::default()
            }))
            .await,
    )
}

/// The ids (first column) of a CSV export of leads.
async fn exported_leads(user: &As, filter: &str) -> BTreeSet<String> {
    let mut stream =
        pb::import_export_service_client::ImportExportServiceClient::new(user.channel())
            .export_records(user.req(pb::ExportRecordsRequest {
                record_type: pb::RecordType::Lead as i32,
                filter: filter.to_owned(),
                order_by: String::new(),
            }))
            .await
            .expect("export started")
            .into_inner();
    let mut reader = RowReader::default();
    let mut rows = Vec::new();
    while let Some(chunk) = stream.message().await.expect("export chunk") {
        rows.extend(reader.feed(&chunk.data).expect("valid csv"));
    }
    rows.extend(reader.feed(b"").expect("valid csv"));
    rows.into_iter()
        .skip(1)
        .filter_map(|(_, row)| row.into_iter().next())
        .collect()
}

/// (named candidate ids, hidden count) for a new lead with `email`.
async fn duplicates_of(user: &As, email: &str) -> (BTreeSet<String>, i32) {
    let found = pb::duplicate_service_client::DuplicateServiceClient::new(user.channel())
        .find_duplicates(user.req(pb::FindDuplicatesRequest {
            record: Some(pb::find_duplicates_request::Record::Lead(
                pb::CreateLeadRequest {
                    last_name: "Probe".into(),
                    email: email.to_owned(),
                    ..Default::default()
                },
            )),
        }))
        .await
        .expect("duplicates found")
        .into_inner();
    (
        found.candidates.into_iter().map(|c| c.id).collect(),
        found.hidden_count,
    )
}

fn rename_lead(user: &As, id: &str, last_name: &str) -> tonic::Request<pb::UpdateLeadRequest> {
    user.req(pb::UpdateLeadRequest {
        lead: Some(pb::Lead {
            id: id.to_owned(),
            last_name: last_name.to_owned(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["last_name".into()],
        }),
    })
}

/// What B (and B's manager) can read of A's records, on every read path.
async fn assert_reads(t: &Team, s: &Shared, visible: bool) {
    let b = &t.rep;
    let expected = if visible { Code::Ok } else { Code::NotFound };
    assert_eq!(gets(b, s).await, [expected; 3]);
    let filter = format!("last_name = \"{}\"", s.marker);
    let just = |id: &str| -> BTreeSet<String> {
        if visible {
            BTreeSet::from([id.to_owned()])
        } else {
            BTreeSet::new()
        }
    };
    assert_eq!(listed_leads(b, &filter).await, just(&s.lead.id));
    assert_eq!(
        listed_accounts(b).await.contains(&s.account.id),
        visible,
        "accounts list"
    );
    assert_eq!(
        listed_deals(b).await.contains(&s.deal.id),
        visible,
        "deals list"
    );
    let found = searched(b, &s.marker).await;
    assert_eq!(found.contains(&s.lead.id), visible, "search: lead");
    assert_eq!(found.contains(&s.account.id), visible, "search: account");
    assert_eq!(on_board(b).await.contains(&s.deal.id), visible, "board");
    assert_eq!(forecast_count(b, None).await, i64::from(visible));
    assert_eq!(
        forecast_count(b, Some(t.other_rep.user_id)).await,
        i64::from(visible)
    );
    assert_eq!(
        timeline(b, pb::RecordType::Lead, &s.lead.id).await,
        expected
    );
    assert_eq!(
        timeline(b, pb::RecordType::Opportunity, &s.deal.id).await,
        expected
    );
    assert_eq!(exported_leads(b, &filter).await, just(&s.lead.id));
    let (named, hidden) = duplicates_of(b, &s.lead.email).await;
    assert_eq!(named, just(&s.lead.id), "duplicates: named");
    assert_eq!(hidden, i32::from(!visible), "duplicates: hidden");

    // B's manager never reads A's records through B's shares.
    let manager = &t.manager;
    assert_eq!(gets(manager, s).await, [Code::NotFound; 3]);
    assert!(listed_leads(manager, &filter).await.is_empty());
    assert!(searched(manager, &s.marker).await.is_empty());
    assert_eq!(forecast_count(manager, None).await, 0);
}

#[tokio::test]
async fn a_shared_record_is_read_then_edited_but_never_controlled_by_the_other_rep() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (a, b) = (&t.other_rep, &t.rep);
    let s = records_of(a).await;
    // B's own lead is listed alongside, one per page.
    let own = b.create_lead("Own", "B Co").await;
    assert_reads(&t, &s, false).await;

    for record in s.all() {
        let granted = share(a, &record, b.user_id, pb::ShareAccess::Read)
            .await
            .expect("shared");
        assert_eq!(granted.access, pb::ShareAccess::Read as i32);
        assert_eq!(granted.granted_by, a.user_id.to_string());
    }
    assert_reads(&t, &s, true).await;
    let masked = get_lead(b, &s.lead.id).await.expect("read with a mask");
    assert_eq!(
        (masked.last_name.as_str(), masked.email.as_str()),
        (s.marker.as_str(), "")
    );
    assert_eq!(
        listed_leads(b, "").await,
        BTreeSet::from([own.id.clone(), s.lead.id.clone()])
    );
    let listed = shares(b, &Rec::Lead(s.lead.id.clone()))
        .await
        .expect("the sharee reads the shares");
    assert_eq!(
        listed
            .iter()
            .map(|s| (s.user_id.clone(), s.access))
            .collect::<Vec<_>>(),
        [(b.user_id.to_string(), pb::ShareAccess::Read as i32)]
    );
    assert_eq!(
        code(shares(&t.manager, &Rec::Lead(s.lead.id.clone())).await),
        Code::NotFound
    );

    // READ: no change.
    let refused = b
        .leads()
        .update_lead(rename_lead(b, &s.lead.id, "Changed"))
        .await
        .expect_err("read-only");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let pipeline = b.default_pipeline().await;
    let move_deal = |who: &As| {
        who.req(pb::MoveStageRequest {
            id: s.deal.id.clone(),
            stage_id: pipeline.stages[1].id.clone(),
            lost_reason: String::new(),
        })
    };
    assert_eq!(
        code(b.opportunities().move_stage(move_deal(b)).await),
        Code::PermissionDenied
    );

    // EDIT: sharing again changes the access.
    for record in s.all() {
        let upgraded = share(a, &record, b.user_id, pb::ShareAccess::Edit)
            .await
            .expect("upgraded");
        assert_eq!(upgraded.access, pb::ShareAccess::Edit as i32);
    }
    let edited = b
        .leads()
        .update_lead(b.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: s.lead.id.clone(),
                title: "Edited by a colleague".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["title".into()],
            }),
        }))
        .await
        .expect("edits with an EDIT share")
        .into_inner();
    assert_eq!(
        (edited.title.as_str(), edited.owner_id.as_str()),
        ("Edited by a colleague", a.user_id.to_string().as_str())
    );
    let moved = b
        .opportunities()
        .move_stage(move_deal(b))
        .await
        .expect("moves the shared deal")
        .into_inner();
    assert_eq!(moved.stage_id, pipeline.stages[1].id);

    // ...but never deletes, reassigns, converts, merges or shares on.
    let deleted = b
        .leads()
        .delete_lead(b.req(pb::DeleteLeadRequest {
            id: s.lead.id.clone(),
        }))
        .await
        .expect_err("no delete");
    assert_eq!(deleted.code(), Code::PermissionDenied);
    let deleted = b
        .accounts()
        .delete_account(b.req(pb::DeleteAccountRequest {
            id: s.account.id.clone(),
        }))
        .await
        .expect_err("no delete");
    assert_eq!(deleted.code(), Code::PermissionDenied);
    let reassigned = b
        .leads()
        .update_lead(b.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: s.lead.id.clone(),
                owner_id: b.user_id.to_string(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner_id".into()],
            }),
        }))
        .await
        .expect_err("no reassignment");
    assert_invalid(&reassigned, &["lead.owner_id"]);
    let reassigned = b
        .opportunities()
        .update_opportunity(b.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: s.deal.id.clone(),
                owner_id: b.user_id.to_string(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["owner_id".into()],
            }),
        }))
        .await
        .expect_err("no reassignment");
    assert_invalid(&reassigned, &["opportunity.owner_id"]);
    let converted = b
        .leads()
        .convert_lead(b.req(pb::ConvertLeadRequest {
            id: s.lead.id.clone(),
            ..Default::default()
        }))
        .await
        .expect_err("no conversion");
    assert_eq!(converted.code(), Code::PermissionDenied);
    let merged = pb::duplicate_service_client::DuplicateServiceClient::new(b.channel())
        .merge_leads(b.req(pb::MergeLeadsRequest {
            survivor_id: own.id.clone(),
            loser_id: s.lead.id.clone(),
            fields_from_loser: Vec::new(),
        }))
        .await
        .expect_err("no merge");
    assert_invalid(&merged, &["loser_id"]);
    for record in s.all() {
        let on = share(b, &record, t.support.user_id, pb::ShareAccess::Read)
            .await
            .expect_err("no sharing on");
        assert_eq!(on.code(), Code::PermissionDenied, "{on:?}");
        let off = unshare(b, &record, b.user_id)
            .await
            .expect_err("no unsharing either");
        assert_eq!(off.code(), Code::PermissionDenied, "{off:?}");
    }
    // A's records are still A's, alive and unshared with anyone else.
    assert_eq!(gets(a, &s).await, [Code::Ok; 3]);
    assert_eq!(
        shares(a, &Rec::Account(s.account.id.clone()))
            .await
            .expect("listed")
            .len(),
        1
    );

    // Unshared: every read path closes again.
    for record in s.all() {
        unshare(a, &record, b.user_id).await.expect("unshared");
    }
    assert_reads(&t, &s, false).await;
    assert_eq!(
        code(
            b.leads()
                .update_lead(rename_lead(b, &s.lead.id, "Again"))
                .await
        ),
        Code::NotFound
    );
}

#[tokio::test]
async fn the_owners_managers_and_admins_share_and_unshare() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    // The manager shares the report's lead with the other rep; the admin takes it back.
    let lead = t.rep.create_lead("Teamwork", "Co").await;
    let record = Rec::Lead(lead.id.clone());
    share(
        &t.manager,
        &record,
        t.other_rep.user_id,
        pb::ShareAccess::Edit,
    )
    .await
    .expect("the manager shares the report's lead");
    assert_eq!(code(get_lead(&t.other_rep, &lead.id).await), Code::Ok);
    let listed = shares(&t.admin, &record).await.expect("admin lists");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].granted_by, t.manager.user_id.to_string());
    assert_eq!(listed[0].record_type, pb::RecordType::Lead as i32);
    assert_eq!(listed[0].record_id, lead.id);
    unshare(&t.admin, &record, t.other_rep.user_id)
        .await
        .expect("the admin unshares");
    assert_eq!(code(get_lead(&t.other_rep, &lead.id).await), Code::NotFound);
    assert!(shares(&t.rep, &record).await.expect("listed").is_empty());
}

#[tokio::test]
async fn bad_sharing_requests_are_refused_with_the_field_and_write_nothing() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (a, b) = (&t.other_rep, &t.rep);
    let lead = a.create_lead("Guarded", "Co").await;
    let record = Rec::Lead(lead.id.clone());

    let unknown = share(a, &record, Uuid::now_v7(), pb::ShareAccess::Read)
        .await
        .expect_err("unknown user");
    assert_invalid(&unknown, &["share.user_id"]);
    let gone = Uuid::now_v7();
    db.project_user(t.tenant_id, gone, None, auth::BuiltinRole::SalesRep, false)
        .await;
    let deactivated = share(a, &record, gone, pb::ShareAccess::Read)
        .await
        .expect_err("deactivated user");
    assert_invalid(&deactivated, &["share.user_id"]);
    let owner = share(&t.admin, &record, a.user_id, pb::ShareAccess::Read)
        .await
        .expect_err("the owner");
    assert_invalid(&owner, &["share.user_id"]);
    let yourself = share(&t.admin, &record, t.admin.user_id, pb::ShareAccess::Read)
        .await
        .expect_err("yourself");
    assert_invalid(&yourself, &["share.user_id"]);

    let bad_access = sharing(a)
        .share_record(a.req(pb::ShareRecordRequest {
            record: Some(record.share_ref()),
            share: Some(pb::RecordShare {
                user_id: b.user_id.to_string(),
                access: 42,
                ..Default::default()
            }),
        }))
        .await
        .expect_err("unknown access");
    assert_invalid(&bad_access, &["share.access"]);
    let no_access = share(a, &record, b.user_id, pb::ShareAccess::Unspecified)
        .await
        .expect_err("access missing");
    assert_invalid(&no_access, &["share.access"]);
    let bad_id = share(a, &Rec::Lead("x".into()), b.user_id, pb::ShareAccess::Read)
        .await
        .expect_err("malformed id");
    assert_invalid(&bad_id, &["lead_id"]);
    let no_record = sharing(a)
        .share_record(a.req(pb::ShareRecordRequest {
            record: None,
            share: Some(pb::RecordShare {
                user_id: b.user_id.to_string(),
                access: pb::ShareAccess::Read as i32,
                ..Default::default()
            }),
        }))
        .await
        .expect_err("no record");
    assert_invalid(&no_record, &["record"]);

    // Unknown, invisible and other kinds' ids are all simply not found.
    for (by, missing) in [
        (a, Rec::Lead(Uuid::now_v7().to_string())),
        (b, record.clone()),
        (&t.manager, record.clone()),
        (a, Rec::Account(lead.id.clone())),
    ] {
        let status = share(by, &missing, t.support.user_id, pb::ShareAccess::Read)
            .await
            .expect_err("not found");
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    let not_shared = unshare(a, &record, b.user_id)
        .await
        .expect_err("not shared with B");
    assert_eq!(not_shared.code(), Code::NotFound);
    let bad_user = sharing(a)
        .unshare_record(a.req(pb::UnshareRecordRequest {
            record: Some(record.unshare_ref()),
            user_id: "someone".into(),
        }))
        .await
        .expect_err("malformed user id");
    assert_invalid(&bad_user, &["user_id"]);
    // Support may read accounts but not change who sees them.
    let account = a.create_account("Guarded account").await;
    let support = share(
        &t.support,
        &Rec::Account(account.id.clone()),
        b.user_id,
        pb::ShareAccess::Read,
    )
    .await
    .expect_err("support does not share");
    assert_eq!(support.code(), Code::PermissionDenied);

    assert_eq!(
        db.count(
            "SELECT count(*) FROM record_shares WHERE tenant_id = $1",
            t.tenant_id
        )
        .await,
        0
    );
    assert!(
        !db.outbox_types(t.tenant_id)
            .await
            .iter()
            .any(|e| e.starts_with("crm.record."))
    );
}

#[tokio::test]
async fn deleted_and_merged_records_take_their_shares_out_of_reach() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let (a, b) = (&t.other_rep, &t.rep);
    let doomed = a.create_lead("Doomed", "Co").await;
    let survivor = a.create_lead("Survivor", "Co").await;
    let loser = a.create_lead("Loser", "Co").await;
    for lead in [&doomed, &survivor, &loser] {
        share(
            a,
            &Rec::Lead(lead.id.clone()),
            b.user_id,
            pb::ShareAccess::Edit,
        )
        .await
        .expect("shared");
    }
    a.leads()
        .delete_lead(a.req(pb::DeleteLeadRequest {
            id: doomed.id.clone(),
        }))
        .await
        .expect("the owner deletes");
    pb::duplicate_service_client::DuplicateServiceClient::new(a.channel())
        .merge_leads(a.req(pb::MergeLeadsRequest {
            survivor_id: survivor.id.clone(),
            loser_id: loser.id.clone(),
            fields_from_loser: Vec::new(),
        }))
        .await
        .expect("the owner merges");

    for gone in [&doomed, &loser] {
        assert_eq!(code(get_lead(b, &gone.id).await), Code::NotFound);
        let record = Rec::Lead(gone.id.clone());
        assert_eq!(code(shares(b, &record).await), Code::NotFound);
        assert_eq!(
            code(share(a, &record, t.manager.user_id, pb::ShareAccess::Read).await),
            Code::NotFound
        );
    }
    assert_eq!(
        listed_leads(b, "").await,
        BTreeSet::from([survivor.id.clone()])
    );
    assert_eq!(code(get_lead(b, &survivor.id).await), Code::Ok);
}

#[tokio::test]
async fn sharing_changes_are_published() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let tap = Tap::bind(&["crm.record.*"]).await;
    let (a, b) = (&t.other_rep, &t.rep);
    let deal = a.create_opportunity("Published").await;
    let record = Rec::Opportunity(deal.id.clone());
    share(a, &record, b.user_id, pb::ShareAccess::Read)
        .await
        .expect("shared");
    // The same access again changes nothing and announces nothing.
    share(a, &record, b.user_id, pb::ShareAccess::Read)
        .await
        .expect("shared again");
    share(a, &record, b.user_id, pb::ShareAccess::Edit)
        .await
        .expect("upgraded");
    unshare(a, &record, b.user_id).await.expect("unshared");

    let received = tap.wait_for(t.tenant_id, 3).await;
    let types: Vec<&str> = received.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "crm.record.shared",
            "crm.record.shared",
            "crm.record.unshared"
        ]
    );
    assert!(received.iter().all(|e| e.aggregate_id == deal.id));
    let first: pb::RecordShared = payload(&received[0]);
    assert_eq!(
        first,
        pb::RecordShared {
            record_type: pb::RecordType::Opportunity as i32,
            record_id: deal.id.clone(),
            user_id: b.user_id.to_string(),
            access: pb::ShareAccess::Read as i32,
            actor_id: a.user_id.to_string(),
        }
    );
    let upgrade: pb::RecordShared = payload(&received[1]);
    assert_eq!(upgrade.access, pb::ShareAccess::Edit as i32);
    let revoked: pb::RecordUnshared = payload(&received[2]);
    assert_eq!(
        (revoked.user_id, revoked.access, revoked.actor_id),
        (
            b.user_id.to_string(),
            pb::ShareAccess::Edit as i32,
            a.user_id.to_string()
        )
    );
    // Nothing else trails behind.
    assert_eq!(
        db.outbox_types(t.tenant_id)
            .await
            .iter()
            .filter(|e| e.starts_with("crm.record."))
            .count(),
        3
    );
    tap.close().await;
}
