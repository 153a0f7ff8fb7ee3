//! Consumes the commissions service's quota events into the CRM's quota projection, for the
//! forecast's quota and gap per rep. Ignores events older than what it holds.

use chrono::NaiveDate;
use events::{Event, HandlerError};
use proto::commissions as pb;
use uuid::Uuid;

use crate::store::{Tx, quotas};

/// Queue bindings of the quota events.
pub const BINDING: &str = "commissions.quota.*";

pub async fn handle(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let change = match event.event_type() {
        "commissions.quota.set" => {
            let set: pb::QuotaSet = event.payload().map_err(HandlerError::permanent)?;
            let quota = set
                .quota
                .ok_or_else(|| HandlerError::permanent("quota is missing"))?;
            quotas::QuotaChange {
                user_id: parse_user(&quota.user_id)?,
                period_kind: kind_name(quota.period)?,
                period_start: parse_day(&quota.period_start)?,
                period_end: parse_day(&set.period_end)?,
                amount: Some((quota.currency_code, quota.amount_minor)),
            }
        }
        "commissions.quota.deleted" => {
            let deleted: pb::QuotaDeleted = event.payload().map_err(HandlerError::permanent)?;
            let start = parse_day(&deleted.period_start)?;
            quotas::QuotaChange {
                user_id: parse_user(&deleted.user_id)?,
                period_kind: kind_name(deleted.period)?,
                period_start: start,
                period_end: start,
                amount: None,
            }
        }
        _ => return Ok(()),
    };
    quotas::apply(tx, event.tenant_id, &change, event.occurred_at).await?;
    Ok(())
}

fn parse_user(raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw).map_err(|_| HandlerError::permanent(format!("user id {raw:?}")))
}

fn parse_day(raw: &str) -> Result<NaiveDate, HandlerError> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| HandlerError::permanent(format!("date {raw:?}")))
}

fn kind_name(raw: i32) -> Result<&'static str, HandlerError> {
    match pb::PeriodKind::try_from(raw) {
        Ok(pb::PeriodKind::Month) => Ok("month"),
        Ok(pb::PeriodKind::Quarter) => Ok("quarter"),
        Ok(pb::PeriodKind::Year) => Ok("year"),
        _ => Err(HandlerError::permanent(format!("period kind {raw}"))),
    }
}
