//! gRPC handlers: parse proto requests into domain values, identify the caller, call the store,
//! map results back. The only place that knows both proto and domain types.

pub mod adjustments;
pub mod commissions;
pub mod convert;
pub mod plans;

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use proto::commissions as pb;
use tonic::Request;
use uuid::Uuid;

use crate::domain::Viewer;
use crate::domain::period::{Period, PeriodKind};
use crate::domain::violations::Violations;
use crate::error::{Error, Result};
use crate::store::Store;

/// What every handler shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    /// Adjustments above this (absolute, minor units) wait for another admin's approval.
    pub approval_threshold: i64,
}

/// The calling tenant user. Commissions are deal data: reading them needs `crm.deals.read`
/// (admins, managers, sales reps); what they see is decided by visibility, and changes need the
/// admin role (checked by the store).
pub fn viewer<T>(request: &Request<T>) -> Result<Viewer> {
    let ctx = auth::caller(request)?.user()?;
    ctx.require(auth::permissions::CRM_DEALS_READ)?;
    Ok(Viewer {
        tenant_id: ctx.tenant_id,
        user_id: ctx.user_id,
        role: ctx.role,
    })
}

/// Parses a resource id; a malformed id names the field.
pub fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

pub fn parse_day(raw: &str) -> Result<NaiveDate, &'static str> {
    if raw.is_empty() {
        return Err("is required");
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD")
}

pub fn period_kind(raw: i32) -> Result<PeriodKind, &'static str> {
    match pb::PeriodKind::try_from(raw) {
        Ok(pb::PeriodKind::Month) => Ok(PeriodKind::Month),
        Ok(pb::PeriodKind::Quarter) => Ok(PeriodKind::Quarter),
        Ok(pb::PeriodKind::Year) => Ok(PeriodKind::Year),
        _ => Err("must be PERIOD_KIND_MONTH, PERIOD_KIND_QUARTER or PERIOD_KIND_YEAR"),
    }
}

/// A period named by kind and first day (periods start on the first of a month; which months
/// depends on the plan's fiscal year).
pub fn parse_period(v: &mut Violations, kind: i32, start: &str) -> Option<Period> {
    let kind = v.check("period", period_kind(kind));
    let start = v.check("period_start", parse_day(start));
    let (kind, start) = (kind?, start?);
    if start.day() != 1 {
        v.add("period_start", "must be the first day of a month");
        return None;
    }
    Some(Period { kind, start })
}

/// The participant named, or the caller when empty.
pub fn participant_or_self(viewer: &Viewer, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        Ok(viewer.user_id)
    } else {
        parse_id("participant_id", raw)
    }
}

/// Unwraps values a [`Violations::finish`] just vouched for.
pub fn validated<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::Internal("validated field missing".to_owned()))
}
