//! Users of a tenant.

use auth::BuiltinRole;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::email::Email;

pub const MAX_DISPLAY_NAME_LEN: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: BuiltinRole,
    pub custom_role_ids: Vec<Uuid>,
    pub manager_id: Option<Uuid>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A validated user to create, with the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: Email,
    pub display_name: String,
    pub role: BuiltinRole,
    pub manager_id: Option<Uuid>,
    pub custom_role_ids: Vec<Uuid>,
    pub password_hash: String,
}

/// Changes to a user; `None` leaves a field as it is (`manager_id: Some(None)` clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    pub email: Option<Email>,
    pub display_name: Option<String>,
    pub role: Option<BuiltinRole>,
    pub manager_id: Option<Option<Uuid>>,
    pub custom_role_ids: Option<Vec<Uuid>>,
}

impl UserPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Proto field names this patch sets, for change events.
    pub fn changed_fields(&self) -> Vec<String> {
        [
            ("email", self.email.is_some()),
            ("display_name", self.display_name.is_some()),
            ("role", self.role.is_some()),
            ("manager_id", self.manager_id.is_some()),
            ("custom_role_ids", self.custom_role_ids.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| name.to_owned())
        .collect()
    }
}

/// What login needs to decide: the user, the stored hash and the lockout state.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The permissions a token should carry beyond the built-in role: those of the custom roles.
pub fn extra_permissions(role: BuiltinRole, custom_role_permissions: &[String]) -> Vec<String> {
    let mut extra: Vec<String> = custom_role_permissions
        .iter()
        .filter(|name| auth::permissions::by_name(name).is_some_and(|p| !role.grants(p)))
        .cloned()
        .collect();
    extra.sort_unstable();
    extra.dedup();
    extra
}

/// Whether making `manager` the manager of `user` would close a loop. `chain` is the manager's
/// own management chain (manager's manager, and so on up).
pub fn creates_management_cycle(user: Uuid, manager: Uuid, chain: &[Uuid]) -> bool {
    user == manager || chain.contains(&user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_only_permissions_the_role_lacks() {
        let perms = vec![
            "users.read".to_owned(),
            "tenant.read".to_owned(),
            "unknown.perm".to_owned(),
            "users.read".to_owned(),
        ];
        assert_eq!(
            extra_permissions(BuiltinRole::SalesRep, &perms),
            vec!["users.read"]
        );
        assert!(extra_permissions(BuiltinRole::Admin, &perms).is_empty());
    }

    #[test]
    fn management_cycles_are_detected() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(creates_management_cycle(a, a, &[]));
        // b reports to a; making a report to b closes a loop.
        assert!(creates_management_cycle(a, b, &[a]));
        assert!(!creates_management_cycle(a, b, &[c]));
    }
}
