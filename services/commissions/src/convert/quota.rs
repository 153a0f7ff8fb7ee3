//! Quotas from requests, and attainment figures in the proto shape.

use proto::commissions as pb;

use super::{day_from_pb, period_kind_from_pb, period_kind_to_pb, uuid_from_pb, validated};
use crate::domain::period::{Period, Window};
use crate::domain::quota::{Measured, Quota};
use crate::domain::statement::Attainment;
use crate::domain::violations::Violations;
use crate::error::Result;

/// A quota; violations are named `quota.<field>`. The period must start a fiscal period of the
/// year that begins in `fiscal_year_start_month` (January when 0).
pub fn quota_from_pb(raw: &pb::Quota) -> Result<Quota> {
    let mut v = Violations::new();
    let user_id = v.check("quota.user_id", uuid_from_pb(&raw.user_id));
    let fiscal = if raw.fiscal_year_start_month == 0 {
        1
    } else {
        u32::try_from(raw.fiscal_year_start_month).unwrap_or(0)
    };
    if !(1..=12).contains(&fiscal) {
        v.add("quota.fiscal_year_start_month", "must be between 1 and 12");
    }
    let kind = v.check("quota.period", period_kind_from_pb(raw.period));
    let start = v.check("quota.period_start", day_from_pb(&raw.period_start));
    let period = match (kind, start) {
        (Some(kind), Some(start)) => {
            let period = Period::starting(kind, fiscal, start);
            if period.is_none() {
                v.add(
                    "quota.period_start",
                    format!("is not the first day of a fiscal {}", kind.as_str()),
                );
            }
            period
        }
        _ => None,
    };
    if iso_currency::Currency::from_code(&raw.currency_code).is_none() {
        v.add("quota.currency_code", "must be an ISO 4217 currency code");
    }
    if raw.amount_minor < 0 {
        v.add("quota.amount_minor", "must not be negative");
    }
    v.finish()?;
    Ok(Quota {
        user_id: validated(user_id)?,
        period: validated(period)?,
        currency: raw.currency_code.clone(),
        amount: raw.amount_minor,
    })
}

/// One participant's figures over `window`.
pub fn attainment_to_pb(
    window: Window,
    measured: &Measured,
    figures: Attainment,
) -> pb::Attainment {
    pb::Attainment {
        participant_id: measured.participant_id.to_string(),
        period: period_kind_to_pb(window.kind) as i32,
        period_start: window.start.to_string(),
        currency_code: measured
            .quota
            .as_ref()
            .map(|q| q.0.clone())
            .unwrap_or_default(),
        attained_minor: figures.attained,
        quota_minor: figures.quota,
        attainment_basis_points: figures.attainment,
        elapsed_basis_points: figures.elapsed,
        pace_basis_points: figures.pace,
        year_to_date: window.year_to_date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn bad_fields(raw: &pb::Quota) -> Vec<String> {
        match quota_from_pb(raw) {
            Err(Error::InvalidArgument(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected field violations, got {other:?}"),
        }
    }

    fn quarter_quota() -> pb::Quota {
        pb::Quota {
            user_id: uuid::Uuid::now_v7().to_string(),
            period: pb::PeriodKind::Quarter as i32,
            period_start: "2026-04-01".into(),
            currency_code: "EUR".into(),
            amount_minor: 1_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn a_quota_starts_a_fiscal_period() {
        let quota = quota_from_pb(&quarter_quota()).expect("valid");
        assert_eq!(quota.amount, 1_000_000);
        // Fiscal quarters of a February year start in February, May, August and November.
        let off = pb::Quota {
            fiscal_year_start_month: 2,
            ..quarter_quota()
        };
        // April is not the first day of a February-based quarter.
        assert_eq!(bad_fields(&off), ["quota.period_start"]);
    }

    #[test]
    fn every_bad_quota_field_is_named() {
        let bad = pb::Quota {
            user_id: "nope".into(),
            fiscal_year_start_month: 13,
            period: 0,
            currency_code: "XXY".into(),
            amount_minor: -1,
            ..quarter_quota()
        };
        assert_eq!(
            bad_fields(&bad),
            [
                "quota.user_id",
                "quota.fiscal_year_start_month",
                "quota.period",
                "quota.currency_code",
                "quota.amount_minor",
            ]
        );
    }
}
