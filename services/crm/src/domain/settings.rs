//! The tenant's CRM settings: what happens to the records of a user who is deactivated.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeactivatedOwnerPolicy {
    /// Open records move to a successor (see [`successor`]).
    #[default]
    Reassign,
    /// Records keep their owner and wait for an admin to hand them over.
    Keep,
}

impl DeactivatedOwnerPolicy {
    pub fn as_db(self) -> &'static str {
        match self {
            DeactivatedOwnerPolicy::Reassign => "reassign",
            DeactivatedOwnerPolicy::Keep => "keep",
        }
    }

    /// The column is constrained to the two names; anything else reads as the default.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "keep" => DeactivatedOwnerPolicy::Keep,
            _ => DeactivatedOwnerPolicy::Reassign,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmSettings {
    pub deactivated_owner_policy: DeactivatedOwnerPolicy,
    /// Receives records when the deactivated user has no active manager.
    pub fallback_owner_id: Option<Uuid>,
    /// A move to a lost stage needs a lost reason.
    pub lost_reason_required: bool,
    /// Days after its deletion a record can still be restored.
    pub restore_window_days: i32,
}

/// The restore window's bounds (the column's check).
pub const RESTORE_WINDOW_DAYS: std::ops::RangeInclusive<i32> = 1..=3650;

impl Default for CrmSettings {
    fn default() -> Self {
        Self {
            deactivated_owner_policy: DeactivatedOwnerPolicy::default(),
            fallback_owner_id: None,
            lost_reason_required: true,
            restore_window_days: 30,
        }
    }
}

/// Who inherits a deactivated user's records: their manager if active, else the tenant's
/// fallback owner if active, else an active admin. `None` leaves the records where they are
/// (listed as orphaned) rather than guess.
pub fn successor(
    deactivated: Uuid,
    active_manager: Option<Uuid>,
    active_fallback: Option<Uuid>,
    active_admin: Option<Uuid>,
) -> Option<Uuid> {
    [active_manager, active_fallback, active_admin]
        .into_iter()
        .flatten()
        .find(|candidate| *candidate != deactivated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_comes_first_then_the_fallback_then_an_admin() {
        let (user, manager, fallback, admin) = (
            Uuid::from_u128(1),
            Uuid::from_u128(2),
            Uuid::from_u128(3),
            Uuid::from_u128(4),
        );
        assert_eq!(
            successor(user, Some(manager), Some(fallback), Some(admin)),
            Some(manager)
        );
        assert_eq!(
            successor(user, None, Some(fallback), Some(admin)),
            Some(fallback)
        );
        assert_eq!(successor(user, None, None, Some(admin)), Some(admin));
        assert_eq!(successor(user, None, None, None), None);
    }

    #[test]
    fn records_never_go_back_to_the_deactivated_user() {
        let (user, admin) = (Uuid::from_u128(1), Uuid::from_u128(4));
        assert_eq!(successor(user, None, Some(user), Some(admin)), Some(admin));
        assert_eq!(successor(user, None, None, Some(user)), None);
    }

    #[test]
    fn policies_round_trip_through_their_column() {
        for policy in [
            DeactivatedOwnerPolicy::Reassign,
            DeactivatedOwnerPolicy::Keep,
        ] {
            assert_eq!(DeactivatedOwnerPolicy::from_db(policy.as_db()), policy);
        }
    }
}
