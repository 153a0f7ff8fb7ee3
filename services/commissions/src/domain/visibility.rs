//! Who sees whose commissions, on top of tenant isolation: a sales rep their own, a manager their
//! own and everyone's below them in the management chain, an admin everyone's. Only admins
//! change plans, quotas and statements.

use auth::{AuthError, BuiltinRole};
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

    /// Plans, quotas, statements, recalculation, adjustments and the audit trail are admin work:
    /// anyone else gets PERMISSION_DENIED before anything is read.
    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("commissions.admin"))
        }
    }

    /// A team's figures are for managers and admins.
    pub fn require_team_reader(&self) -> Result<(), AuthError> {
        if self.is_admin() || self.needs_team() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("commissions.team.read"))
        }
    }

    /// Whether the viewer may read `participant`'s commissions; `reports` are the viewer's
    /// direct and indirect reports (consulted for managers only).
    pub fn may_read(&self, participant: Uuid, reports: &[Uuid]) -> bool {
        match self.role {
            BuiltinRole::Admin => true,
            BuiltinRole::Manager => participant == self.user_id || reports.contains(&participant),
            BuiltinRole::SalesRep | BuiltinRole::Support => participant == self.user_id,
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
    fn reps_read_their_own_managers_their_team_admins_all() {
        let (report, stranger) = (Uuid::now_v7(), Uuid::now_v7());
        let rep = viewer(BuiltinRole::SalesRep);
        assert!(rep.may_read(rep.user_id, &[]));
        assert!(!rep.may_read(stranger, &[stranger]));
        let manager = viewer(BuiltinRole::Manager);
        assert!(manager.may_read(manager.user_id, &[report]));
        assert!(manager.may_read(report, &[report]));
        assert!(!manager.may_read(stranger, &[report]));
        assert!(viewer(BuiltinRole::Admin).may_read(stranger, &[]));
    }

    #[test]
    fn only_admins_do_admin_work_and_managers_also_read_teams() {
        assert!(viewer(BuiltinRole::Admin).require_admin().is_ok());
        for role in [
            BuiltinRole::Manager,
            BuiltinRole::SalesRep,
            BuiltinRole::Support,
        ] {
            assert_eq!(
                viewer(role).require_admin(),
                Err(AuthError::Forbidden("commissions.admin"))
            );
        }
        assert!(viewer(BuiltinRole::Admin).require_team_reader().is_ok());
        assert!(viewer(BuiltinRole::Manager).require_team_reader().is_ok());
        assert_eq!(
            viewer(BuiltinRole::SalesRep).require_team_reader(),
            Err(AuthError::Forbidden("commissions.team.read"))
        );
    }
}
