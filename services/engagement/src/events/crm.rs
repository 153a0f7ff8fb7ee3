//! Keeps `engagement_records` (owners for visibility, accounts for rollups, open deals for the
//! pipeline at risk) current from the CRM's record events: accounts, contacts, leads and
//! opportunities created, updated and deleted, deals moved, won, lost and reopened, and the
//! records a lead conversion creates.

use events::{Event, HandlerError};
use proto::crm as pb;
use uuid::Uuid;

use crate::domain::RecordType;
use crate::domain::record::KnownRecord;
use crate::store::Tx;
use crate::store::records::{self, DealAmount, Projected};
use crate::store::sankey::{self, Move};

pub async fn project(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let event_type = event.event_type();
    if event_type == "crm.lead.converted" {
        let converted: pb::LeadConverted = event.payload().map_err(HandlerError::permanent)?;
        let records = [
            converted.lead.map(pb::record_changed::Record::Lead),
            converted.account.map(pb::record_changed::Record::Account),
            converted.contact.map(pb::record_changed::Record::Contact),
            converted
                .opportunity
                .map(pb::record_changed::Record::Opportunity),
        ];
        for record in records.into_iter().flatten() {
            apply(event, tx, &record, false).await?;
        }
        return Ok(());
    }
    let moved = match event_type {
        "crm.opportunity.stage_changed" => {
            let moved: pb::OpportunityStageChanged =
                event.payload().map_err(HandlerError::permanent)?;
            record_stage_move(event, tx, &moved).await?;
            moved.opportunity
        }
        "crm.opportunity.won" | "crm.opportunity.lost" => {
            let closed: pb::OpportunityClosed = event.payload().map_err(HandlerError::permanent)?;
            closed.opportunity
        }
        "crm.opportunity.reopened" => {
            let reopened: pb::OpportunityReopened =
                event.payload().map_err(HandlerError::permanent)?;
            reopened.opportunity
        }
        _ => None,
    };
    if let Some(opportunity) = moved {
        let record = pb::record_changed::Record::Opportunity(opportunity);
        return apply(event, tx, &record, false).await;
    }
    let verb = event_type.rsplit('.').next().unwrap_or_default();
    let is_record = [
        "crm.account.",
        "crm.contact.",
        "crm.lead.",
        "crm.opportunity.",
    ]
    .iter()
    .any(|prefix| event_type.starts_with(prefix));
    if !is_record || !matches!(verb, "created" | "updated" | "deleted") {
        return Ok(());
    }
    let changed: pb::RecordChanged = event.payload().map_err(HandlerError::permanent)?;
    if let Some(record) = &changed.record {
        apply(event, tx, record, verb == "deleted").await?;
    }
    Ok(())
}

/// A record's projection row: its type, id, owner and account.
fn projected(
    record: &pb::record_changed::Record,
) -> Result<(Projected, Uuid, KnownRecord), String> {
    use pb::record_changed::Record;
    let (record_type, id, owner, account) = match record {
        Record::Account(a) => (
            Projected::Touched(RecordType::Account),
            &a.id,
            &a.owner_id,
            "",
        ),
        Record::Contact(c) => (
            Projected::Touched(RecordType::Contact),
            &c.id,
            &c.owner_id,
            c.account_id.as_str(),
        ),
        Record::Lead(l) => (Projected::Touched(RecordType::Lead), &l.id, &l.owner_id, ""),
        Record::Opportunity(o) => (
            Projected::Opportunity,
            &o.id,
            &o.owner_id,
            o.account_id.as_str(),
        ),
    };
    let id = Uuid::parse_str(id).map_err(|_| format!("record id {id:?}"))?;
    let optional = |raw: &str| {
        if raw.is_empty() {
            Ok(None)
        } else {
            Uuid::parse_str(raw)
                .map(Some)
                .map_err(|_| format!("id {raw:?}"))
        }
    };
    Ok((
        record_type,
        id,
        KnownRecord {
            owner_id: optional(owner)?,
            account_id: optional(account)?,
        },
    ))
}

async fn apply(
    event: &Event,
    tx: &mut Tx,
    record: &pb::record_changed::Record,
    deleted: bool,
) -> Result<(), HandlerError> {
    let (record_type, id, known) = projected(record).map_err(HandlerError::permanent)?;
    let deal = match record {
        pb::record_changed::Record::Opportunity(o) => Some(DealAmount {
            // The CRM's state is `open`, `won` or `lost`.
            open: o.state.is_empty() || o.state == "open",
            amount: o
                .amount
                .as_ref()
                .map(|m| (m.currency_code.clone(), m.units, m.nanos)),
        }),
        _ => None,
    };
    // A lead's status before this event, to see a move from it.
    let lead_status = match record {
        pb::record_changed::Record::Lead(lead) if !deleted => Some((
            sankey::lead_status(tx, id).await?,
            pb::LeadStatus::try_from(lead.status)
                .map(|s| s.as_str_name())
                .unwrap_or_default(),
        )),
        _ => None,
    };
    if deleted {
        records::delete(tx, event.tenant_id, record_type, id, event.occurred_at).await?;
    } else {
        records::upsert(
            tx,
            event.tenant_id,
            record_type,
            id,
            known,
            deal.as_ref(),
            event.occurred_at,
        )
        .await?;
    }
    if let Some((before, now)) = lead_status.filter(|(_, now)| !now.is_empty()) {
        if let Some(before) = before.filter(|before| before != now) {
            let lead_move = Move {
                event_id: event.id,
                flow: "lead",
                record_id: id,
                owner_id: known.owner_id,
                from: before,
                to: now.to_owned(),
                lost: now == pb::LeadStatus::Disqualified.as_str_name(),
                amount: None,
                at: event.occurred_at,
            };
            sankey::record(tx, event.tenant_id, &lead_move).await?;
        }
        sankey::set_lead_status(tx, id, now).await?;
    }
    Ok(())
}

/// A deal's move between stages, with its amount and whether it was lost.
async fn record_stage_move(
    event: &Event,
    tx: &mut Tx,
    moved: &pb::OpportunityStageChanged,
) -> Result<(), HandlerError> {
    let Some(opportunity) = &moved.opportunity else {
        return Ok(());
    };
    let record_id = Uuid::parse_str(&opportunity.id)
        .map_err(|_| HandlerError::permanent(format!("opportunity id {:?}", opportunity.id)))?;
    let stage_move = Move {
        event_id: event.id,
        flow: "opportunity",
        record_id,
        owner_id: Uuid::parse_str(&opportunity.owner_id).ok(),
        from: moved.from_stage_id.clone(),
        to: moved.to_stage_id.clone(),
        lost: opportunity.state == "lost",
        amount: opportunity
            .amount
            .as_ref()
            .map(|m| (m.currency_code.clone(), m.units, m.nanos)),
        at: event.occurred_at,
    };
    sankey::record(tx, event.tenant_id, &stage_move).await?;
    Ok(())
}
