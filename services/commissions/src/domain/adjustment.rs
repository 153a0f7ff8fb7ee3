//! Manual adjustments and disputes: the approval rules.

use uuid::Uuid;

use super::money::Minor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustmentStatus {
    Pending,
    Approved,
}

impl AdjustmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AdjustmentStatus::Pending => "pending",
            AdjustmentStatus::Approved => "approved",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [AdjustmentStatus::Pending, AdjustmentStatus::Approved]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// An adjustment up to `threshold` (in absolute value) is approved by its requester when
    /// created; a larger one waits for another admin.
    pub fn on_creation(amount: Minor, threshold: Minor) -> Self {
        if amount.unsigned_abs() <= threshold.unsigned_abs() {
            AdjustmentStatus::Approved
        } else {
            AdjustmentStatus::Pending
        }
    }
}

/// Whether `approver` may approve an adjustment requested by `requester` for `participant`.
pub fn check_approval(
    status: AdjustmentStatus,
    requester: Uuid,
    participant: Uuid,
    approver: Uuid,
) -> Result<(), &'static str> {
    if status == AdjustmentStatus::Approved {
        return Err("the adjustment is already approved");
    }
    if approver == requester {
        return Err("you cannot approve your own adjustment");
    }
    if approver == participant {
        return Err("you cannot approve an adjustment in your favour");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_adjustments_wait_for_approval() {
        assert_eq!(
            AdjustmentStatus::on_creation(100_000, 100_000),
            AdjustmentStatus::Approved
        );
        assert_eq!(
            AdjustmentStatus::on_creation(-100_001, 100_000),
            AdjustmentStatus::Pending
        );
    }

    #[test]
    fn nobody_approves_their_own_or_twice() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(check_approval(AdjustmentStatus::Pending, a, c, b).is_ok());
        assert_eq!(
            check_approval(AdjustmentStatus::Pending, a, c, a),
            Err("you cannot approve your own adjustment")
        );
        assert!(check_approval(AdjustmentStatus::Pending, a, b, b).is_err());
        assert!(check_approval(AdjustmentStatus::Approved, a, c, b).is_err());
    }
}

/// A manual adjustment of a participant's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub period: super::period::Period,
    pub currency: String,
    pub amount: Minor,
    pub reason: String,
    pub status: AdjustmentStatus,
    pub requested_by: Uuid,
    pub approved_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeStatus {
    Open,
    Resolved,
}

impl DisputeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: Uuid,
    pub line_id: Uuid,
    pub comment: String,
    pub status: DisputeStatus,
    pub resolution: String,
    pub raised_by: Uuid,
    pub resolved_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
