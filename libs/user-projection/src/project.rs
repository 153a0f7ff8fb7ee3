//! From a tenants event to the user it carries, and from a proto user to the projected one.

use events::{Event, HandlerError};
use proto::tenants as pb;
use uuid::Uuid;

/// A user as another service needs to know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedUser {
    pub user_id: Uuid,
    pub manager_id: Option<Uuid>,
    /// Built-in role name, e.g. `ROLE_MANAGER`.
    pub role: String,
    pub active: bool,
}

/// Why a user in an event cannot be projected (the event is then a permanent failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error("user id {0:?}")]
    UserId(String),
    #[error("user {0} belongs to another tenant than the event")]
    ForeignTenant(Uuid),
    #[error("manager id {0:?}")]
    ManagerId(String),
    #[error("user {0} has no known role")]
    NoRole(Uuid),
}

/// The user a `tenants.user.*` event carries (a deactivated one as inactive); `None` for other
/// events, which are not the projection's to apply.
pub fn user_of(event: &Event) -> Result<Option<pb::User>, HandlerError> {
    Ok(match event.event_type() {
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
        other => {
            tracing::debug!(event_type = other, "ignoring event");
            None
        }
    })
}

/// The user as the projection keeps it; a user of another tenant than the event's is refused.
pub fn project(tenant_id: Uuid, user: &pb::User) -> Result<ProjectedUser, ProjectionError> {
    let user_id =
        Uuid::parse_str(&user.id).map_err(|_| ProjectionError::UserId(user.id.clone()))?;
    if !user.tenant_id.is_empty() && user.tenant_id != tenant_id.to_string() {
        return Err(ProjectionError::ForeignTenant(user_id));
    }
    let manager_id = if user.manager_id.is_empty() {
        None
    } else {
        Some(
            Uuid::parse_str(&user.manager_id)
                .map_err(|_| ProjectionError::ManagerId(user.manager_id.clone()))?,
        )
    };
    let role = pb::Role::try_from(user.role)
        .ok()
        .filter(|r| *r != pb::Role::Unspecified)
        .ok_or(ProjectionError::NoRole(user_id))?;
    Ok(ProjectedUser {
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
            ProjectedUser {
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
        let foreign = Uuid::now_v7();
        let other = pb::User {
            id: foreign.to_string(),
            tenant_id: Uuid::now_v7().to_string(),
            role: pb::Role::Admin as i32,
            ..Default::default()
        };
        assert_eq!(
            project(tenant, &other),
            Err(ProjectionError::ForeignTenant(foreign))
        );
        let roleless = Uuid::now_v7();
        let no_role = pb::User {
            id: roleless.to_string(),
            ..Default::default()
        };
        assert_eq!(
            project(tenant, &no_role),
            Err(ProjectionError::NoRole(roleless))
        );
        let bad_id = pb::User {
            id: "nope".into(),
            role: pb::Role::Admin as i32,
            ..Default::default()
        };
        assert_eq!(
            project(tenant, &bad_id),
            Err(ProjectionError::UserId("nope".into()))
        );
        let bad_manager = pb::User {
            id: Uuid::now_v7().to_string(),
            manager_id: "boss".into(),
            role: pb::Role::Admin as i32,
            ..Default::default()
        };
        assert_eq!(
            project(tenant, &bad_manager),
            Err(ProjectionError::ManagerId("boss".into()))
        );
    }
}
