//! The in-app notification feed: what a notification is, the kinds the feed knows, the mention
//! syntax of activity bodies, and the rule that a reminder is set in the future.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Why a user got a notification. The stored name is the proto enum's suffix in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    Reminder,
    Assigned,
    Mentioned,
    SlaBreached,
    CommissionStatementApproved,
    CommissionStatementPaid,
    CommissionDisputeResolved,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 7] = [
        NotificationKind::Reminder,
        NotificationKind::Assigned,
        NotificationKind::Mentioned,
        NotificationKind::SlaBreached,
        NotificationKind::CommissionStatementApproved,
        NotificationKind::CommissionStatementPaid,
        NotificationKind::CommissionDisputeResolved,
    ];

    /// Stored name (the migration's triggers write `assigned` and `sla_breached` themselves).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Reminder => "reminder",
            NotificationKind::Assigned => "assigned",
            NotificationKind::Mentioned => "mentioned",
            NotificationKind::SlaBreached => "sla_breached",
            NotificationKind::CommissionStatementApproved => "commission_statement_approved",
            NotificationKind::CommissionStatementPaid => "commission_statement_paid",
            NotificationKind::CommissionDisputeResolved => "commission_dispute_resolved",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A notification to write: for one user of the tenant the transaction is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub subject_type: String,
    pub subject_id: String,
    /// Identifies the cause (an event id, a reminder's due time): the same key for the same user
    /// notifies once, so a redelivered event or a repeated sweep adds nothing.
    pub source_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub title: String,
    pub body: String,
    pub subject_type: String,
    pub subject_id: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// What to mark read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkRead {
    Ids(Vec<Uuid>),
    All,
}

/// Most ids one MarkNotificationsRead names.
pub const MAX_MARK_IDS: usize = 1000;

/// The longest title stored; longer subjects are cut (on a character boundary).
pub const MAX_TITLE_CHARS: usize = 200;

/// `prefix` then `subject`, cut to [`MAX_TITLE_CHARS`].
pub fn title(prefix: &str, subject: &str) -> String {
    format!("{prefix}{subject}")
        .chars()
        .take(MAX_TITLE_CHARS)
        .collect()
}

/// The users a text mentions, in order of first mention, each once. The syntax is Slack's:
/// `<@user-id>` with the user's UUID, which a frontend renders as the user's name (a name or an
/// email would be ambiguous or change; the id does not). Anything else is plain text.
pub fn mentions(text: &str) -> Vec<Uuid> {
    const OPEN: &str = "<@";
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        rest = &rest[start + OPEN.len()..];
        let Some(end) = rest.find('>') else {
            break;
        };
        if let Ok(id) = Uuid::parse_str(&rest[..end])
            && !found.contains(&id)
        {
            found.push(id);
        }
        rest = &rest[end..];
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReminderError {
    #[error("must be in the future")]
    InThePast,
}

/// A reminder is for later: one at or before `now` could only fire at once, which is a mistake
/// of the caller (a wrong time zone, a stale form), so it is refused rather than fired.
pub fn check_remind_time(
    remind_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, ReminderError> {
    match remind_at {
        Some(at) if at <= now => Err(ReminderError::InThePast),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in NotificationKind::ALL {
            assert_eq!(NotificationKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NotificationKind::parse("spam"), None);
    }

    #[test]
    fn mentions_are_user_ids_in_angle_brackets_each_once() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let text = format!("ping <@{a}> and <@{b}>, again <@{a}>; not <@bob> nor @{b} nor <@{a}");
        assert_eq!(mentions(&text), [a, b]);
        assert!(mentions("no mentions <@").is_empty());
    }

    #[test]
    fn a_reminder_must_be_in_the_future() {
        let now = Utc::now();
        assert_eq!(check_remind_time(None, now), Ok(None));
        let later = now + Duration::seconds(1);
        assert_eq!(check_remind_time(Some(later), now), Ok(Some(later)));
        assert_eq!(
            check_remind_time(Some(now), now),
            Err(ReminderError::InThePast)
        );
        assert_eq!(
            check_remind_time(Some(now - Duration::minutes(5)), now),
            Err(ReminderError::InThePast)
        );
    }

    #[test]
    fn titles_are_cut_on_characters() {
        let long = "é".repeat(500);
        assert_eq!(title("Reminder: ", &long).chars().count(), MAX_TITLE_CHARS);
    }
}
