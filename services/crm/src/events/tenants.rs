//! Consumes the tenants service's events: a provisioned tenant gets its default pipeline, a
//! suspended tenant is locked out, users are projected (manager, role, active) for record
//! visibility, and a deactivated user's records are handed over per tenant policy. Idempotency comes from
//! `events::Consumer`; the projection also ignores events older than what it holds.

use async_trait::async_trait;
use events::{Event, Handler, HandlerError};
use proto::tenants as pb;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::store::{cases, handover, pipelines, tenant_state, users};

/// Queue bindings of the handler.
pub const BINDINGS: &[&str] = &["tenants.tenant.*", "tenants.user.*"];

pub struct TenantsHandler;

#[async_trait]
impl Handler for TenantsHandler {
    async fn handle(
        &self,
        event: &Event,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), HandlerError> {
        let user = match event.event_type() {
            "tenants.tenant.provisioned" => {
                let provisioned: pb::TenantProvisioned =
                    event.payload().map_err(HandlerError::permanent)?;
                pipelines::ensure_default(tx, event.tenant_id).await?;
                if let Some(zone) = time_zone(provisioned.tenant.as_ref()) {
                    cases::follow_tenant_time_zone(tx, event.tenant_id, zone).await?;
                }
                provisioned.admin
            }
            "tenants.tenant.suspended" => {
                tenant_state::set_suspended(tx, event.tenant_id, true, event.occurred_at).await?;
                None
            }
            "tenants.tenant.reactivated" => {
                tenant_state::set_suspended(tx, event.tenant_id, false, event.occurred_at).await?;
                None
            }
            "tenants.tenant.updated" => {
                let updated: pb::TenantUpdated =
                    event.payload().map_err(HandlerError::permanent)?;
                let settings_changed = updated
                    .changed_fields
                    .iter()
                    .any(|f| f == "settings" || f == "settings.timezone");
                if settings_changed && let Some(zone) = time_zone(updated.tenant.as_ref()) {
                    cases::follow_tenant_time_zone(tx, event.tenant_id, zone).await?;
                }
                None
            }
            "tenants.user.created" => {
                let created: pb::UserCreated = event.payload().map_err(HandlerError::permanent)?;
                created.user
            }
            "tenants.user.updated" => {
                let updated: pb::UserUpdated = event.payload().map_err(HandlerError::permanent)?;
                updated.user
            }
            "tenants.user.deactivated" => {
                let deactivated: pb::UserDeactivated =
                    event.payload().map_err(HandlerError::permanent)?;
                deactivated.user.map(|u| pb::User { active: false, ..u })
            }
            // Other tenants events (e.g. a future tenants.user.logged_in) are not ours to apply.
            other => {
                tracing::debug!(event_type = other, "ignoring event");
                None
            }
        };
        if let Some(user) = user {
            let projected = project(event.tenant_id, &user).map_err(HandlerError::permanent)?;
            users::upsert(tx, event.tenant_id, &projected, event.occurred_at).await?;
            // Only if the projection agrees: a late event never hands over an active user's work.
            if event.event_type() == "tenants.user.deactivated"
                && users::is_active(tx, projected.user_id).await? == Some(false)
            {
                handover::on_deactivated(tx, event.tenant_id, projected.user_id).await?;
            }
        }
        Ok(())
    }
}

/// The tenant's IANA time zone, when its settings name one.
fn time_zone(tenant: Option<&pb::Tenant>) -> Option<&str> {
    tenant
        .and_then(|t| t.settings.as_ref())
        .map(|s| s.timezone.as_str())
        .filter(|z| !z.is_empty())
}

/// The user as the CRM keeps it; a user of another tenant than the event's is refused.
fn project(tenant_id: Uuid, user: &pb::User) -> Result<users::ProjectedUser, String> {
    let user_id = Uuid::parse_str(&user.id).map_err(|_| format!("user id {:?}", user.id))?;
    if !user.tenant_id.is_empty() && user.tenant_id != tenant_id.to_string() {
        return Err(format!(
            "user {user_id} belongs to another tenant than the event"
        ));
    }
    let manager_id = if user.manager_id.is_empty() {
        None
    } else {
        Some(
            Uuid::parse_str(&user.manager_id)
                .map_err(|_| format!("manager id {:?}", user.manager_id))?,
        )
    };
    let role = pb::Role::try_from(user.role)
        .ok()
        .filter(|r| *r != pb::Role::Unspecified)
        .ok_or_else(|| format!("user {user_id} has no known role"))?;
    Ok(users::ProjectedUser {
        user_id,
        manager_id,
        role: role.as_str_name().to_owned(),
        active: user.active,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_projected_with_manager_and_role() {
        let (tenant, user, manager) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let projected = project(
            tenant,
            &pb::User {
                id: user.to_string(),
                tenant_id: tenant.to_string(),
                role: pb::Role::SalesRep as i32,
                manager_id: manager.to_string(),
                active: true,
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(
            projected,
            users::ProjectedUser {
                user_id: user,
                manager_id: Some(manager),
                role: "ROLE_SALES_REP".to_owned(),
                active: true,
            }
        );
    }

    #[test]
    fn foreign_or_malformed_users_are_refused() {
        let tenant = Uuid::now_v7();
        let other = pb::User {
            id: Uuid::now_v7().to_string(),
            tenant_id: Uuid::now_v7().to_string(),
            role: pb::Role::Admin as i32,
            ..Default::default()
        };
        assert!(project(tenant, &other).is_err());
        let no_role = pb::User {
            id: Uuid::now_v7().to_string(),
            ..Default::default()
        };
        assert!(project(tenant, &no_role).is_err());
        let bad_id = pb::User {
            id: "nope".into(),
            role: pb::Role::Admin as i32,
            ..Default::default()
        };
        assert!(project(tenant, &bad_id).is_err());
    }
}
