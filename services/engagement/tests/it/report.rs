//! The disengaged accounts report: disengaged or untouched accounts ranked by open pipeline,
//! with the CRM's visibility.

use chrono::Utc;
use proto::engagement as pb;
use uuid::Uuid;

use crate::helpers::{As, Db, bad_fields, team};

async fn report(
    user: &As,
    owner: Option<Uuid>,
    page_size: i32,
    token: &str,
) -> pb::ListDisengagedAccountsResponse {
    user.api()
        .list_disengaged_accounts(user.req(pb::ListDisengagedAccountsRequest {
            page_size,
            page_token: token.to_owned(),
            owner_id: owner.map(|o| o.to_string()).unwrap_or_default(),
            inactive_days: 0,
        }))
        .await
        .expect("report")
        .into_inner()
}

fn ids(answer: &pb::ListDisengagedAccountsResponse) -> Vec<String> {
    answer
        .accounts
        .iter()
        .map(|a| a.account_id.clone())
        .collect()
}

#[tokio::test]
async fn disengaged_accounts_rank_by_open_pipeline_within_what_the_caller_sees() {
    let service = engagement::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let t = team.tenant_id;
    let big = db
        .project_record(t, "account", team.rep.user_id, None)
        .await;
    let small = db
        .project_record(t, "account", team.rep.user_id, None)
        .await;
    let others = db
        .project_record(t, "account", team.other_rep.user_id, None)
        .await;
    let engaged = db
        .project_record(t, "account", team.rep.user_id, None)
        .await;
    db.project_deal(t, big, 5_000, true).await;
    db.project_deal(t, small, 100, true).await;
    // Won deals are no pipeline at risk.
    db.project_deal(t, small, 9_999, false).await;
    db.project_deal(t, others, 7_000, true).await;
    db.project_deal(t, engaged, 50_000, true).await;
    let touch = |id: &str, kind: pb::EngagementKind| pb::EngagementEvent {
        request_id: id.to_owned(),
        kind: kind as i32,
        account_id: engaged.to_string(),
        occur_time: Some(crate::helpers::ts(Utc::now())),
        ..Default::default()
    };
    team.rep
        .record(vec![
            touch("m", pb::EngagementKind::Meeting),
            touch("r", pb::EngagementKind::EmailReplied),
        ])
        .await
        .expect("recorded");

    let rep = report(&team.rep, None, 0, "").await;
    assert_eq!(ids(&rep), [big.to_string(), small.to_string()]);
    let money = rep.accounts[0].open_pipeline.clone().expect("pipeline");
    assert_eq!(
        (money.currency_code.as_str(), money.units, money.nanos),
        ("USD", 5_000, 0)
    );
    assert_eq!(ids(&report(&team.manager, None, 0, "").await), ids(&rep));

    // The admin sees every account, one page at a time.
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = report(&team.admin, None, 1, &token).await;
        seen.extend(ids(&page));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        [others.to_string(), big.to_string(), small.to_string()]
    );
    let filtered = report(&team.admin, Some(team.rep.user_id), 0, "").await;
    assert_eq!(ids(&filtered), ids(&rep));

    let refused = team
        .admin
        .api()
        .list_disengaged_accounts(team.admin.req(pb::ListDisengagedAccountsRequest {
            inactive_days: -1,
            ..Default::default()
        }))
        .await
        .expect_err("refused");
    assert_eq!(bad_fields(&refused), ["inactive_days"]);
}
