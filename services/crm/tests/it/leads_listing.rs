//! Leads: CRUD, AIP-160 filters with error positions, order_by and keyset page tokens.

use std::collections::HashSet;

use proto::crm as pb;
use tonic::Code;

use crate::helpers::{As, Db, assert_invalid, team, violation_description};

async fn list(
    user: &As,
    filter: &str,
    order_by: &str,
    page_size: i32,
    token: &str,
) -> Result<pb::ListLeadsResponse, tonic::Status> {
    user.leads()
        .list_leads(user.req(pb::ListLeadsRequest {
            page_size,
            page_token: token.to_owned(),
            filter: filter.to_owned(),
            order_by: order_by.to_owned(),
            read_mask: None,
        }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_lead_is_created_updated_and_deleted() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let mut leads = rep.leads();

    let lead = leads
        .create_lead(rep.req(pb::CreateLeadRequest {
            first_name: "Grace".into(),
            last_name: "Hopper".into(),
            email: "Grace@Navy.test".into(),
            phone: "+1 202 555 0199".into(),
            company: "US Navy".into(),
            country_code: "us".into(),
            employee_count: 5000,
            rating: pb::LeadRating::Warm as i32,
            ..Default::default()
        }))
        .await
        .expect("created")
        .into_inner();
    assert_eq!(lead.status, pb::LeadStatus::New as i32);
    assert_eq!(lead.email, "grace@navy.test");
    assert_eq!(lead.phone, "+12025550199");
    assert_eq!(lead.country_code, "US");
    assert_eq!(lead.owner_id, rep.user_id.to_string());

    let updated = leads
        .update_lead(rep.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                status: pb::LeadStatus::Qualified as i32,
                score: 87,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into(), "score".into()],
            }),
        }))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.status, pb::LeadStatus::Qualified as i32);
    assert_eq!(updated.score, 87);
    assert_eq!(updated.company, "US Navy");

    let status = leads
        .update_lead(rep.req(pb::UpdateLeadRequest {
            lead: Some(pb::Lead {
                id: lead.id.clone(),
                score: 101,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["score".into()],
            }),
        }))
        .await
        .expect_err("score out of range");
    assert_invalid(&status, &["lead.score"]);

    leads
        .delete_lead(rep.req(pb::DeleteLeadRequest {
            id: lead.id.clone(),
        }))
        .await
        .expect("deleted");
    let status = leads
        .get_lead(rep.req(pb::GetLeadRequest {
            id: lead.id,
            read_mask: None,
        }))
        .await
        .expect_err("gone");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        db.outbox_types(team.tenant_id).await,
        ["crm.lead.created", "crm.lead.updated", "crm.lead.deleted"]
    );
}

#[tokio::test]
async fn filters_combine_comparisons_with_and_or_not_and_parentheses() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    let mut leads = rep.leads();
    for (last_name, company, source, score) in [
        ("Alpha", "Acme", "web", 10),
        ("Bravo", "Acme Robotics", "event", 60),
        ("Charlie", "Globex", "web", 80),
        ("Delta", "Initech", "referral", 95),
    ] {
        let lead = rep.create_lead(last_name, company).await;
        leads
            .update_lead(rep.req(pb::UpdateLeadRequest {
                lead: Some(pb::Lead {
                    id: lead.id,
                    source: source.into(),
                    score,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["source".into(), "score".into()],
                }),
            }))
            .await
            .expect("updated");
    }
    let names = |response: pb::ListLeadsResponse| -> Vec<String> {
        response.leads.into_iter().map(|l| l.last_name).collect()
    };
    let cases = [
        (r#"company : "acme""#, vec!["Alpha", "Bravo"]),
        ("source = web AND score >= 50", vec!["Charlie"]),
        (
            r#"status = LEAD_STATUS_NEW AND (source = "web" OR score >= 90)"#,
            vec!["Alpha", "Charlie", "Delta"],
        ),
        ("NOT source = web", vec!["Bravo", "Delta"]),
        ("-company:acme AND score < 90", vec!["Charlie"]),
        ("score != 60 AND score <= 80", vec!["Alpha", "Charlie"]),
        (
            &format!(r#"owner_id = {} AND last_name > "B""#, rep.user_id),
            vec!["Bravo", "Charlie", "Delta"],
        ),
        (
            r#"create_time > "2000-01-01T00:00:00Z""#,
            vec!["Alpha", "Bravo", "Charlie", "Delta"],
        ),
    ];
    for (filter, expected) in cases {
        let found = names(list(rep, filter, "last_name", 0, "").await.expect(filter));
        assert_eq!(found, expected, "{filter}");
    }
    let by_score = names(list(rep, "", "score desc", 0, "").await.expect("ordered"));
    assert_eq!(by_score, ["Delta", "Charlie", "Bravo", "Alpha"]);
}

#[tokio::test]
async fn bad_filters_and_orders_are_invalid_with_the_error_position() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;

    for (filter, position, hint) in [
        ("shoe_size = 9", 0, "unknown field \"shoe_size\""),
        (
            "score >= 5 AND colour = red",
            15,
            "unknown field \"colour\"",
        ),
        ("score = high", 8, "score takes an integer"),
        ("status = LEAD_STATUS_HAPPY", 9, "status takes one of"),
        ("score : 5", 6, "does not apply"),
        ("(score = 5", 10, "expected ')'"),
        ("score = 5 source = web", 10, "expected AND, OR"),
        ("score =", 7, "expected a value"),
        (r#"company = "Acme"#, 10, "unterminated string"),
        ("create_time > 2026-01-01", 14, "RFC 3339"),
    ] {
        let status = list(rep, filter, "", 0, "").await.expect_err(filter);
        assert_invalid(&status, &["filter"]);
        let description = violation_description(&status);
        assert!(
            description.starts_with(&format!("at position {position}:")),
            "{filter}: {description}"
        );
        assert!(description.contains(hint), "{filter}: {description}");
    }

    let status = list(rep, "", "salary desc", 0, "")
        .await
        .expect_err("unknown order");
    assert_invalid(&status, &["order_by"]);
    let status = list(rep, "", "", 5000, "")
        .await
        .expect_err("page too large");
    assert_invalid(&status, &["page_size"]);
}

#[tokio::test]
async fn tampered_and_foreign_page_tokens_are_refused() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    for i in 0..3 {
        rep.create_lead(&format!("Lead{i}"), "Acme").await;
    }
    let first = list(rep, "company = Acme", "last_name", 2, "")
        .await
        .expect("first page");
    let token = first.next_page_token;
    assert!(!token.is_empty());

    // Same query: continues.
    let second = list(rep, "company = Acme", "last_name", 2, &token)
        .await
        .expect("next page");
    assert_eq!(second.leads.len(), 1);
    assert!(second.next_page_token.is_empty());

    // Another filter or order: refused, not silently mis-paged.
    for (filter, order) in [
        ("company = Globex", "last_name"),
        ("company = Acme", "last_name desc"),
    ] {
        let status = list(rep, filter, order, 2, &token)
            .await
            .expect_err("other query");
        assert_invalid(&status, &["page_token"]);
    }

    // Any altered character: refused.
    let mut bytes = token.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("ascii");
    let status = list(rep, "company = Acme", "last_name", 2, &tampered)
        .await
        .expect_err("tampered");
    assert_invalid(&status, &["page_token"]);
    let status = list(rep, "company = Acme", "last_name", 2, "not a token!")
        .await
        .expect_err("garbage");
    assert_invalid(&status, &["page_token"]);
}

#[tokio::test]
async fn deep_keyset_paging_returns_every_row_once_in_order() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    let team = team(&crm, &db).await;
    let rep = &team.rep;
    // Seed directly: 230 leads whose company repeats, so the id tiebreaker matters, plus rows
    // another owner holds and deleted rows that must never show up.
    sqlx::query(
        "INSERT INTO leads (id, tenant_id, last_name, company, status, rating, score, owner_id,
                            created_at, updated_at, deleted_at)
         SELECT gen_random_uuid(), $1, 'L' || g, 'Company ' || (g % 17), 'LEAD_STATUS_NEW',
                'LEAD_RATING_UNSPECIFIED', g % 101,
                CASE WHEN g % 10 = 0 THEN $3 ELSE $2 END,
                now() - make_interval(secs => g), now(),
                CASE WHEN g % 11 = 0 THEN now() END
         FROM generate_series(1, 300) AS g",
    )
    .bind(team.tenant_id)
    .bind(rep.user_id)
    .bind(team.other_rep.user_id)
    .execute(&db.pool)
    .await
    .expect("seeded");

    let expected: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM leads
         WHERE tenant_id = $1 AND owner_id = $2 AND deleted_at IS NULL AND score >= 20
         ORDER BY company DESC, id DESC",
    )
    .bind(team.tenant_id)
    .bind(rep.user_id)
    .fetch_all(&db.pool)
    .await
    .expect("expected order");
    assert!(expected.len() > 150, "enough rows to page deeply");

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(rep, "score >= 20", "company desc", 7, &token)
            .await
            .expect("page");
        pages += 1;
        assert!(page.leads.len() <= 7);
        seen.extend(page.leads.into_iter().map(|l| l.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(pages < 100, "paging must end");
    }
    assert_eq!(seen, expected);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no row served twice");

    // A row inserted before the cursor does not shift later pages (keyset, not OFFSET).
    let first = list(rep, "score >= 20", "company desc", 7, "")
        .await
        .expect("first");
    sqlx::query(
        "INSERT INTO leads (id, tenant_id, last_name, company, status, rating, score, owner_id,
                            created_at, updated_at)
         VALUES (gen_random_uuid(), $1, 'Zulu', 'Company 99', 'LEAD_STATUS_NEW',
                 'LEAD_RATING_UNSPECIFIED', 50, $2, now(), now())",
    )
    .bind(team.tenant_id)
    .bind(rep.user_id)
    .execute(&db.pool)
    .await
    .expect("inserted");
    let second = list(
        rep,
        "score >= 20",
        "company desc",
        7,
        &first.next_page_token,
    )
    .await
    .expect("second");
    assert_eq!(second.leads[0].id, expected[7]);
}
