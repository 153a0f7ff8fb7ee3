//! From the platform's events to touches: one row per event type. A new producer (telephony's
//! calls, email's opens, billing's invoices) is one more row here; its event type is bound to
//! the queue from this table.

use events::{Event, HandlerError};
use proto::crm as pb;
use uuid::Uuid;

use crate::domain::record::KnownRecord;
use crate::domain::touch::{Attribution, NewTouch};
use crate::domain::{Kind, RecordRef, RecordType};
use crate::store::{Tx, models, records, touches};

/// A touched record is usually projected before its touch arrives; events of different records
/// travel independently, so a touch on a record not projected yet is retried this many times
/// before it is dropped (with a warning).
const UNKNOWN_RECORD_ATTEMPTS: u32 = 4;

/// What an event touches: a record, or a deal whose account it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Record(RecordRef),
    Opportunity(Uuid),
}

/// A touch read from an event, before its record is resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced {
    pub kind: Kind,
    pub target: Target,
    pub user_id: Option<Uuid>,
    pub channel: &'static str,
}

/// One row of the table: the event type and how its payload becomes a touch (`None`: this
/// event is no touch, e.g. a logged note).
pub struct Mapping {
    pub event_type: &'static str,
    pub touch: fn(&Event) -> Result<Option<Sourced>, HandlerError>,
}

pub const TOUCHES: &[Mapping] = &[
    Mapping {
        event_type: "crm.activity.logged",
        touch: activity,
    },
    Mapping {
        event_type: "crm.quote.sent",
        touch: |event| quote(event, Kind::QuoteSent),
    },
    Mapping {
        event_type: "crm.quote.accepted",
        touch: |event| quote(event, Kind::QuoteAccepted),
    },
    Mapping {
        event_type: "crm.case.opened",
        touch: |event| case(event, Kind::CaseOpened),
    },
    Mapping {
        event_type: "crm.case.closed",
        touch: |event| case(event, Kind::CaseClosed),
    },
    Mapping {
        event_type: "crm.lead.converted",
        touch: lead_converted,
    },
];

fn optional_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

fn required_id(what: &str, raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw).map_err(|_| HandlerError::permanent(format!("{what} {raw:?}")))
}

/// A logged call, meeting or email on a lead, contact, account or deal.
fn activity(event: &Event) -> Result<Option<Sourced>, HandlerError> {
    let changed: pb::ActivityChanged = event.payload().map_err(HandlerError::permanent)?;
    let Some(activity) = changed.activity else {
        return Ok(None);
    };
    let (kind, channel) = match pb::ActivityKind::try_from(activity.kind) {
        Ok(pb::ActivityKind::Call) => (Kind::Call, "phone"),
        Ok(pb::ActivityKind::Meeting) => (Kind::Meeting, "meeting"),
        Ok(pb::ActivityKind::Email) => (Kind::EmailSent, "email"),
        _ => return Ok(None),
    };
    let Some(related) = activity.related_to else {
        return Ok(None);
    };
    let id = required_id("related record id", &related.id)?;
    let target = match pb::RecordType::try_from(related.r#type) {
        Ok(pb::RecordType::Lead) => Target::Record(RecordRef {
            record_type: RecordType::Lead,
            id,
        }),
        Ok(pb::RecordType::Contact) => Target::Record(RecordRef {
            record_type: RecordType::Contact,
            id,
        }),
        Ok(pb::RecordType::Account) => Target::Record(RecordRef {
            record_type: RecordType::Account,
            id,
        }),
        Ok(pb::RecordType::Opportunity) => Target::Opportunity(id),
        _ => return Ok(None),
    };
    Ok(Some(Sourced {
        kind,
        target,
        user_id: optional_id(&activity.owner_id).or_else(|| optional_id(&changed.actor_id)),
        channel,
    }))
}

/// A quote sent or accepted: a touch on its deal's account.
fn quote(event: &Event, kind: Kind) -> Result<Option<Sourced>, HandlerError> {
    let changed: pb::QuoteChanged = event.payload().map_err(HandlerError::permanent)?;
    let Some(quote) = changed.quote else {
        return Ok(None);
    };
    Ok(Some(Sourced {
        kind,
        target: Target::Opportunity(required_id("opportunity id", &quote.opportunity_id)?),
        user_id: optional_id(&changed.actor_id),
        channel: "quote",
    }))
}

/// A case opened or closed: a touch on its contact, else its account.
fn case(event: &Event, kind: Kind) -> Result<Option<Sourced>, HandlerError> {
    let changed: pb::CaseChanged = event.payload().map_err(HandlerError::permanent)?;
    let Some(case) = changed.case else {
        return Ok(None);
    };
    let record = match (optional_id(&case.contact_id), optional_id(&case.account_id)) {
        (Some(id), _) => RecordRef {
            record_type: RecordType::Contact,
            id,
        },
        (None, Some(id)) => RecordRef {
            record_type: RecordType::Account,
            id,
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(Sourced {
        kind,
        target: Target::Record(record),
        user_id: optional_id(&changed.actor_id),
        channel: "support",
    }))
}

/// A converted lead: a touch on the contact it became.
fn lead_converted(event: &Event) -> Result<Option<Sourced>, HandlerError> {
    let converted: pb::LeadConverted = event.payload().map_err(HandlerError::permanent)?;
    let Some(contact) = converted.contact else {
        return Ok(None);
    };
    Ok(Some(Sourced {
        kind: Kind::LeadConverted,
        target: Target::Record(RecordRef {
            record_type: RecordType::Contact,
            id: required_id("contact id", &contact.id)?,
        }),
        user_id: optional_id(&converted.actor_id),
        channel: "crm",
    }))
}

/// Records the touch `event` carries, if its type is in the table.
pub async fn record(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let Some(mapping) = TOUCHES.iter().find(|m| m.event_type == event.event_type()) else {
        return Ok(());
    };
    let Some(sourced) = (mapping.touch)(event)? else {
        return Ok(());
    };
    let record = match sourced.target {
        Target::Record(record) => Some(record),
        Target::Opportunity(deal) => {
            records::opportunity_account(tx, deal)
                .await?
                .map(|id| RecordRef {
                    record_type: RecordType::Account,
                    id,
                })
        }
    };
    let known: Option<(RecordRef, KnownRecord)> = match record {
        Some(record) => records::known(tx, &[record])
            .await?
            .get(&record)
            .map(|known| (record, *known)),
        None => None,
    };
    let Some((record, known)) = known else {
        if event.attempt < UNKNOWN_RECORD_ATTEMPTS {
            return Err(HandlerError::transient(format!(
                "the record of {} is not projected yet",
                event.event_type()
            )));
        }
        tracing::warn!(event_id = %event.id, event_type = event.event_type(), "touch on an unknown record dropped");
        return Ok(());
    };
    let model = models::load(tx).await?.model;
    let touch = NewTouch {
        // The event id: a redelivered or replayed event records nothing new.
        request_id: format!("event:{}", event.id),
        kind: sourced.kind,
        record,
        occurred_at: event.occurred_at,
        user_id: sourced.user_id,
        attribution: Attribution {
            channel: sourced.channel.to_owned(),
            source: event
                .event_type()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned(),
            ..Attribution::default()
        },
    };
    touches::record(tx, event.tenant_id, &model, vec![touch], &[known]).await?;
    Ok(())
}
