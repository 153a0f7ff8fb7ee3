//! The tenant's exchange-rate table: admins set, replace and delete rates; every user reads them;
//! bad input names its field.

use proto::tenants as pb;
use tonic::Code;

use crate::helpers::*;

fn rate(currency: &str, date: &str, rate: &str) -> pb::SetExchangeRateRequest {
    pb::SetExchangeRateRequest {
        exchange_rate: Some(pb::ExchangeRate {
            currency_code: currency.into(),
            effective_date: date.into(),
            rate: rate.into(),
            ..Default::default()
        }),
    }
}

async fn list(c: &mut Clients, token: &str, currency: &str) -> Vec<(String, String, String)> {
    c.rates
        .list_exchange_rates(authed(
            token,
            pb::ListExchangeRatesRequest {
                currency_code: currency.into(),
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .exchange_rates
        .into_iter()
        .map(|r| (r.currency_code, r.effective_date, r.rate))
        .collect()
}

#[tokio::test]
async fn an_admin_keeps_dated_rates_and_every_user_reads_them() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "fx").await;
    for (currency, date, value) in [
        ("USD", "2026-01-01", "0.9"),
        ("USD", "2026-07-01", "0.95"),
        ("GBP", "2026-01-01", "1.15"),
    ] {
        let saved = c
            .rates
            .set_exchange_rate(authed(&f.admin_token, rate(currency, date, value)))
            .await
            .expect("set")
            .into_inner();
        assert_eq!(saved.base_currency_code, "EUR");
        assert_eq!(saved.rate, value);
    }
    // Setting the same currency and date again replaces the rate.
    c.rates
        .set_exchange_rate(authed(&f.admin_token, rate("USD", "2026-07-01", "0.9300")))
        .await
        .expect("replace");

    let rep = create_user(
        &mut c,
        &f.admin_token,
        &format!("rep@{}.test", f.slug),
        pb::Role::SalesRep,
        "",
    )
    .await;
    let rep_token = login(&mut c, &f.slug, &rep.email, PASSWORD)
        .await
        .expect("rep logs in")
        .access_token;
    assert_eq!(
        list(&mut c, &rep_token, "USD").await,
        [
            ("USD".into(), "2026-07-01".into(), "0.93".into()),
            ("USD".into(), "2026-01-01".into(), "0.9".into()),
        ]
    );
    // Pages follow currency, then newest date first.
    let first = c
        .rates
        .list_exchange_rates(authed(
            &rep_token,
            pb::ListExchangeRatesRequest {
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.exchange_rates[0].currency_code, "GBP");
    assert!(!first.next_page_token.is_empty());
    let second = c
        .rates
        .list_exchange_rates(authed(
            &rep_token,
            pb::ListExchangeRatesRequest {
                page_size: 2,
                page_token: first.next_page_token,
                ..Default::default()
            },
        ))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(second.exchange_rates.len(), 1);
    assert_eq!(second.exchange_rates[0].effective_date, "2026-01-01");

    // A sales rep may not change the table.
    let refused = c
        .rates
        .set_exchange_rate(authed(&rep_token, rate("USD", "2026-08-01", "1")))
        .await
        .expect_err("rep refused");
    assert_eq!(refused.code(), Code::PermissionDenied);

    c.rates
        .delete_exchange_rate(authed(
            &f.admin_token,
            pb::DeleteExchangeRateRequest {
                currency_code: "USD".into(),
                effective_date: "2026-01-01".into(),
            },
        ))
        .await
        .expect("delete");
    assert_eq!(list(&mut c, &f.admin_token, "USD").await.len(), 1);
    let gone = c
        .rates
        .delete_exchange_rate(authed(
            &f.admin_token,
            pb::DeleteExchangeRateRequest {
                currency_code: "USD".into(),
                effective_date: "2026-01-01".into(),
            },
        ))
        .await
        .expect_err("already deleted");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn bad_rates_name_their_fields() {
    let svc = tenants::testing::spawn().await;
    let mut c = clients(&svc).await;
    let f = provision(&svc, &mut c, "fx-bad").await;
    let status = c
        .rates
        .set_exchange_rate(authed(&f.admin_token, rate("usd1", "2026-02-30", "-1")))
        .await
        .expect_err("refused");
    assert_invalid(
        &status,
        &[
            "exchange_rate.currency_code",
            "exchange_rate.effective_date",
            "exchange_rate.rate",
        ],
    );
    let status = c
        .rates
        .set_exchange_rate(authed(
            &f.admin_token,
            rate("USD", "2026-01-01", "1.0000000001"),
        ))
        .await
        .expect_err("too precise");
    assert_invalid(&status, &["exchange_rate.rate"]);
    // The tenant's own currency is always worth exactly one.
    let status = c
        .rates
        .set_exchange_rate(authed(&f.admin_token, rate("EUR", "2026-01-01", "1")))
        .await
        .expect_err("own currency");
    assert_invalid(&status, &["exchange_rate.currency_code"]);
    let status = c
        .rates
        .list_exchange_rates(authed(
            &f.admin_token,
            pb::ListExchangeRatesRequest {
                currency_code: "nope".into(),
                ..Default::default()
            },
        ))
        .await
        .expect_err("bad filter");
    assert_invalid(&status, &["currency_code"]);
}
