//! The four records (accounts, contacts, leads, opportunities) and pipelines.

use proto::crm as pb;

use super::{custom_values_to_pb, money_to_pb, optional_id_to_pb, timestamp_to_pb};
use crate::domain::account::{Account, Address};
use crate::domain::contact::{Consent, Contact};
use crate::domain::lead::{Lead, LeadRating, LeadStatus};
use crate::domain::lost_reason::LostReason;
use crate::domain::opportunity::{CreditSplit, Opportunity, StageChange};
use crate::domain::pipeline::{Pipeline, Stage, StageCategory};
use crate::domain::{day, forecast};

fn address_to_pb(a: Address) -> pb::Address {
    pb::Address {
        street: a.street,
        city: a.city,
        region: a.region,
        postal_code: a.postal_code,
        country_code: a.country_code,
    }
}

pub fn account_to_pb(a: Account) -> pb::Account {
    let d = a.data;
    pb::Account {
        id: a.id.to_string(),
        name: d.name,
        domain: d.domain,
        industry: d.industry,
        employee_count: d.employee_count,
        annual_revenue: d.annual_revenue.map(money_to_pb),
        billing_address: Some(address_to_pb(d.billing_address)),
        shipping_address: Some(address_to_pb(d.shipping_address)),
        parent_account_id: optional_id_to_pb(d.parent_account_id),
        owner_id: d.owner_id.to_string(),
        create_time: Some(timestamp_to_pb(a.created_at)),
        update_time: Some(timestamp_to_pb(a.updated_at)),
        custom_fields: custom_values_to_pb(d.custom_fields),
    }
}

fn consent_to_pb(c: Consent) -> pb::Consent {
    pb::Consent {
        granted: c.granted,
        update_time: c.updated_at.map(timestamp_to_pb),
        source: c.source,
    }
}

pub fn contact_to_pb(c: Contact) -> pb::Contact {
    let d = c.data;
    pb::Contact {
        id: c.id.to_string(),
        first_name: d.first_name,
        last_name: d.last_name,
        emails: d.emails,
        phones: d.phones,
        title: d.title,
        account_id: optional_id_to_pb(d.account_id),
        owner_id: d.owner_id.to_string(),
        email_consent: Some(consent_to_pb(d.email_consent)),
        phone_consent: Some(consent_to_pb(d.phone_consent)),
        create_time: Some(timestamp_to_pb(c.created_at)),
        update_time: Some(timestamp_to_pb(c.updated_at)),
        custom_fields: custom_values_to_pb(d.custom_fields),
    }
}

pub fn lead_status_to_pb(s: LeadStatus) -> pb::LeadStatus {
    match s {
        LeadStatus::New => pb::LeadStatus::New,
        LeadStatus::Working => pb::LeadStatus::Working,
        LeadStatus::Qualified => pb::LeadStatus::Qualified,
        LeadStatus::Disqualified => pb::LeadStatus::Disqualified,
        LeadStatus::Converted => pb::LeadStatus::Converted,
    }
}

pub fn lead_rating_to_pb(r: LeadRating) -> pb::LeadRating {
    match r {
        LeadRating::Unspecified => pb::LeadRating::Unspecified,
        LeadRating::Cold => pb::LeadRating::Cold,
        LeadRating::Warm => pb::LeadRating::Warm,
        LeadRating::Hot => pb::LeadRating::Hot,
    }
}

pub fn lead_to_pb(l: Lead) -> pb::Lead {
    let d = l.data;
    let converted = l.converted;
    pb::Lead {
        id: l.id.to_string(),
        first_name: d.first_name,
        last_name: d.last_name,
        email: d.email,
        phone: d.phone,
        company: d.company,
        title: d.title,
        source: d.source,
        country_code: d.country_code,
        employee_count: d.employee_count,
        status: lead_status_to_pb(d.status) as i32,
        rating: lead_rating_to_pb(d.rating) as i32,
        score: d.score,
        owner_id: d.owner_id.to_string(),
        converted_account_id: optional_id_to_pb(converted.as_ref().map(|c| c.account_id)),
        converted_contact_id: optional_id_to_pb(converted.as_ref().map(|c| c.contact_id)),
        converted_opportunity_id: optional_id_to_pb(
            converted.as_ref().and_then(|c| c.opportunity_id),
        ),
        convert_time: converted.map(|c| timestamp_to_pb(c.converted_at)),
        create_time: Some(timestamp_to_pb(l.created_at)),
        update_time: Some(timestamp_to_pb(l.updated_at)),
        custom_fields: custom_values_to_pb(d.custom_fields),
    }
}

pub fn stage_category_to_pb(c: StageCategory) -> pb::StageCategory {
    match c {
        StageCategory::Open => pb::StageCategory::Open,
        StageCategory::Won => pb::StageCategory::Won,
        StageCategory::Lost => pb::StageCategory::Lost,
    }
}

pub fn stage_to_pb(s: Stage) -> pb::Stage {
    pb::Stage {
        id: s.id.to_string(),
        name: s.name,
        probability: s.probability,
        category: stage_category_to_pb(s.category) as i32,
        position: s.position,
        archived: s.archived,
    }
}

pub fn pipeline_to_pb(p: Pipeline) -> pb::Pipeline {
    pb::Pipeline {
        id: p.id.to_string(),
        name: p.name,
        is_default: p.is_default,
        stages: p.stages.into_iter().map(stage_to_pb).collect(),
        create_time: Some(timestamp_to_pb(p.created_at)),
        archived: p.archived,
    }
}

pub fn lost_reason_to_pb(r: LostReason) -> pb::LostReason {
    pb::LostReason {
        id: r.id.to_string(),
        label: r.label,
        position: r.position,
        archived: r.archived,
    }
}

pub fn split_to_pb(s: CreditSplit) -> pb::CreditSplit {
    pb::CreditSplit {
        user_id: s.user_id.to_string(),
        percent: s.percent,
    }
}

pub fn opportunity_to_pb(o: Opportunity) -> pb::Opportunity {
    let d = o.data;
    pb::Opportunity {
        id: o.id.to_string(),
        name: d.name,
        amount: d.amount.map(money_to_pb),
        close_date: day::format(d.close_date),
        pipeline_id: o.pipeline_id.to_string(),
        stage_id: o.stage.id.to_string(),
        owner_id: d.owner_id.to_string(),
        account_id: optional_id_to_pb(d.account_id),
        primary_contact_id: optional_id_to_pb(d.primary_contact_id),
        lost_reason: d.lost_reason,
        splits: d.splits.into_iter().map(split_to_pb).collect(),
        probability: o.stage.probability,
        state: o.stage.category.as_str().to_owned(),
        create_time: Some(timestamp_to_pb(o.created_at)),
        update_time: Some(timestamp_to_pb(o.updated_at)),
        stage_change_time: Some(timestamp_to_pb(o.stage_entered_at)),
        custom_fields: custom_values_to_pb(d.custom_fields),
        forecast_category: d
            .forecast_category
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default(),
        effective_forecast_category: forecast::effective(
            o.stage.category,
            o.stage.probability,
            d.forecast_category,
        )
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default(),
    }
}

pub fn stage_change_to_pb(c: StageChange) -> pb::StageChange {
    pb::StageChange {
        from_stage_id: optional_id_to_pb(c.from_stage_id),
        to_stage_id: c.to_stage_id.to_string(),
        changed_by: c.changed_by.to_string(),
        change_time: Some(timestamp_to_pb(c.changed_at)),
        seconds_in_stage: c.seconds_in_stage,
    }
}
