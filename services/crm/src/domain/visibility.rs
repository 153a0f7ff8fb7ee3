//! Record visibility on top of tenant isolation: sales reps reach the records they own, managers
//! the records of everyone below them in the management chain (and their own), admins every
//! record; support reads every account and contact. On top of that an account, contact, lead or
//! opportunity may be shared with one user (see `domain::sharing`): the share reaches that user
//! only, not their managers. The permission check ("may this caller touch leads at all?")
//! happens before; this decides *which* records.

use auth::BuiltinRole;
use uuid::Uuid;

pub use super::sharing::ShareAccess;

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
    /// Change the record's fields (an EDIT share grants this).
    Write,
    /// Delete, reassign, merge, convert or share the record: what owning it, managing its owner
    /// or being an admin allows. No share ever grants it. Reaches as far as `Write`.
    Control,
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

/// The records a viewer reaches, once the management chain is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every record: admins, support reading accounts and contacts. Costs no condition at all.
    All,
    /// Records owned by `owners`, plus, when `shared_with` is set, the records shared with that
    /// user at a level that grants the access asked for.
    Owners {
        owners: Vec<Uuid>,
        shared_with: Option<SharedWith>,
    },
}

/// The shares a scope lets in: those of `kind` records with `user_id` granting `access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedWith {
    pub user_id: Uuid,
    pub kind: RecordKind,
    pub access: Access,
}

impl SharedWith {
    /// The share levels that let a record in.
    pub fn levels(&self) -> &'static [ShareAccess] {
        ShareAccess::granting(self.access)
    }
}

impl Scope {
    /// `reports` are the viewer's direct and indirect reports (only consulted for [`Reach::Team`]).
    /// Shares do not count; see [`Scope::with_shares`].
    pub fn resolve(reach: Reach, viewer: Uuid, reports: impl FnOnce() -> Vec<Uuid>) -> Self {
        let owners = match reach {
            Reach::All => return Scope::All,
            Reach::Own => vec![viewer],
            Reach::Team => {
                let mut owners = vec![viewer];
                owners.extend(reports().into_iter().filter(|id| *id != viewer));
                owners
            }
        };
        Scope::Owners {
            owners,
            shared_with: None,
        }
    }

    /// Lets in the `kind` records shared with `user_id` whose share grants `access` (none does
    /// for [`Access::Control`]). `All` stays as it is: it already reaches everything.
    pub fn with_shares(self, user_id: Uuid, kind: RecordKind, access: Access) -> Self {
        match self {
            Scope::Owners { owners, .. } if !ShareAccess::granting(access).is_empty() => {
                Scope::Owners {
                    owners,
                    shared_with: Some(SharedWith {
                        user_id,
                        kind,
                        access,
                    }),
                }
            }
            other => other,
        }
    }

    /// Whether records of `owner` are reached by ownership, hierarchy or role (never by a share:
    /// a share is of one record, not of an owner's records).
    pub fn allows(&self, owner: Uuid) -> bool {
        match self {
            Scope::All => true,
            Scope::Owners { owners, .. } => owners.contains(&owner),
        }
    }

    /// The shares this scope lets in, if any.
    pub fn shared_with(&self) -> Option<&SharedWith> {
        match self {
            Scope::All => None,
            Scope::Owners { shared_with, .. } => shared_with.as_ref(),
        }
    }

    /// Whether one record owned by `owner`, shared with the viewer at `share` (if at all), is
    /// reached for `access`.
    pub fn admits(&self, owner: Uuid, share: Option<ShareAccess>, access: Access) -> Admission {
        if self.allows(owner) {
            return Admission::Granted;
        }
        match share {
            None => Admission::Hidden,
            Some(share) if share.grants(access) => Admission::Granted,
            // The viewer reads the record through the share, so hiding it would only confuse.
            Some(share) => Admission::Refused(share),
        }
    }
}

/// What a viewer may do with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Granted,
    /// The record is shared with the viewer, but not at a level that grants the access.
    Refused(ShareAccess),
    /// Not the viewer's to know about: answered as "not found".
    Hidden,
}

#[cfg(test)]
mod tests {
    use super::*;
    use BuiltinRole::{Admin, Manager, SalesRep, Support};
    use RecordKind::{Account, Contact, Lead, Opportunity};

    #[test]
    fn the_visibility_rule() {
        for kind in [Account, Contact, Lead, Opportunity] {
            for access in [Access::Read, Access::Write, Access::Control] {
                assert_eq!(reach(Admin, kind, access), Reach::All);
                assert_eq!(reach(Manager, kind, access), Reach::Team);
                assert_eq!(reach(SalesRep, kind, access), Reach::Own);
            }
        }
        assert_eq!(reach(Support, Account, Access::Read), Reach::All);
        assert_eq!(reach(Support, Contact, Access::Read), Reach::All);
        assert_eq!(reach(Support, Account, Access::Write), Reach::Own);
        assert_eq!(reach(Support, Contact, Access::Control), Reach::Own);
        assert_eq!(reach(Support, Lead, Access::Read), Reach::Own);
        assert_eq!(reach(Support, Opportunity, Access::Read), Reach::Own);
    }

    #[test]
    fn a_team_scope_is_the_manager_and_the_reports() {
        let (manager, rep, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let scope = Scope::resolve(Reach::Team, manager, || vec![rep, manager]);
        assert_eq!(
            scope,
            Scope::Owners {
                owners: vec![manager, rep],
                shared_with: None
            }
        );
        assert!(scope.allows(rep) && scope.allows(manager) && !scope.allows(other));
        let own = Scope::resolve(Reach::Own, rep, || unreachable!("own scope needs no chain"));
        assert!(own.allows(rep) && !own.allows(manager));
        assert!(Scope::resolve(Reach::All, rep, Vec::new).allows(other));
    }

    #[test]
    fn shares_join_owner_scopes_for_reads_and_edits_but_never_for_control() {
        let (rep, colleague) = (Uuid::now_v7(), Uuid::now_v7());
        let own = || Scope::resolve(Reach::Own, rep, Vec::new);
        let read = own().with_shares(rep, Lead, Access::Read);
        assert_eq!(
            read.shared_with(),
            Some(&SharedWith {
                user_id: rep,
                kind: Lead,
                access: Access::Read
            })
        );
        assert_eq!(
            read.shared_with().map(SharedWith::levels),
            Some(&[ShareAccess::Read, ShareAccess::Edit][..])
        );
        let write = own().with_shares(rep, Lead, Access::Write);
        assert_eq!(
            write.shared_with().map(SharedWith::levels),
            Some(&[ShareAccess::Edit][..])
        );
        assert_eq!(own().with_shares(rep, Lead, Access::Control), own());
        // Admins pay nothing for shares.
        assert_eq!(Scope::All.with_shares(rep, Lead, Access::Read), Scope::All);
        // A share is of one record, not of its owner's records.
        assert!(!read.allows(colleague));
    }

    #[test]
    fn one_record_is_granted_refused_or_hidden() {
        let (rep, colleague) = (Uuid::now_v7(), Uuid::now_v7());
        let scope = Scope::resolve(Reach::Own, rep, Vec::new);
        use Admission::{Granted, Hidden, Refused};
        use ShareAccess::{Edit, Read};
        assert_eq!(scope.admits(rep, None, Access::Control), Granted);
        assert_eq!(scope.admits(colleague, None, Access::Read), Hidden);
        assert_eq!(scope.admits(colleague, Some(Read), Access::Read), Granted);
        assert_eq!(
            scope.admits(colleague, Some(Read), Access::Write),
            Refused(Read)
        );
        assert_eq!(scope.admits(colleague, Some(Edit), Access::Write), Granted);
        assert_eq!(
            scope.admits(colleague, Some(Edit), Access::Control),
            Refused(Edit)
        );
        assert_eq!(Scope::All.admits(colleague, None, Access::Control), Granted);
    }
}
