//! Notifications of the caller's feed.

use proto::crm as pb;

use super::timestamp_to_pb;
use crate::domain::notification::{Notification, NotificationKind};

pub fn notification_kind_to_pb(k: NotificationKind) -> pb::NotificationKind {
    match k {
        NotificationKind::Reminder => pb::NotificationKind::Reminder,
        NotificationKind::Assigned => pb::NotificationKind::Assigned,
        NotificationKind::Mentioned => pb::NotificationKind::Mentioned,
        NotificationKind::SlaBreached => pb::NotificationKind::SlaBreached,
        NotificationKind::CommissionStatementApproved => {
            pb::NotificationKind::CommissionStatementApproved
        }
        NotificationKind::CommissionStatementPaid => pb::NotificationKind::CommissionStatementPaid,
        NotificationKind::CommissionDisputeResolved => {
            pb::NotificationKind::CommissionDisputeResolved
        }
    }
}

pub fn notification_to_pb(n: Notification) -> pb::Notification {
    pb::Notification {
        id: n.id.to_string(),
        kind: notification_kind_to_pb(n.kind) as i32,
        title: n.title,
        body: n.body,
        subject_type: n.subject_type,
        subject_id: n.subject_id,
        read: n.read_at.is_some(),
        create_time: Some(timestamp_to_pb(n.created_at)),
        read_time: n.read_at.map(timestamp_to_pb),
    }
}
