//! Domain → proto conversions.

use chrono::{DateTime, Utc};
use proto::tenants as pb;

use crate::domain::audit::AuditEvent;
use crate::domain::role::CustomRole;
use crate::domain::tenant::{Tenant, TenantStatus};
use crate::domain::user::User;

pub fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn role(role: auth::BuiltinRole) -> pb::Role {
    match role {
        auth::BuiltinRole::Admin => pb::Role::Admin,
        auth::BuiltinRole::Manager => pb::Role::Manager,
        auth::BuiltinRole::SalesRep => pb::Role::SalesRep,
        auth::BuiltinRole::Support => pb::Role::Support,
    }
}

/// A proto role value → built-in role; UNSPECIFIED and unknown numbers are not roles.
pub fn parse_role(value: i32) -> Result<auth::BuiltinRole, &'static str> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Admin) => Ok(auth::BuiltinRole::Admin),
        Ok(pb::Role::Manager) => Ok(auth::BuiltinRole::Manager),
        Ok(pb::Role::SalesRep) => Ok(auth::BuiltinRole::SalesRep),
        Ok(pb::Role::Support) => Ok(auth::BuiltinRole::Support),
        Ok(pb::Role::Unspecified) => {
            Err("is required (ROLE_ADMIN, ROLE_MANAGER, ROLE_SALES_REP or ROLE_SUPPORT)")
        }
        Err(_) => Err("is not a known role"),
    }
}

pub fn user(u: User) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        tenant_id: u.tenant_id.to_string(),
        email: u.email,
        display_name: u.display_name,
        role: role(u.role) as i32,
        custom_role_ids: u.custom_role_ids.iter().map(ToString::to_string).collect(),
        manager_id: u.manager_id.map(|m| m.to_string()).unwrap_or_default(),
        active: u.active,
        create_time: Some(timestamp(u.created_at)),
        update_time: Some(timestamp(u.updated_at)),
        last_login_time: u.last_login_at.map(timestamp),
    }
}

pub fn tenant(t: Tenant) -> pb::Tenant {
    pb::Tenant {
        id: t.id.to_string(),
        slug: t.slug,
        display_name: t.display_name,
        plan: t.plan,
        status: match t.status {
            TenantStatus::Active => pb::TenantStatus::Active,
            TenantStatus::Suspended => pb::TenantStatus::Suspended,
        } as i32,
        settings: Some(pb::TenantSettings {
            timezone: t.settings.timezone,
            currency_code: t.settings.currency_code,
            fiscal_year_start_month: i32::try_from(t.settings.fiscal_year_start_month).unwrap_or(1),
            locale: t.settings.locale,
        }),
        create_time: Some(timestamp(t.created_at)),
        update_time: Some(timestamp(t.updated_at)),
    }
}

pub fn custom_role(r: CustomRole) -> pb::CustomRole {
    pb::CustomRole {
        id: r.id.to_string(),
        name: r.name,
        description: r.description,
        permissions: r.permissions,
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
    }
}

pub fn exchange_rate(r: crate::domain::exchange_rate::ExchangeRate) -> pb::ExchangeRate {
    pb::ExchangeRate {
        currency_code: r.currency_code,
        effective_date: r.effective_date.to_string(),
        rate: fx::format_rate(r.rate),
        base_currency_code: r.base_currency_code,
        update_time: Some(timestamp(r.updated_at)),
    }
}

pub fn audit_event(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id.to_string(),
        kind: e.kind,
        user_id: e.user_id.map(|id| id.to_string()).unwrap_or_default(),
        actor: e.actor,
        details: e.details,
        ip: e.ip,
        user_agent: e.user_agent,
        occur_time: Some(timestamp(e.occurred_at)),
    }
}
