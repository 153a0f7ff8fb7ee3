//! Proto ↔ domain conversion, in one place below `api/` (requests in, responses out) and
//! `events/` (payloads of the events published). Naming: `<thing>_from_proto` parses a proto
//! value into the domain (bad fields named), `<thing>_to_proto` renders a domain value; nothing
//! here does I/O or checks permissions.

pub mod adjustment;
pub mod listing;
pub mod plan;
pub mod quota;
pub mod quota_upload;
pub mod statement;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use proto::commissions as pb;
use uuid::Uuid;

use crate::domain::period::{Period, PeriodKind};
use crate::domain::violations::Violations;
use crate::error::{Error, Result};

pub use adjustment::{adjustment_to_pb, dispute_to_pb};
pub use listing::{Paging, estimate_to_pb, period_filter_from_pb, quota_to_pb};
pub use plan::{new_version_from_pb, plan_to_pb, version_to_pb};
pub use quota::{attainment_to_pb, quota_from_pb};
pub use quota_upload::{rows_from_csv, upload_report_to_pb};
pub use statement::{
    audit_entry_to_pb, engine_line_to_pb, line_to_pb, recalculation_to_pb, statement_to_pb,
    status_from_pb, status_to_pb,
};

pub fn timestamp_to_pb(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A resource id; a malformed id names the field.
pub fn id_from_pb(field: &str, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

/// A UUID field checked among others (the caller names the field).
pub fn uuid_from_pb(raw: &str) -> std::result::Result<Uuid, &'static str> {
    Uuid::parse_str(raw).map_err(|_| "must be a UUID")
}

pub fn day_from_pb(raw: &str) -> std::result::Result<NaiveDate, &'static str> {
    if raw.is_empty() {
        return Err("is required");
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a date YYYY-MM-DD")
}

pub fn period_kind_from_pb(raw: i32) -> std::result::Result<PeriodKind, &'static str> {
    match pb::PeriodKind::try_from(raw) {
        Ok(pb::PeriodKind::Month) => Ok(PeriodKind::Month),
        Ok(pb::PeriodKind::Quarter) => Ok(PeriodKind::Quarter),
        Ok(pb::PeriodKind::Year) => Ok(PeriodKind::Year),
        _ => Err("must be PERIOD_KIND_MONTH, PERIOD_KIND_QUARTER or PERIOD_KIND_YEAR"),
    }
}

pub fn period_kind_to_pb(kind: PeriodKind) -> pb::PeriodKind {
    match kind {
        PeriodKind::Month => pb::PeriodKind::Month,
        PeriodKind::Quarter => pb::PeriodKind::Quarter,
        PeriodKind::Year => pb::PeriodKind::Year,
    }
}

/// A period named by kind and first day (periods start on the first of a month; which months
/// depends on the plan's fiscal year).
pub fn period_from_pb(v: &mut Violations, kind: i32, start: &str) -> Option<Period> {
    let kind = v.check("period", period_kind_from_pb(kind));
    let start = v.check("period_start", day_from_pb(start));
    let (kind, start) = (kind?, start?);
    if start.day() != 1 {
        v.add("period_start", "must be the first day of a month");
        return None;
    }
    Some(Period { kind, start })
}

/// Unwraps values a [`Violations::finish`] just vouched for.
pub fn validated<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::Internal("validated field missing".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_starts_on_the_first_of_a_month() {
        let mut v = Violations::new();
        let period = period_from_pb(&mut v, pb::PeriodKind::Quarter as i32, "2026-04-01");
        assert_eq!(
            period,
            Some(Period {
                kind: PeriodKind::Quarter,
                start: NaiveDate::from_ymd_opt(2026, 4, 1).expect("date"),
            })
        );
        assert!(v.finish().is_ok());

        let mut v = Violations::new();
        assert_eq!(
            period_from_pb(&mut v, pb::PeriodKind::Month as i32, "2026-04-02"),
            None
        );
        let fields: Vec<String> = v
            .finish()
            .expect_err("mid-month")
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["period_start"]);
    }

    #[test]
    fn an_unknown_period_kind_and_a_bad_day_are_both_named() {
        let mut v = Violations::new();
        assert_eq!(period_from_pb(&mut v, 0, "01/04/2026"), None);
        let fields: Vec<String> = v
            .finish()
            .expect_err("invalid")
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["period", "period_start"]);
    }

    #[test]
    fn period_kinds_round_trip() {
        for kind in [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year] {
            assert_eq!(
                period_kind_from_pb(period_kind_to_pb(kind) as i32),
                Ok(kind)
            );
        }
    }
}
