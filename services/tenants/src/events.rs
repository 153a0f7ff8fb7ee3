//! The events the tenants service publishes, built from domain values, written to the outbox in
//! the same transaction as the change (see the store).

use ::events::NewEvent;
use chrono::NaiveDate;
use proto::tenants as pb;
use uuid::Uuid;

use crate::api::convert;
use crate::domain::exchange_rate::{self, ExchangeRate};
use crate::domain::tenant::Tenant;
use crate::domain::user::User;
use crate::error::Result;

pub const TENANT_PROVISIONED: &str = "tenants.tenant.provisioned";
pub const TENANT_UPDATED: &str = "tenants.tenant.updated";
pub const TENANT_SUSPENDED: &str = "tenants.tenant.suspended";
pub const TENANT_REACTIVATED: &str = "tenants.tenant.reactivated";
pub const USER_CREATED: &str = "tenants.user.created";
pub const USER_UPDATED: &str = "tenants.user.updated";
pub const USER_DEACTIVATED: &str = "tenants.user.deactivated";

fn tenant_event<M: prost::Name>(
    event_type: &str,
    tenant: &Tenant,
    payload: &M,
) -> Result<NewEvent> {
    Ok(NewEvent::new(
        event_type, tenant.id, "tenant", tenant.id, payload,
    )?)
}

fn user_event<M: prost::Name>(event_type: &str, user: &User, payload: &M) -> Result<NewEvent> {
    Ok(NewEvent::new(
        event_type,
        user.tenant_id,
        "user",
        user.id,
        payload,
    )?)
}

pub fn tenant_provisioned(tenant: &Tenant, admin: &User) -> Result<Vec<NewEvent>> {
    let payload = pb::TenantProvisioned {
        tenant: Some(convert::tenant(tenant.clone())),
        admin: Some(convert::user(admin.clone())),
    };
    // The admin is also a user like any other: consumers that project users need no special case.
    Ok(vec![
        tenant_event(TENANT_PROVISIONED, tenant, &payload)?,
        user_created(admin)?,
    ])
}

pub fn tenant_updated(tenant: &Tenant, changed_fields: Vec<String>) -> Result<NewEvent> {
    let payload = pb::TenantUpdated {
        tenant: Some(convert::tenant(tenant.clone())),
        changed_fields,
    };
    tenant_event(TENANT_UPDATED, tenant, &payload)
}

pub fn tenant_suspended(tenant: &Tenant, reason: String) -> Result<NewEvent> {
    let payload = pb::TenantSuspended {
        tenant: Some(convert::tenant(tenant.clone())),
        reason,
    };
    tenant_event(TENANT_SUSPENDED, tenant, &payload)
}

pub fn tenant_reactivated(tenant: &Tenant) -> Result<NewEvent> {
    let payload = pb::TenantReactivated {
        tenant: Some(convert::tenant(tenant.clone())),
    };
    tenant_event(TENANT_REACTIVATED, tenant, &payload)
}

pub fn user_created(user: &User) -> Result<NewEvent> {
    user_event(
        USER_CREATED,
        user,
        &pb::UserCreated {
            user: Some(convert::user(user.clone())),
        },
    )
}

pub fn user_updated(user: &User, changed_fields: Vec<String>) -> Result<NewEvent> {
    user_event(
        USER_UPDATED,
        user,
        &pb::UserUpdated {
            user: Some(convert::user(user.clone())),
            changed_fields,
        },
    )
}

pub fn user_deactivated(user: &User) -> Result<NewEvent> {
    user_event(
        USER_DEACTIVATED,
        user,
        &pb::UserDeactivated {
            user: Some(convert::user(user.clone())),
        },
    )
}

pub const EXCHANGE_RATE_SET: &str = "tenants.exchange_rate.set";
pub const EXCHANGE_RATE_DELETED: &str = "tenants.exchange_rate.deleted";

pub fn exchange_rate_set(rate: &ExchangeRate) -> Result<NewEvent> {
    let payload = pb::ExchangeRateSet {
        exchange_rate: Some(convert::exchange_rate(rate.clone())),
    };
    Ok(NewEvent::new(
        EXCHANGE_RATE_SET,
        rate.tenant_id,
        "exchange_rate",
        exchange_rate::key(&rate.currency_code, rate.effective_date),
        &payload,
    )?)
}

pub fn exchange_rate_deleted(
    tenant_id: Uuid,
    currency_code: &str,
    effective_date: NaiveDate,
) -> Result<NewEvent> {
    let payload = pb::ExchangeRateDeleted {
        currency_code: currency_code.to_owned(),
        effective_date: effective_date.to_string(),
    };
    Ok(NewEvent::new(
        EXCHANGE_RATE_DELETED,
        tenant_id,
        "exchange_rate",
        exchange_rate::key(currency_code, effective_date),
        &payload,
    )?)
}
