//! Search: ranking, the fuzzy fallback for misspelt names, paging, visibility and bad input.

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, assert_invalid, team};

fn search_client(
    user: &As,
) -> pb::search_service_client::SearchServiceClient<tonic::transport::Channel> {
    pb::search_service_client::SearchServiceClient::new(user.channel())
}

async fn search(user: &As, query: &str, types: &[pb::RecordType]) -> pb::SearchResponse {
    try_search(user, query, types, 0, "")
        .await
        .expect("search answered")
}

async fn try_search(
    user: &As,
    query: &str,
    types: &[pb::RecordType],
    page_size: i32,
    page_token: &str,
) -> Result<pb::SearchResponse, tonic::Status> {
    Ok(search_client(user)
        .search(user.req(pb::SearchRequest {
            query: query.to_owned(),
            types: types.iter().map(|t| i32::from(*t)).collect(),
            page_size,
            page_token: page_token.to_owned(),
        }))
        .await?
        .into_inner())
}

fn ids(response: &pb::SearchResponse) -> Vec<String> {
    response
        .results
        .iter()
        .map(|r| r.record.as_ref().map(|r| r.id.clone()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn exact_matches_rank_first_and_typos_still_find_names() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;

    let name_match = t.admin.create_account("Umbrella Holdings").await;
    let weaker = t
        .admin
        .accounts()
        .create_account(t.admin.req(pb::CreateAccountRequest {
            force: false,
            account: Some(pb::Account {
                name: "Initech".to_owned(),
                industry: "umbrella manufacturing".to_owned(),
                ..Default::default()
            }),
        }))
        .await
        .expect("account created")
        .into_inner();
    let contact = t
        .admin
        .contacts()
        .create_contact(t.admin.req(pb::CreateContactRequest {
            force: false,
            contact: Some(pb::Contact {
                first_name: "Jonathan".to_owned(),
                last_name: "Whitfield".to_owned(),
                ..Default::default()
            }),
        }))
        .await
        .expect("contact created")
        .into_inner();
    let lead = t.admin.create_lead("Kowalczyk", "Globex Industries").await;
    let opportunity = t.admin.create_opportunity("Umbrella renewal").await;
    t.admin.create_account("Unrelated Ltd").await;

    let found = search(&t.admin, "umbrella", &[]).await;
    let found_ids = ids(&found);
    assert_eq!(found_ids.len(), 3, "{found:?}");
    // Title (weight A) matches outrank a match in the industry (weight B).
    let pos = |id: &str| found_ids.iter().position(|f| f == id).expect("found");
    assert!(pos(&weaker.id) > pos(&name_match.id), "{found:?}");
    assert!(pos(&weaker.id) > pos(&opportunity.id), "{found:?}");
    let top = &found.results[0];
    assert!(top.snippet.contains("<b>Umbrella</b>"), "{top:?}");
    let types: Vec<i32> = found
        .results
        .iter()
        .filter_map(|r| r.record.as_ref().map(|r| r.r#type))
        .collect();
    assert!(types.contains(&i32::from(pb::RecordType::Opportunity)));

    // Misspelt names match no word exactly; the trigram fallback finds them.
    let typo = search(&t.admin, "Jonathon Whitfeld", &[]).await;
    assert_eq!(ids(&typo), [contact.id.as_str()], "{typo:?}");
    assert_eq!(typo.results[0].title, "Jonathan Whitfield");
    let company_typo = search(&t.admin, "Globx", &[]).await;
    assert_eq!(ids(&company_typo), [lead.id.as_str()], "{company_typo:?}");

    // Exact matches come before fuzzy ones.
    let mixed_account = t.admin.create_account("Globx").await;
    let mixed = search(&t.admin, "Globx", &[]).await;
    assert_eq!(
        ids(&mixed),
        [mixed_account.id.as_str(), lead.id.as_str()],
        "{mixed:?}"
    );

    // Types narrow the search.
    let only_leads = search(&t.admin, "umbrella", &[pb::RecordType::Lead]).await;
    assert!(only_leads.results.is_empty(), "{only_leads:?}");
}

#[tokio::test]
async fn results_page_and_tokens_belong_to_their_query() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    for i in 0..5 {
        t.admin.create_account(&format!("Vandelay {i}")).await;
    }
    let first = try_search(&t.admin, "vandelay", &[], 2, "")
        .await
        .expect("first page");
    assert_eq!(first.results.len(), 2);
    let mut seen = ids(&first);
    let mut token = first.next_page_token.clone();
    while !token.is_empty() {
        let page = try_search(&t.admin, "vandelay", &[], 2, &token)
            .await
            .expect("next page");
        seen.extend(ids(&page));
        token = page.next_page_token;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    let other = try_search(&t.admin, "kramerica", &[], 2, &first.next_page_token)
        .await
        .expect_err("token of another query");
    assert_invalid(&other, &["page_token"]);
}

#[tokio::test]
async fn search_shows_only_what_the_viewer_may_read() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let mine = t.rep.create_lead("Zabriskie", "Pendant Publishing").await;
    let theirs = t
        .other_rep
        .create_lead("Zabriskie", "Pendant Publishing")
        .await;
    let their_account = t.other_rep.create_account("Zabriskie Point").await;

    let rep_sees = ids(&search(&t.rep, "zabriskie", &[]).await);
    assert_eq!(rep_sees, [mine.id.as_str()]);
    let fuzzy = ids(&search(&t.rep, "Zabrisky", &[]).await);
    assert_eq!(fuzzy, [mine.id.as_str()], "fuzzy matches are scoped too");

    let mut manager_sees = ids(&search(&t.manager, "zabriskie", &[]).await);
    manager_sees.sort();
    assert_eq!(
        manager_sees,
        [mine.id.as_str()],
        "the other rep is not in the team"
    );

    let mut admin_sees = ids(&search(&t.admin, "zabriskie", &[]).await);
    admin_sees.sort();
    let mut all = vec![mine.id, theirs.id, their_account.id.clone()];
    all.sort();
    assert_eq!(admin_sees, all);

    // Support reads every account but no leads, and may not ask for them.
    assert_eq!(
        ids(&search(&t.support, "zabriskie", &[]).await),
        [their_account.id]
    );
    let denied = try_search(&t.support, "zabriskie", &[pb::RecordType::Lead], 0, "")
        .await
        .expect_err("support reads no leads");
    assert_eq!(denied.code(), Code::PermissionDenied);

    // Another tenant sees nothing.
    let stranger = team(&crm, &db).await;
    assert!(
        search(&stranger.admin, "zabriskie", &[])
            .await
            .results
            .is_empty()
    );
}

#[tokio::test]
async fn an_empty_query_is_a_field_violation() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let t = team(&crm, &db).await;
    let status = try_search(&t.admin, "   ", &[], 0, "")
        .await
        .expect_err("empty query");
    assert_invalid(&status, &["query"]);
    let status = try_search(&t.admin, "acme", &[], 1_000, "")
        .await
        .expect_err("page too large");
    assert_invalid(&status, &["page_size"]);
}
