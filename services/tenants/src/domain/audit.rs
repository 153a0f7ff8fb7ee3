//! The tenant's audit log: what happened to its users, roles and the tenant itself, and who
//! logged in (or failed to). Written by database triggers with the change; read by admins.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Who did something and from where, for the audit events a request's changes write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditContext {
    /// A user id, `service:<name>` or `operator`; empty when unauthenticated (a login: the
    /// event then names the user logging in).
    pub actor: String,
    pub ip: String,
    pub user_agent: String,
}

impl AuditContext {
    /// Longest ip and user agent kept (both come from the client).
    pub const MAX_LEN: usize = 512;

    pub fn new(actor: String, ip: &str, user_agent: &str) -> Self {
        let cap = |s: &str| s.chars().take(Self::MAX_LEN).collect::<String>();
        Self {
            actor,
            ip: cap(ip),
            user_agent: cap(user_agent),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: Uuid,
    /// e.g. `login.failed`, `user.role_changed`, `tenant.suspended`.
    pub kind: String,
    /// The user the event is about, if any.
    pub user_id: Option<Uuid>,
    pub actor: String,
    /// Event-specific details as JSON text (e.g. the old and new role, a suspension's reason).
    pub details: String,
    pub ip: String,
    pub user_agent: String,
    pub occurred_at: DateTime<Utc>,
}

/// The audit event kinds the triggers write.
pub const KINDS: &[&str] = &[
    "login.succeeded",
    "login.failed",
    "user.locked",
    "user.created",
    "user.updated",
    "user.role_changed",
    "user.deactivated",
    "user.reactivated",
    "role.created",
    "role.updated",
    "role.deleted",
    "tenant.provisioned",
    "tenant.updated",
    "tenant.suspended",
    "tenant.reactivated",
];

/// One page request of ListAuditEvents, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub user_id: Option<Uuid>,
    /// Inclusive lower and exclusive upper bound of `occurred_at`.
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Time and id of the last event of the previous page.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_supplied_parts_are_capped() {
        let long = "x".repeat(AuditContext::MAX_LEN + 10);
        let ctx = AuditContext::new("operator".into(), &long, "curl/8");
        assert_eq!(ctx.ip.len(), AuditContext::MAX_LEN);
        assert_eq!(ctx.user_agent, "curl/8");
    }
}
