//! The tenants service's users, projected (manager, role, active) for visibility and quotas,
//! and its tenants (name and fiscal year for statements, suspension for refusing requests).
//! The projections ignore events older than what they hold.

use events::{Event, HandlerError};
use proto::tenants as pb;
use uuid::Uuid;

use crate::store::{Tx, tenant_state, users};

pub async fn handle(event: &Event, tx: &mut Tx) -> Result<(), HandlerError> {
    let user = match event.event_type() {
        "tenants.tenant.provisioned" => {
            let provisioned: pb::TenantProvisioned =
                event.payload().map_err(HandlerError::permanent)?;
            if let Some(tenant) = &provisioned.tenant {
                upsert_tenant(tx, event, tenant).await?;
            }
            provisioned.admin
        }
        // A suspended tenant's requests are refused from the next transaction on.
        "tenants.tenant.suspended" => {
            tenant_state::set_suspended(tx, event.tenant_id, true, event.occurred_at).await?;
            None
        }
        "tenants.tenant.reactivated" => {
            tenant_state::set_suspended(tx, event.tenant_id, false, event.occurred_at).await?;
            None
        }
        "tenants.tenant.updated" => {
            let updated: pb::TenantUpdated = event.payload().map_err(HandlerError::permanent)?;
            if let Some(tenant) = &updated.tenant {
                upsert_tenant(tx, event, tenant).await?;
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
        // Other tenants events are not ours to apply.
        other => {
            tracing::debug!(event_type = other, "ignoring event");
            None
        }
    };
    if let Some(user) = user {
        let projected = project(event.tenant_id, &user).map_err(HandlerError::permanent)?;
        users::upsert(tx, event.tenant_id, &projected, event.occurred_at).await?;
    }
    Ok(())
}

/// The tenant's name and fiscal year (a month outside 1-12 means the default, January).
async fn upsert_tenant(
    tx: &mut Tx,
    event: &Event,
    tenant: &pb::Tenant,
) -> Result<(), HandlerError> {
    let fiscal = tenant
        .settings
        .as_ref()
        .and_then(|s| u32::try_from(s.fiscal_year_start_month).ok())
        .filter(|m| (1..=12).contains(m))
        .unwrap_or(1);
    users::upsert_tenant(
        tx,
        event.tenant_id,
        &tenant.display_name,
        fiscal,
        event.occurred_at,
    )
    .await?;
    Ok(())
}

/// The user as commissions keeps it; a user of another tenant than the event's is refused.
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
