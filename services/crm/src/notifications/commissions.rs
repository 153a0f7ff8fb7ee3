//! Notifications from the commissions service's events: a rep hears when their statement is
//! approved or paid and when a dispute they raised is resolved.
//!
//! [`SOURCES`] maps an event type to the notification it makes; a new producer is one row there
//! (its routing key is bound from the same table). The effect is idempotent twice over: the
//! consumer records each event id, and the notification's `source_key` is the event id.

use events::{Event, HandlerError};
use proto::commissions as pb;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::domain::notification::{NewNotification, NotificationKind, title};
use crate::store::notifications;

/// Builds the notification an event makes (its kind comes from the row), or `None` when it
/// concerns nobody this service knows.
type Build = fn(&Event, NotificationKind) -> Result<Option<NewNotification>, HandlerError>;

pub struct Source {
    pub event_type: &'static str,
    pub kind: NotificationKind,
    build: Build,
}

pub const SOURCES: &[Source] = &[
    Source {
        event_type: "commissions.statement.approved",
        kind: NotificationKind::CommissionStatementApproved,
        build: statement,
    },
    Source {
        event_type: "commissions.statement.paid",
        kind: NotificationKind::CommissionStatementPaid,
        build: statement,
    },
    Source {
        event_type: "commissions.dispute.resolved",
        kind: NotificationKind::CommissionDisputeResolved,
        build: dispute,
    },
];

/// The routing keys to bind: every source's event type.
pub fn bindings() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|s| s.event_type)
}

fn participant(raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw)
        .map_err(|_| HandlerError::permanent(format!("participant id {raw:?} is no uuid")))
}

fn period_name(raw: i32) -> &'static str {
    match pb::PeriodKind::try_from(raw) {
        Ok(pb::PeriodKind::Month) => "month",
        Ok(pb::PeriodKind::Quarter) => "quarter",
        Ok(pb::PeriodKind::Year) => "year",
        _ => "period",
    }
}

fn statement(
    event: &Event,
    kind: NotificationKind,
) -> Result<Option<NewNotification>, HandlerError> {
    let changed: pb::StatementStatusChanged = event.payload().map_err(HandlerError::permanent)?;
    let verb = if kind == NotificationKind::CommissionStatementPaid {
        "paid"
    } else {
        "approved"
    };
    let period = period_name(changed.period);
    Ok(Some(NewNotification {
        user_id: participant(&changed.participant_id)?,
        kind,
        title: title(
            &format!("Commission statement {verb}: "),
            &format!("{period} from {}", changed.period_start),
        ),
        body: String::new(),
        subject_type: "commission_statement".to_owned(),
        // The statement is named by its period: `<month|quarter|year>/<first day>`.
        subject_id: format!("{period}/{}", changed.period_start),
        source_key: Some(event.id.to_string()),
    }))
}

fn dispute(event: &Event, kind: NotificationKind) -> Result<Option<NewNotification>, HandlerError> {
    let resolved: pb::DisputeResolved = event.payload().map_err(HandlerError::permanent)?;
    let Some(dispute) = resolved.dispute else {
        return Err(HandlerError::permanent(
            "dispute.resolved without a dispute",
        ));
    };
    Ok(Some(NewNotification {
        user_id: participant(&resolved.participant_id)?,
        kind,
        title: title("Commission dispute resolved: ", &dispute.comment),
        body: dispute.resolution,
        subject_type: "commission_dispute".to_owned(),
        subject_id: dispute.id,
        source_key: Some(event.id.to_string()),
    }))
}

/// Writes the notification `event` makes, if its type is a source; other events are ignored.
pub async fn handle(
    event: &Event,
    tx: &mut Transaction<'static, Postgres>,
) -> Result<(), HandlerError> {
    let Some(source) = SOURCES.iter().find(|s| s.event_type == event.event_type()) else {
        return Ok(());
    };
    if let Some(notification) = (source.build)(event, source.kind)? {
        notifications::insert(tx, event.tenant_id, &notification)
            .await
            .map_err(HandlerError::transient)?;
    }
    Ok(())
}
