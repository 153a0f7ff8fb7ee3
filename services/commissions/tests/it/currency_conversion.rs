//! A deal in another currency than the plan's is converted with the tenant's exchange rates
//! (projected from the tenants events) at the rate in force on its close date; without one it is
//! refused and recorded, not converted at a guessed rate.

use proto::tenants as tpb;
use uuid::Uuid;

use crate::helpers::{
    DEADLINE, Db, create_plan, day, declare_consumer_queue, flat_plan, lines_until, publish, team,
    won_in,
};

fn tenant_in(tenant_id: Uuid, currency: &str) -> proto::events::Envelope {
    events::NewEvent::new(
        "tenants.tenant.updated",
        tenant_id,
        "tenant",
        tenant_id,
        &tpb::TenantUpdated {
            tenant: Some(tpb::Tenant {
                id: tenant_id.to_string(),
                display_name: "Globex".into(),
                settings: Some(tpb::TenantSettings {
                    currency_code: currency.into(),
                    fiscal_year_start_month: 1,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            changed_fields: vec!["settings.currency_code".into()],
        },
    )
    .expect("event")
    .to_envelope()
}

fn rate_set(tenant_id: Uuid, currency: &str, date: &str, rate: &str) -> proto::events::Envelope {
    events::NewEvent::new(
        "tenants.exchange_rate.set",
        tenant_id,
        "exchange_rate",
        format!("{currency}/{date}"),
        &tpb::ExchangeRateSet {
            exchange_rate: Some(tpb::ExchangeRate {
                currency_code: currency.into(),
                effective_date: date.into(),
                rate: rate.into(),
                base_currency_code: "USD".into(),
                update_time: None,
            }),
        },
    )
    .expect("event")
    .to_envelope()
}

#[tokio::test]
async fn a_deal_in_another_currency_earns_at_the_rate_of_its_close_date() {
    let service = commissions::testing::spawn().await;
    let db = Db::connect(&service).await;
    declare_consumer_queue(&service, &db).await;
    let team = team(&service, &db).await;
    let rep = team.rep.user_id;
    // 5 % flat, in USD.
    create_plan(&team.admin, "Core", flat_plan(&[rep], 50_000)).await;

    publish(
        &service,
        &[
            &tenant_in(team.tenant_id, "USD"),
            &rate_set(team.tenant_id, "EUR", "2026-01-01", "1.1"),
            &rate_set(team.tenant_id, "EUR", "2026-06-01", "1.2"),
        ],
    )
    .await;
    let projected = testkit::poll_until(DEADLINE, || async {
        let rates: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM exchange_rates e JOIN commission_tenants t USING (tenant_id)
             WHERE e.tenant_id = $1 AND t.currency_code = 'USD'",
        )
        .bind(team.tenant_id)
        .fetch_one(&db.pool)
        .await
        .ok()?;
        (rates == 2).then_some(())
    })
    .await;
    assert!(projected.is_some(), "rates were not projected in time");

    // 1000 EUR closed in May at 1.1 = 1100 USD, 5 % = 55.00 USD. A deal closed in 2025, before
    // any EUR rate, is refused.
    publish(
        &service,
        &[
            &won_in(
                "EUR",
                team.tenant_id,
                Uuid::now_v7(),
                1_000,
                &[(rep, 100)],
                day("2026-05-20"),
                vec![],
            ),
            &won_in(
                "EUR",
                team.tenant_id,
                Uuid::now_v7(),
                1_000,
                &[(rep, 100)],
                day("2025-05-20"),
                vec![],
            ),
        ],
    )
    .await;
    let lines = lines_until(&team.rep, rep, "2026-04-01", |l| l.len() == 1).await;
    assert_eq!(lines[0].currency_code, "USD");
    assert_eq!(lines[0].base_minor, 110_000);
    assert_eq!(lines[0].amount_minor, 5_500);
    let refused = testkit::poll_until(DEADLINE, || async {
        let n = db
            .audit_count(team.tenant_id, "deal.currency_refused")
            .await;
        (n == 1).then_some(n)
    })
    .await;
    assert_eq!(refused, Some(1));
    assert_eq!(db.audit_count(team.tenant_id, "deal.converted").await, 1);
}
