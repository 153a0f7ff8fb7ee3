//! The forecast a sales manager runs: periods of the tenant's fiscal calendar, the owner's
//! category override, per rep and per manager in the tenant's currency with its exchange rates
//! (both learnt from the tenants events), per-currency lines kept.

use prost_types::FieldMask;
use proto::commissions as cpb;
use proto::crm as pb;
use proto::google::r#type::Money;
use proto::tenants as tpb;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::events::tenants_event;
use crate::helpers::{As, DEADLINE, Db, assert_invalid, declare_consumer_queue, publish, team};
use crate::quotes::money;

type Boards = pb::board_service_client::BoardServiceClient<Channel>;

async fn deal(who: &As, stage: &pb::Stage, amount: Money, close_date: &str) -> pb::Opportunity {
    who.opportunities()
        .create_opportunity(who.req(pb::CreateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                name: format!("Deal in {}", stage.name),
                amount: Some(amount),
                stage_id: stage.id.clone(),
                close_date: close_date.to_owned(),
                ..Default::default()
            }),
        }))
        .await
        .expect("opportunity created")
        .into_inner()
}

async fn set_category(
    who: &As,
    deal: &pb::Opportunity,
    category: &str,
) -> Result<pb::Opportunity, tonic::Status> {
    who.opportunities()
        .update_opportunity(who.req(pb::UpdateOpportunityRequest {
            opportunity: Some(pb::Opportunity {
                id: deal.id.clone(),
                forecast_category: category.to_owned(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["forecast_category".into()],
            }),
        }))
        .await
        .map(tonic::Response::into_inner)
}

async fn forecast(
    boards: &mut Boards,
    who: &As,
    period: &str,
) -> Result<pb::Forecast, tonic::Status> {
    boards
        .get_forecast(who.req(pb::GetForecastRequest {
            period: period.to_owned(),
            ..Default::default()
        }))
        .await
        .map(tonic::Response::into_inner)
}

/// (user, count, pipeline, best case, commit, closed, quota, gap) in whole units; -1 when unset.
type Row = (String, i64, i64, i64, i64, i64, i64, i64);

fn rows(rows: &[pb::ForecastRow]) -> Vec<Row> {
    let units = |m: &Option<Money>| m.as_ref().map(|m| m.units).unwrap_or(-1);
    rows.iter()
        .map(|r| {
            (
                r.user_id.clone(),
                r.count,
                units(&r.pipeline),
                units(&r.best_case),
                units(&r.commit),
                units(&r.closed),
                units(&r.quota),
                units(&r.gap_to_quota),
            )
        })
        .collect()
}

/// The tenant's settings (EUR, fiscal year from April) and a USD rate, as the tenants service
/// publishes them; waits until the CRM has applied them.
async fn tenant_in_eur_with_usd_rate(db: &Db, tenant_id: Uuid) {
    publish(&tenants_event(
        "tenants.tenant.updated",
        tenant_id,
        "tenant",
        tenant_id,
        &tpb::TenantUpdated {
            tenant: Some(tpb::Tenant {
                id: tenant_id.to_string(),
                settings: Some(tpb::TenantSettings {
                    currency_code: "EUR".into(),
                    fiscal_year_start_month: 4,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            changed_fields: vec!["settings".into()],
        },
    ))
    .await;
    publish(&tenants_event(
        "tenants.exchange_rate.set",
        tenant_id,
        "exchange_rate",
        "USD/2027-01-01",
        &tpb::ExchangeRateSet {
            exchange_rate: Some(tpb::ExchangeRate {
                currency_code: "USD".into(),
                effective_date: "2027-01-01".into(),
                rate: "0.9".into(),
                base_currency_code: "EUR".into(),
                update_time: None,
            }),
        },
    ))
    .await;
    let applied = testkit::poll_until(DEADLINE, || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM crm_exchange_rates r JOIN crm_tenants t USING (tenant_id)
             WHERE r.tenant_id = $1 AND t.currency_code = 'EUR'
                 AND t.fiscal_year_start_month = 4",
        )
        .bind(tenant_id)
        .fetch_one(&db.pool)
        .await
        .ok()?;
        (n == 1).then_some(())
    })
    .await;
    assert!(
        applied.is_some(),
        "tenant settings and rate not applied in time"
    );
}

/// A quota as the commissions service publishes it; waits until the CRM has applied it.
async fn quota(
    db: &Db,
    tenant_id: Uuid,
    user: Uuid,
    kind: cpb::PeriodKind,
    start: &str,
    end: &str,
    units: i64,
) {
    let key = format!("{user}/{start}/{}", kind as i32);
    publish(&tenants_event(
        "commissions.quota.set",
        tenant_id,
        "quota",
        key,
        &cpb::QuotaSet {
            quota: Some(cpb::Quota {
                user_id: user.to_string(),
                period: kind as i32,
                period_start: start.into(),
                currency_code: "USD".into(),
                amount_minor: units * 100,
                fiscal_year_start_month: 0,
            }),
            period_end: end.into(),
        },
    ))
    .await;
    let applied = testkit::poll_until(DEADLINE, || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM crm_quotas WHERE tenant_id = $1 AND user_id = $2
                 AND period_start = $3::date",
        )
        .bind(tenant_id)
        .bind(user)
        .bind(start)
        .fetch_one(&db.pool)
        .await
        .ok()?;
        (n > 0).then_some(())
    })
    .await;
    assert!(applied.is_some(), "quota not applied in time");
}

#[tokio::test]
async fn a_manager_runs_the_fiscal_quarter_forecast_in_the_tenant_currency() {
    let crm = crm::testing::spawn().await;
    let db = Db::connect(&crm).await;
    declare_consumer_queue(&crm, &db).await;
    let team = team(&crm, &db).await;
    tenant_in_eur_with_usd_rate(&db, team.tenant_id).await;
    // The rep's quarter quota is 1000 USD; their April quota is part of it, not added to it.
    let rep_id = team.rep.user_id;
    quota(
        &db,
        team.tenant_id,
        rep_id,
        cpb::PeriodKind::Quarter,
        "2027-04-01",
        "2027-07-01",
        1_000,
    )
    .await;
    quota(
        &db,
        team.tenant_id,
        rep_id,
        cpb::PeriodKind::Month,
        "2027-04-01",
        "2027-05-01",
        300,
    )
    .await;
    let pipeline = team.admin.default_pipeline().await;
    let s = &pipeline.stages;
    let (prospecting, qualification, negotiation) = (&s[0], &s[1], &s[3]);

    // FY2028-Q1 is April to June 2027.
    deal(&team.rep, qualification, money("USD", 100, 0), "2027-05-10").await;
    let upgraded = deal(&team.rep, prospecting, money("USD", 200, 0), "2027-06-30").await;
    deal(
        &team.manager,
        negotiation,
        money("EUR", 50, 0),
        "2027-04-01",
    )
    .await;
    let parked = deal(
        &team.other_rep,
        negotiation,
        money("EUR", 1_000, 0),
        "2027-05-01",
    )
    .await;
    deal(
        &team.other_rep,
        negotiation,
        money("JPY", 1_000, 0),
        "2027-05-01",
    )
    .await;
    deal(&team.rep, negotiation, money("EUR", 7, 0), "2027-07-01").await; // next quarter

    // The owner overrides the stage's category; closed cannot be set by hand.
    let upgraded = set_category(&team.rep, &upgraded, "commit")
        .await
        .expect("override set");
    assert_eq!(upgraded.forecast_category, "commit");
    assert_eq!(upgraded.effective_forecast_category, "commit");
    let parked = set_category(&team.other_rep, &parked, "omitted")
        .await
        .expect("omitted");
    assert_eq!(parked.effective_forecast_category, "");
    let refused = set_category(&team.rep, &upgraded, "closed")
        .await
        .expect_err("closed is not set by hand");
    assert_invalid(&refused, &["opportunity.forecast_category"]);

    let mut boards = Boards::new(crm.channel().await);
    let admin_view = forecast(&mut boards, &team.admin, "FY2028-Q1")
        .await
        .expect("forecast");
    assert_eq!(
        (
            admin_view.start_date.as_str(),
            admin_view.end_date.as_str(),
            admin_view.period.as_str(),
            admin_view.currency_code.as_str()
        ),
        ("2027-04-01", "2027-06-30", "FY2028-Q1", "EUR")
    );
    let (rep, manager, admin) = (
        team.rep.user_id.to_string(),
        team.manager.user_id.to_string(),
        team.admin.user_id.to_string(),
    );
    // USD at 0.9: the rep's 100 USD pipeline is 90 EUR, the 200 USD commit 180 EUR, the
    // 1000 USD quota 900 EUR with nothing closed yet.
    let mut expected_reps = vec![
        (rep.clone(), 2, 90, 0, 180, 0, 900, 900),
        (manager.clone(), 1, 0, 0, 50, 0, -1, -1),
    ];
    expected_reps.sort();
    assert_eq!(rows(&admin_view.reps), expected_reps);
    // The manager's team is themself and the rep; the admin's everyone.
    let mut expected_managers = vec![
        (manager.clone(), 3, 90, 0, 230, 0, 900, 900),
        (admin.clone(), 3, 90, 0, 230, 0, 900, 900),
    ];
    expected_managers.sort();
    assert_eq!(rows(&admin_view.managers), expected_managers);
    assert_eq!(admin_view.unconverted_currency_codes, ["JPY"]);
    // Per-currency lines stay as the deals are: commit has EUR 50, JPY 1000 and USD 200.
    let commit: Vec<(String, i64)> = admin_view
        .lines
        .iter()
        .filter(|l| l.category == pb::ForecastCategory::Commit as i32)
        .map(|l| {
            let t = l.total.as_ref().expect("total");
            (
                t.currency_code.clone(),
                t.amount.as_ref().expect("amount").units,
            )
        })
        .collect();
    assert_eq!(
        commit,
        [
            ("EUR".to_owned(), 50),
            ("JPY".to_owned(), 1_000),
            ("USD".to_owned(), 200)
        ]
    );

    // A rep sees their own row only.
    let rep_view = forecast(&mut boards, &team.rep, "FY2028-Q1")
        .await
        .expect("forecast");
    assert_eq!(rows(&rep_view.reps), [(rep, 2, 90, 0, 180, 0, 900, 900)]);
    assert!(rep_view.managers.is_empty());

    // A period outside the fiscal calendar names the field.
    for outside in ["FY2028-Q5", "FY2028-M13", "FY28"] {
        let status = forecast(&mut boards, &team.manager, outside)
            .await
            .expect_err("outside the calendar");
        assert_invalid(&status, &["period"]);
    }
}
