//! Browsing and managing: statements and quotas scoped to what each role sees and paged, lines
//! page by page, quotas uploaded as CSV with a report per row, and the estimator on an open deal
//! the CRM announced.

use auth::BuiltinRole;
use proto::commissions as pb;
use proto::crm as crm_pb;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{
    As, DEADLINE, Db, assert_invalid, create_plan, day, declare_consumer_queue, flat_plan,
    lines_until, publish, team, won,
};

async fn statements(
    who: &As,
    request: pb::ListStatementsRequest,
) -> Result<pb::ListStatementsResponse, tonic::Status> {
    Ok(who
        .commissions()
        .list_statements(who.req(request))
        .await?
        .into_inner())
}

/// (participant, period start) of each statement.
fn keys(listed: &pb::ListStatementsResponse) -> Vec<(String, String)> {
    listed
        .statements
        .iter()
        .map(|s| (s.participant_id.clone(), s.period_start.clone()))
        .collect()
}

#[tokio::test]
async fn statements_are_scoped_to_the_viewer_newest_first_and_lines_page_on() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (rep, other) = (team.rep.user_id, team.other_rep.user_id);
    create_plan(&team.admin, "Flat 5%", flat_plan(&[rep, other], 50_000)).await;
    let win = |user, units, on| {
        won(
            team.tenant_id,
            Uuid::now_v7(),
            units,
            &[(user, 100)],
            day(on),
        )
    };
    let wins = [
        win(rep, 10_000, "2026-05-12"),
        win(rep, 20_000, "2026-05-13"),
        win(rep, 30_000, "2026-05-14"),
        win(rep, 5_000, "2026-02-10"),
        win(other, 7_000, "2026-05-15"),
    ];
    publish(&service, &wins.iter().collect::<Vec<_>>()).await;
    lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 3).await;
    lines_until(&team.rep, rep, "2026-01-01", |l| l.len() == 1).await;
    lines_until(&team.admin, other, "2026-04-01", |l| l.len() == 1).await;

    let (q2, q1) = ("2026-04-01".to_owned(), "2026-01-01".to_owned());
    // A rep sees their own, newest first.
    let own = statements(&team.rep, pb::ListStatementsRequest::default())
        .await
        .expect("own");
    assert_eq!(
        keys(&own),
        [(rep.to_string(), q2.clone()), (rep.to_string(), q1.clone())]
    );
    assert_eq!(own.statements[0].earned_minor, 300_000);
    assert!(own.statements[0].lines.is_empty());
    // The manager sees the report's, not the rep outside the team.
    let managed = statements(&team.manager, pb::ListStatementsRequest::default())
        .await
        .expect("team");
    assert_eq!(keys(&managed), keys(&own));
    let hidden = statements(
        &team.rep,
        pb::ListStatementsRequest {
            participant_id: other.to_string(),
            ..Default::default()
        },
    )
    .await
    .expect_err("not theirs");
    assert_eq!(hidden.code(), Code::NotFound);

    // An admin sees all, page by page, in the same order whatever the page size.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = statements(
            &team.admin,
            pb::ListStatementsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("admin page");
        assert!(page.statements.len() <= 2);
        seen.extend(keys(&page));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut q2_people = [rep.to_string(), other.to_string()];
    q2_people.sort();
    assert_eq!(
        seen,
        [
            (q2_people[0].clone(), q2.clone()),
            (q2_people[1].clone(), q2.clone()),
            (rep.to_string(), q1.clone()),
        ]
    );
    // By period.
    let april = statements(
        &team.admin,
        pb::ListStatementsRequest {
            period: pb::PeriodKind::Quarter as i32,
            period_start: q2.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("one period");
    assert_eq!(april.statements.len(), 2);
    let bad = statements(
        &team.admin,
        pb::ListStatementsRequest {
            period_start: q2.clone(),
            page_size: -1,
            ..Default::default()
        },
    )
    .await
    .expect_err("bad");
    assert_invalid(&bad, &["period"]);

    // Lines page on in recording order.
    let mut amounts = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = team
            .rep
            .commissions()
            .list_lines(team.rep.req(pb::ListLinesRequest {
                period: pb::PeriodKind::Quarter as i32,
                period_start: q2.clone(),
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            }))
            .await
            .expect("lines page")
            .into_inner();
        pages += 1;
        amounts.extend(page.lines.iter().map(|l| l.amount_minor));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    // The pages together are the whole list, in its order (the wins may be applied in any
    // order: they are different deals).
    let whole: Vec<i64> = team
        .rep
        .lines(rep, &q2)
        .await
        .expect("all lines")
        .iter()
        .map(|l| l.amount_minor)
        .collect();
    assert_eq!((pages, &amounts), (2, &whole));
    amounts.sort_unstable();
    assert_eq!(amounts, [50_000, 100_000, 150_000]);
}

fn csv(rows: &[String]) -> String {
    let mut text = "user_id,period,period_start,currency_code,amount_minor\n".to_owned();
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    text
}

async fn upload(who: &As, csv: String, all_or_nothing: bool) -> pb::UploadQuotasResponse {
    who.commissions()
        .upload_quotas(who.req(pb::UploadQuotasRequest {
            csv,
            all_or_nothing,
        }))
        .await
        .expect("uploaded")
        .into_inner()
}

async fn quotas(who: &As, user: Option<Uuid>) -> Vec<(String, String, i64)> {
    who.commissions()
        .list_quotas(who.req(pb::ListQuotasRequest {
            user_id: user.map(|u| u.to_string()).unwrap_or_default(),
            ..Default::default()
        }))
        .await
        .expect("quotas")
        .into_inner()
        .quotas
        .into_iter()
        .map(|q| (q.user_id, q.period_start, q.amount_minor))
        .collect()
}

fn quota_key(user: Uuid, start: &str) -> pb::GetQuotaRequest {
    pb::GetQuotaRequest {
        user_id: user.to_string(),
        period: pb::PeriodKind::Quarter as i32,
        period_start: start.to_owned(),
    }
}

#[tokio::test]
async fn a_quota_csv_writes_the_good_rows_and_names_the_column_of_each_bad_one() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    let team = team(&service, &db).await;
    let (rep, other) = (team.rep.user_id, team.other_rep.user_id);
    let stranger = Uuid::now_v7();
    let report = upload(
        &team.admin,
        csv(&[
            format!("{rep},quarter,2026-04-01,USD,10000000"),
            format!("{stranger},quarter,2026-04-01,USD,5000000"),
            format!("{other},quarter,2026-04-15,USD,5000000"),
            format!("{other},month,2026-04-01,USD,2000000"),
        ]),
        false,
    )
    .await;
    assert_eq!(
        (
            report.created_count,
            report.updated_count,
            report.failed_count
        ),
        (2, 0, 2)
    );
    let outcome: Vec<(i32, i32, Vec<&str>)> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.row,
                r.result,
                r.errors.iter().map(|e| e.column.as_str()).collect(),
            )
        })
        .collect();
    let (created, failed) = (
        pb::QuotaRowResult::Created as i32,
        pb::QuotaRowResult::Failed as i32,
    );
    assert_eq!(
        outcome,
        [
            (2, created, vec![]),
            (3, failed, vec!["user_id"]),
            (4, failed, vec!["period_start"]),
            (5, created, vec![]),
        ]
    );
    assert_eq!(report.rows[1].user_id, stranger.to_string());
    assert_eq!(
        report.rows[1].errors[0].description,
        "no such user in this tenant"
    );
    // Nothing of the unknown user was written.
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM quotas WHERE user_id = $1")
        .bind(stranger)
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(stored, 0);
    assert_eq!(
        quotas(&team.admin, None).await,
        quotas_sorted(&[(other, 2_000_000), (rep, 10_000_000)])
    );

    // All or nothing: a bad row leaves the good one unwritten.
    let report = upload(
        &team.admin,
        csv(&[
            format!("{rep},quarter,2026-04-01,USD,12000000"),
            format!("{rep},quarter,2026-04-01,EUR,1"),
        ]),
        true,
    )
    .await;
    let results: Vec<i32> = report.rows.iter().map(|r| r.result).collect();
    assert_eq!(
        results,
        [
            pb::QuotaRowResult::Skipped as i32,
            pb::QuotaRowResult::Failed as i32
        ]
    );
    assert_eq!(report.rows[1].errors[0].column, "user_id");
    let kept = team
        .rep
        .commissions()
        .get_quota(team.rep.req(quota_key(rep, "2026-04-01")))
        .await
        .expect("own quota")
        .into_inner();
    assert_eq!(kept.amount_minor, 10_000_000);
    // Row by row, the same good row replaces the quota.
    let report = upload(
        &team.admin,
        csv(&[format!("{rep},QUARTER,2026-04-01,USD,12000000")]),
        false,
    )
    .await;
    assert_eq!(report.updated_count, 1);

    // Visibility: the rep sees only their own; another rep's is not found.
    assert_eq!(quotas(&team.rep, None).await.len(), 1);
    let hidden = team
        .other_rep
        .commissions()
        .get_quota(team.other_rep.req(quota_key(rep, "2026-04-01")))
        .await
        .expect_err("not theirs");
    assert_eq!(hidden.code(), Code::NotFound);

    // Deleting is admin work; a deleted quota is gone.
    let delete = |who: &As| {
        who.req(pb::DeleteQuotaRequest {
            user_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
        })
    };
    let denied = team
        .manager
        .commissions()
        .delete_quota(delete(&team.manager))
        .await
        .expect_err("admins only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    team.admin
        .commissions()
        .delete_quota(delete(&team.admin))
        .await
        .expect("deleted");
    let gone = team
        .admin
        .commissions()
        .delete_quota(delete(&team.admin))
        .await
        .expect_err("already gone");
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(db.audit_count(team.tenant_id, "quota.deleted").await, 1);

    let unreadable = team
        .admin
        .commissions()
        .upload_quotas(team.admin.req(pb::UploadQuotasRequest {
            csv: "user,amount\n1,2\n".into(),
            all_or_nothing: false,
        }))
        .await
        .expect_err("no such columns");
    assert_invalid(&unreadable, &["csv"]);
}

fn quotas_sorted(expected: &[(Uuid, i64)]) -> Vec<(String, String, i64)> {
    let mut rows: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(user, amount)| (user.to_string(), "2026-04-01".to_owned(), *amount))
        .collect();
    rows.sort();
    rows
}

/// `crm.opportunity.created` of an open deal.
fn opportunity_created(
    tenant_id: Uuid,
    deal_id: Uuid,
    units: i64,
    splits: &[(Uuid, i32)],
) -> proto::events::Envelope {
    let payload = crm_pb::RecordChanged {
        record_type: crm_pb::RecordType::Opportunity as i32,
        record: Some(crm_pb::record_changed::Record::Opportunity(
            crm_pb::Opportunity {
                id: deal_id.to_string(),
                owner_id: splits[0].0.to_string(),
                amount: Some(proto::google::r#type::Money {
                    currency_code: "USD".into(),
                    units,
                    nanos: 0,
                }),
                splits: splits
                    .iter()
                    .map(|(user, percent)| crm_pb::CreditSplit {
                        user_id: user.to_string(),
                        percent: *percent,
                    })
                    .collect(),
                state: "open".into(),
                ..Default::default()
            },
        )),
        changed_fields: vec![],
        actor_id: splits[0].0.to_string(),
    };
    events::NewEvent::new(
        "crm.opportunity.created",
        tenant_id,
        "opportunity",
        deal_id,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

#[tokio::test]
async fn the_estimator_rates_an_open_deal_on_top_of_the_period_and_writes_nothing() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let (rep, other) = (team.rep.user_id, team.other_rep.user_id);
    create_plan(&team.admin, "Flat 5%", flat_plan(&[rep], 50_000)).await;
    team.admin
        .commissions()
        .set_quota(team.admin.req(pb::SetQuotaRequest {
            quota: Some(pb::Quota {
                user_id: rep.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: "2026-04-01".into(),
                currency_code: "USD".into(),
                amount_minor: 10_000_000,
                fiscal_year_start_month: 0,
            }),
        }))
        .await
        .expect("quota");
    let deal = Uuid::now_v7();
    publish(
        &service,
        &[
            &won(
                team.tenant_id,
                Uuid::now_v7(),
                60_000,
                &[(rep, 100)],
                day("2026-05-12"),
            ),
            &opportunity_created(team.tenant_id, deal, 10_000, &[(rep, 50), (other, 50)]),
        ],
    )
    .await;
    lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 1).await;
    let request = |amount_minor: i64| pb::EstimateCommissionRequest {
        opportunity_id: deal.to_string(),
        amount_minor,
        currency_code: if amount_minor == 0 { "" } else { "USD" }.into(),
        close_date: "2026-05-20".into(),
        ..Default::default()
    };
    let estimate = testkit::poll_until(DEADLINE, || async {
        team.rep
            .commissions()
            .estimate_commission(team.rep.req(request(0)))
            .await
            .ok()
    })
    .await
    .expect("the deal reached the estimator")
    .into_inner();
    // Half of 10 000.00 at 5 %, on top of 60 000.00 of a 100 000.00 quota.
    assert_eq!(
        (
            estimate.credited_minor,
            estimate.commission_minor,
            estimate.attained_before_minor,
            estimate.attained_after_minor,
            estimate.attainment_before_basis_points,
            estimate.attainment_after_basis_points,
        ),
        (500_000, 25_000, 6_000_000, 6_500_000, 6_000, 6_500)
    );
    assert_eq!(estimate.period_start, "2026-04-01");
    assert_eq!(estimate.lines.len(), 1);
    assert_eq!(estimate.lines[0].rate_millionths, 50_000);
    assert!(estimate.lines[0].id.is_empty());
    // At another amount.
    let higher = team
        .rep
        .commissions()
        .estimate_commission(team.rep.req(request(4_000_000)))
        .await
        .expect("override")
        .into_inner();
    assert_eq!(
        (higher.credited_minor, higher.commission_minor),
        (2_000_000, 100_000)
    );
    // An amount without a deal.
    let plain = team
        .rep
        .commissions()
        .estimate_commission(team.rep.req(pb::EstimateCommissionRequest {
            amount_minor: 100_000,
            currency_code: "USD".into(),
            close_date: "2026-05-20".into(),
            ..Default::default()
        }))
        .await
        .expect("amount")
        .into_inner();
    assert_eq!(plain.commission_minor, 5_000);
    let euros = team
        .rep
        .commissions()
        .estimate_commission(team.rep.req(pb::EstimateCommissionRequest {
            amount_minor: 100_000,
            currency_code: "EUR".into(),
            close_date: "2026-05-20".into(),
            ..Default::default()
        }))
        .await
        .expect_err("another currency");
    assert_invalid(&euros, &["currency_code"]);
    // The other split owner has no plan; a stranger to the deal is not credited on it.
    let no_plan = team
        .other_rep
        .commissions()
        .estimate_commission(team.other_rep.req(request(0)))
        .await
        .expect_err("no plan");
    assert_eq!(no_plan.code(), Code::FailedPrecondition);
    let stranger = crate::helpers::another(&service, &db, &team, BuiltinRole::SalesRep).await;
    let not_credited = stranger
        .commissions()
        .estimate_commission(stranger.req(request(0)))
        .await
        .expect_err("not credited");
    assert_eq!(not_credited.code(), Code::FailedPrecondition);

    // Read only: still one line; and the quota the line used cannot be deleted.
    assert_eq!(
        team.rep
            .lines(rep, "2026-04-01")
            .await
            .expect("lines")
            .len(),
        1
    );
    let used = team
        .admin
        .commissions()
        .delete_quota(team.admin.req(pb::DeleteQuotaRequest {
            user_id: rep.to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
        }))
        .await
        .expect_err("used by lines");
    assert_eq!(used.code(), Code::FailedPrecondition);
}
