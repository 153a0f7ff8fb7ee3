//! Record visibility on top of tenant isolation: sales reps reach the records they own, managers
//! the records of everyone below them in the management chain (and their own), admins every
//! record; support reads every account and contact. The permission check ("may this caller touch
//! leads at all?") happens before; this decides *which* records.

use auth::BuiltinRole;
use uuid::Uuid;

/// The caller, as far as visibility is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: BuiltinRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Account,
    Contact,
    Lead,
    Opportunity,
}

impl RecordKind {
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Contact => "contact",
            RecordKind::Lead => "lead",
            RecordKind::Opportunity => "opportunity",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// How far a viewer reaches, before the management chain is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    All,
    /// Own records and those of every direct or indirect report.
    Team,
    Own,
}

/// The visibility rule.
pub fn reach(role: BuiltinRole, kind: RecordKind, access: Access) -> Reach {
    match (role, kind, access) {
        (BuiltinRole::Admin, _, _) => Reach::All,
        (BuiltinRole::Manager, _, _) => Reach::Team,
        (BuiltinRole::Support, RecordKind::Account | RecordKind::Contact, Access::Read) => {
            Reach::All
        }
        // Sales reps, and support users granted more through a custom role.
        (BuiltinRole::SalesRep | BuiltinRole::Support, _, _) => Reach::Own,
    }
}

/// The owners whose records a viewer reaches, once the management chain is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Owners(Vec<Uuid>),
}

impl Scope {
    /// `reports` are the viewer's direct and indirect reports (only consulted for [`Reach::Team`]).
    pub fn resolve(reach: Reach, viewer: Uuid, reports: impl FnOnce() -> Vec<Uuid>) -> Self {
        match reach {
            Reach::All => Scope::All,
            Reach::Own => Scope::Owners(vec![viewer]),
            Reach::Team => {
                let mut owners = vec![viewer];
                owners.extend(reports().into_iter().filter(|id| *id != viewer));
                Scope::Owners(owners)
            }
        }
    }

    pub fn allows(&self, owner: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Owners(owners) => owners.contains(&owner),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuiltinRole::{Admin, Manager, SalesRep, Support};
    use RecordKind::{Account, Contact, Lead, Opportunity};

    #[test]
    fn the_visibility_rule() {
        for kind in [Account, Contact, Lead, Opportunity] {
            for access in [Access::Read, Access::Write] {
                assert_eq!(reach(Admin, kind, access), Reach::All);
                assert_eq!(reach(Manager, kind, access), Reach::Team);
                assert_eq!(reach(SalesRep, kind, access), Reach::Own);
            }
        }
        assert_eq!(reach(Support, Account, Access::Read), Reach::All);
        assert_eq!(reach(Support, Contact, Access::Read), Reach::All);
        assert_eq!(reach(Support, Account, Access::Write), Reach::Own);
        assert_eq!(reach(Support, Lead, Access::Read), Reach::Own);
        assert_eq!(reach(Support, Opportunity, Access::Read), Reach::Own);
    }

    #[test]
    fn a_team_scope_is_the_manager_and_the_reports() {
        let (manager, rep, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let scope = Scope::resolve(Reach::Team, manager, || vec![rep, manager]);
        assert_eq!(scope, Scope::Owners(vec![manager, rep]));
        assert!(scope.allows(rep) && scope.allows(manager) && !scope.allows(other));
        let own = Scope::resolve(Reach::Own, rep, || unreachable!("own scope needs no chain"));
        assert!(own.allows(rep) && !own.allows(manager));
        assert!(Scope::resolve(Reach::All, rep, Vec::new).allows(other));
    }
}
