//! Sharing one account, contact, lead or opportunity with one user, beyond what ownership and
//! the management chain give. A READ share lets the user read the record wherever records are
//! read (get, lists, search, board, forecast, timeline, export, duplicates); an EDIT share also
//! lets them change its fields. Neither lets them delete, reassign, merge, convert or share it
//! on ([`Access::Control`]), and neither reaches the user's managers. A share is of one record:
//! sharing an account does not share its contacts or deals.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::visibility::{Access, RecordKind};

/// Most users one record may be shared with; beyond that, a team or owner change fits better.
pub const MAX_SHARES_PER_RECORD: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShareAccess {
    Read,
    Edit,
}

impl ShareAccess {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareAccess::Read => "read",
            ShareAccess::Edit => "edit",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "read" => Some(ShareAccess::Read),
            "edit" => Some(ShareAccess::Edit),
            _ => None,
        }
    }

    pub fn grants(self, access: Access) -> bool {
        Self::granting(access).contains(&self)
    }

    /// The share levels that grant `access`, weakest first.
    pub fn granting(access: Access) -> &'static [ShareAccess] {
        match access {
            Access::Read => &[ShareAccess::Read, ShareAccess::Edit],
            Access::Write => &[ShareAccess::Edit],
            Access::Control => &[],
        }
    }
}

/// One record shared with one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub kind: RecordKind,
    pub record_id: Uuid,
    pub user_id: Uuid,
    pub access: ShareAccess,
    /// Who granted the current access.
    pub granted_by: Uuid,
    /// When the record was first shared with the user.
    pub created_at: DateTime<Utc>,
}

/// Why a share cannot be granted to a user; each names the `user_id` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("the record's owner already has it")]
    Owner,
    #[error("you cannot share a record with yourself")]
    Yourself,
    #[error("no such user in this tenant")]
    UnknownUser,
    #[error("the user is deactivated")]
    Deactivated,
}

/// Checks the user a record is shared with: `active` is `None` for an unknown user.
pub fn check_recipient(
    owner: Uuid,
    actor: Uuid,
    user: Uuid,
    active: Option<bool>,
) -> Result<(), ShareError> {
    if user == owner {
        return Err(ShareError::Owner);
    }
    if user == actor {
        return Err(ShareError::Yourself);
    }
    match active {
        Some(true) => Ok(()),
        Some(false) => Err(ShareError::Deactivated),
        None => Err(ShareError::UnknownUser),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_shares_read_and_edit_shares_also_write_but_nothing_controls() {
        use ShareAccess::{Edit, Read};
        assert!(Read.grants(Access::Read) && !Read.grants(Access::Write));
        assert!(Edit.grants(Access::Read) && Edit.grants(Access::Write));
        assert!(!Read.grants(Access::Control) && !Edit.grants(Access::Control));
        for level in [Read, Edit] {
            assert_eq!(ShareAccess::parse(level.as_str()), Some(level));
        }
        assert_eq!(ShareAccess::parse("EDIT"), None);
    }

    #[test]
    fn records_are_shared_only_with_other_active_users() {
        let (owner, manager, rep) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(check_recipient(owner, manager, rep, Some(true)), Ok(()));
        assert_eq!(
            check_recipient(owner, manager, owner, Some(true)),
            Err(ShareError::Owner)
        );
        assert_eq!(
            check_recipient(owner, manager, manager, Some(true)),
            Err(ShareError::Yourself)
        );
        assert_eq!(
            check_recipient(owner, owner, rep, Some(false)),
            Err(ShareError::Deactivated)
        );
        assert_eq!(
            check_recipient(owner, owner, rep, None),
            Err(ShareError::UnknownUser)
        );
    }
}
