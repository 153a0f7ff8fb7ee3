//! List requests in (filters, page sizes and tokens) and the proto shape of quotas and
//! estimates out.

use db::{PageSize, PageToken};
use proto::commissions as pb;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{day_from_pb, engine_line_to_pb, period_kind_from_pb, period_kind_to_pb, uuid_from_pb};
use crate::domain::estimate::Estimate;
use crate::domain::listing::{PageRequest, PeriodFilter};
use crate::domain::quota::Quota;
use crate::domain::violations::Violations;
use crate::error::{Error, Result};

/// A period listing's filter; `holder_field` names the holder (participant_id or user_id).
pub fn period_filter_from_pb(
    v: &mut Violations,
    holder_field: &str,
    holder: &str,
    kind: i32,
    start: &str,
) -> PeriodFilter {
    let holder = if holder.is_empty() {
        None
    } else {
        v.check(holder_field, uuid_from_pb(holder))
    };
    let kind = if kind == 0 {
        None
    } else {
        v.check("period", period_kind_from_pb(kind))
    };
    let start = if start.is_empty() {
        None
    } else {
        if kind.is_none() {
            v.add("period", "is required with period_start");
        }
        v.check("period_start", day_from_pb(start))
    };
    PeriodFilter {
        holder,
        kind,
        start,
    }
}

/// Page size and position; the token must come from the same listing (`fingerprint`).
pub struct Paging<C> {
    pub page: PageRequest<C>,
    tokens: PageToken,
}

impl<C: Serialize + DeserializeOwned> Paging<C> {
    pub fn parse(fingerprint: &str, page_size: i32, page_token: &str) -> Result<Self> {
        let mut v = Violations::new();
        let size = v.check("page_size", PageSize::parse(page_size));
        let tokens = PageToken::for_query(fingerprint);
        let after = v.check("page_token", tokens.decode::<C>(page_token));
        v.finish()?;
        let (Some(size), Some(after)) = (size, after) else {
            return Err(Error::Internal("validated paging missing".to_owned()));
        };
        Ok(Self {
            page: PageRequest {
                size: size.get(),
                after,
            },
            tokens,
        })
    }

    pub fn next_page_token(&self, next: Option<C>) -> String {
        next.map(|cursor| self.tokens.encode(&cursor))
            .unwrap_or_default()
    }
}

pub fn quota_to_pb(quota: Quota) -> pb::Quota {
    pb::Quota {
        user_id: quota.user_id.to_string(),
        period: period_kind_to_pb(quota.period.kind) as i32,
        period_start: quota.period.start.to_string(),
        currency_code: quota.currency,
        amount_minor: quota.amount,
        fiscal_year_start_month: 0,
    }
}

pub fn estimate_to_pb(estimate: Estimate) -> pb::CommissionEstimate {
    let currency = estimate.currency.clone();
    let participant = estimate.participant_id.to_string();
    pb::CommissionEstimate {
        participant_id: participant.clone(),
        plan_id: estimate.plan_id.to_string(),
        plan_version_id: estimate.plan_version_id.to_string(),
        period: period_kind_to_pb(estimate.period.kind) as i32,
        period_start: estimate.period.start.to_string(),
        credited_minor: estimate.credited,
        commission_minor: estimate.commission,
        attained_before_minor: estimate.before.attained,
        attained_after_minor: estimate.after.attained,
        quota_minor: estimate.before.quota,
        attainment_before_basis_points: estimate.before.attainment,
        attainment_after_basis_points: estimate.after.attainment,
        lines: estimate
            .lines
            .into_iter()
            .map(|line| {
                let nil = line.deal_id.is_nil();
                let mut rendered = engine_line_to_pb(line, &currency);
                rendered.participant_id = participant.clone();
                rendered.plan_version_id = estimate.plan_version_id.to_string();
                rendered.period = period_kind_to_pb(estimate.period.kind) as i32;
                rendered.credit_period_start = estimate.period.start.to_string();
                if nil {
                    rendered.deal_id.clear();
                }
                rendered
            })
            .collect(),
        currency_code: currency,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::period::PeriodKind;

    #[test]
    fn a_period_start_needs_a_period_kind() {
        let mut v = Violations::new();
        let filter = period_filter_from_pb(&mut v, "user_id", "", 0, "2026-04-01");
        assert_eq!(filter.kind, None);
        let fields: Vec<String> = v
            .finish()
            .expect_err("refused")
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["period"]);
        let mut v = Violations::new();
        let filter = period_filter_from_pb(&mut v, "user_id", "", 2, "2026-04-01");
        assert!(v.finish().is_ok());
        assert_eq!(filter.kind, Some(PeriodKind::Quarter));
    }

    #[test]
    fn a_page_token_of_another_listing_is_refused() {
        let first = Paging::<i64>::parse("lines|a", 10, "").expect("first page");
        let token = first.next_page_token(Some(42));
        let again = Paging::<i64>::parse("lines|a", 10, &token).expect("next page");
        assert_eq!(again.page.after, Some(42));
        let other = Paging::<i64>::parse("lines|b", 10, &token);
        assert!(matches!(other, Err(Error::InvalidArgument(v)) if v[0].field == "page_token"));
    }
}
