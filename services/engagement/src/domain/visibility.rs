//! Who sees which record's engagement, on top of tenant isolation: the CRM's rule, from the
//! projections of record ownership and the management chain. A sales rep (and support) sees the
//! records they own, a manager their own and their team's (any depth), an admin every record.

use auth::BuiltinRole;
use uuid::Uuid;

/// The caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: BuiltinRole,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == BuiltinRole::Admin
    }

    pub fn needs_team(&self) -> bool {
        self.role == BuiltinRole::Manager
    }

    /// Whether the viewer sees a record owned by `owner`; `reports` are the viewer's direct and
    /// indirect reports (consulted for managers only). Unowned records are the admins'.
    pub fn may_see(&self, owner: Option<Uuid>, reports: &[Uuid]) -> bool {
        match (self.role, owner) {
            (BuiltinRole::Admin, _) => true,
            (_, None) => false,
            (BuiltinRole::Manager, Some(owner)) => {
                owner == self.user_id || reports.contains(&owner)
            }
            (BuiltinRole::SalesRep | BuiltinRole::Support, Some(owner)) => owner == self.user_id,
        }
    }

    /// The owners whose records the viewer sees, `None` for all (admins).
    pub fn owners(&self, reports: &[Uuid]) -> Option<Vec<Uuid>> {
        if self.is_admin() {
            None
        } else if self.needs_team() {
            Some(
                std::iter::once(self.user_id)
                    .chain(reports.iter().copied())
                    .collect(),
            )
        } else {
            Some(vec![self.user_id])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(role: BuiltinRole) -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role,
        }
    }

    #[test]
    fn reps_see_their_own_managers_their_team_admins_all() {
        let (other, report) = (Uuid::now_v7(), Uuid::now_v7());
        let rep = viewer(BuiltinRole::SalesRep);
        assert!(rep.may_see(Some(rep.user_id), &[]));
        assert!(!rep.may_see(Some(other), &[other]));
        let manager = viewer(BuiltinRole::Manager);
        assert!(manager.may_see(Some(report), &[report]));
        assert!(!manager.may_see(Some(other), &[report]));
        assert!(!manager.may_see(None, &[report]));
        let admin = viewer(BuiltinRole::Admin);
        assert!(admin.may_see(Some(other), &[]));
        assert!(admin.may_see(None, &[]));
        assert_eq!(admin.owners(&[]), None);
        assert_eq!(
            manager.owners(&[report]),
            Some(vec![manager.user_id, report])
        );
    }
}
