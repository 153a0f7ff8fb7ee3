//! The tenant's exchange-rate table: admins set and delete rates, every user may read them.

use std::sync::Arc;

use auth::permissions::{TENANT_READ, TENANT_UPDATE};
use chrono::NaiveDate;
use db::{PageSize, PageToken};
use proto::tenants as pb;
use tonic::{Request, Response, Status};

use super::{Shared, convert};
use crate::domain::Violations;
use crate::domain::exchange_rate::{self, NewExchangeRate};
use crate::domain::settings::parse_currency;
use crate::error::{Error, Result};

pub struct ExchangeRateApi {
    shared: Arc<Shared>,
}

impl ExchangeRateApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

/// The currency and date naming one rate, each error naming its field.
fn parse_key(
    v: &mut Violations,
    prefix: &str,
    currency_code: &str,
    effective_date: &str,
) -> (Option<String>, Option<NaiveDate>) {
    (
        v.check(
            &format!("{prefix}currency_code"),
            parse_currency(currency_code),
        ),
        v.check(
            &format!("{prefix}effective_date"),
            exchange_rate::parse_date(effective_date),
        ),
    )
}

#[tonic::async_trait]
impl pb::exchange_rate_service_server::ExchangeRateService for ExchangeRateApi {
    #[tracing::instrument(skip_all)]
    async fn set_exchange_rate(
        &self,
        request: Request<pb::SetExchangeRateRequest>,
    ) -> Result<Response<pb::ExchangeRate>, Status> {
        let tenant_id = self
            .shared
            .user_ctx(&request, Some(TENANT_UPDATE))
            .await?
            .tenant_id;
        let raw = request.into_inner().exchange_rate.unwrap_or_default();
        let mut v = Violations::new();
        let (currency_code, effective_date) = parse_key(
            &mut v,
            "exchange_rate.",
            &raw.currency_code,
            &raw.effective_date,
        );
        let rate = v.check("exchange_rate.rate", fx::parse_rate(&raw.rate));
        v.finish().map_err(Error::from)?;
        let (Some(currency_code), Some(effective_date), Some(rate)) =
            (currency_code, effective_date, rate)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()).into());
        };
        let saved = self
            .shared
            .store
            .set_exchange_rate(
                tenant_id,
                NewExchangeRate {
                    currency_code,
                    effective_date,
                    rate,
                },
            )
            .await?;
        tracing::info!(%tenant_id, rate = %exchange_rate::key(&saved.currency_code, saved.effective_date), "exchange rate set");
        Ok(Response::new(convert::exchange_rate(saved)))
    }

    async fn list_exchange_rates(
        &self,
        request: Request<pb::ListExchangeRatesRequest>,
    ) -> Result<Response<pb::ListExchangeRatesResponse>, Status> {
        let tenant_id = self
            .shared
            .user_ctx(&request, Some(TENANT_READ))
            .await?
            .tenant_id;
        let r = request.into_inner();
        let currency_code = if r.currency_code.is_empty() {
            None
        } else {
            Some(
                parse_currency(&r.currency_code)
                    .map_err(|e| Error::invalid("currency_code", e.to_string()))?,
            )
        };
        let page_size =
            PageSize::parse(r.page_size).map_err(|e| Error::invalid("page_size", e.to_string()))?;
        let pages = PageToken::for_query(&format!(
            "exchange_rates:{}",
            currency_code.as_deref().unwrap_or_default()
        ));
        let after: Option<(String, NaiveDate)> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let mut rates = self
            .shared
            .store
            .list_exchange_rates(tenant_id, currency_code, after, page_size.fetch_limit())
            .await?;
        let mut next_page_token = String::new();
        if rates.len() > page_size.get() as usize {
            rates.truncate(page_size.get() as usize);
            if let Some(last) = rates.last() {
                next_page_token = pages.encode(&(last.currency_code.clone(), last.effective_date));
            }
        }
        Ok(Response::new(pb::ListExchangeRatesResponse {
            exchange_rates: rates.into_iter().map(convert::exchange_rate).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_exchange_rate(
        &self,
        request: Request<pb::DeleteExchangeRateRequest>,
    ) -> Result<Response<()>, Status> {
        let tenant_id = self
            .shared
            .user_ctx(&request, Some(TENANT_UPDATE))
            .await?
            .tenant_id;
        let r = request.into_inner();
        let mut v = Violations::new();
        let (currency_code, effective_date) =
            parse_key(&mut v, "", &r.currency_code, &r.effective_date);
        v.finish().map_err(Error::from)?;
        let (Some(currency_code), Some(effective_date)) = (currency_code, effective_date) else {
            return Err(Error::Internal("validated fields missing".to_owned()).into());
        };
        if !self
            .shared
            .store
            .delete_exchange_rate(tenant_id, currency_code, effective_date)
            .await?
        {
            return Err(Error::NotFound("exchange rate").into());
        }
        Ok(Response::new(()))
    }
}
