//! Support cases: priority, the status life cycle, SLA targets and who reaches a case.

use auth::BuiltinRole;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::business_hours::BusinessHours;
use super::custom_fields::CustomValues;
use super::visibility::{Access, Reach};

pub const MAX_SUBJECT_LEN: usize = 300;
pub const MAX_DESCRIPTION_LEN: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// Business minutes to the first response and to the resolution.
    pub fn targets(self) -> SlaTargets {
        let (first_response, resolution) = match self {
            Priority::Urgent => (60, 4 * 60),
            Priority::High => (4 * 60, 8 * 60),
            Priority::Normal => (8 * 60, 3 * 8 * 60),
            Priority::Low => (2 * 8 * 60, 5 * 8 * 60),
        };
        SlaTargets {
            first_response_minutes: first_response,
            resolution_minutes: resolution,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaTargets {
    pub first_response_minutes: i64,
    pub resolution_minutes: i64,
}

/// When a case opened at `opened` with `priority` is due, on the tenant's business clock.
pub fn sla_due(
    hours: &BusinessHours,
    priority: Priority,
    opened: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let targets = priority.targets();
    (
        hours.add_business_minutes(opened, targets.first_response_minutes),
        hours.add_business_minutes(opened, targets.resolution_minutes),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Open,
    Pending,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Resolved and closed cases no longer run an SLA clock.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }
}

/// The custom methods that move a case through its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Respond,
    Resolve,
    Close,
    Reopen,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Respond => "respond",
            Action::Resolve => "resolve",
            Action::Close => "close",
            Action::Reopen => "reopen",
        }
    }
}

/// What an action does to a case, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub status: Status,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a {status} case")]
pub struct TransitionError {
    pub action: &'static str,
    pub status: &'static str,
}

/// The state after `action` at `now`. Responding records the first response once (later
/// responses keep it); closing an unresolved case also resolves it; reopening clears both.
pub fn transition(
    case: &Case,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Transition, TransitionError> {
    let refused = || TransitionError {
        action: action.name(),
        status: case.status.as_str(),
    };
    let first_response_at = case.first_response_at;
    match action {
        Action::Respond => {
            if case.status.is_done() {
                return Err(refused());
            }
            Ok(Transition {
                status: if case.status == Status::New {
                    Status::Open
                } else {
                    case.status
                },
                first_response_at: first_response_at.or(Some(now)),
                resolved_at: None,
                closed_at: None,
            })
        }
        Action::Resolve => {
            if case.status.is_done() {
                return Err(refused());
            }
            Ok(Transition {
                status: Status::Resolved,
                first_response_at,
                resolved_at: Some(now),
                closed_at: None,
            })
        }
        Action::Close => {
            if case.status == Status::Closed {
                return Err(refused());
            }
            Ok(Transition {
                status: Status::Closed,
                first_response_at,
                resolved_at: case.resolved_at.or(Some(now)),
                closed_at: Some(now),
            })
        }
        Action::Reopen => {
            if !case.status.is_done() {
                return Err(refused());
            }
            Ok(Transition {
                status: Status::Open,
                first_response_at,
                resolved_at: None,
                closed_at: None,
            })
        }
    }
}

/// Which SLA target a case missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    FirstResponse,
    Resolution,
}

impl Breach {
    pub fn as_str(self) -> &'static str {
        match self {
            Breach::FirstResponse => "first_response",
            Breach::Resolution => "resolution",
        }
    }
}

/// The target a case has missed at `now`, if any (the first response is checked first). A
/// response or resolution given late counts as missed too.
pub fn missed_target(case: &Case, now: DateTime<Utc>) -> Option<Breach> {
    let responded = case.first_response_at.unwrap_or(now);
    if responded > case.first_response_due {
        return Some(Breach::FirstResponse);
    }
    let resolved = case.resolved_at.unwrap_or(now);
    if resolved > case.resolution_due {
        return Some(Breach::Resolution);
    }
    None
}

/// How far a role reaches among cases: support works every case, the others as for any record.
pub fn reach(role: BuiltinRole, _access: Access) -> Reach {
    match role {
        BuiltinRole::Admin | BuiltinRole::Support => Reach::All,
        BuiltinRole::Manager => Reach::Team,
        BuiltinRole::SalesRep => Reach::Own,
    }
}

/// A case's own fields, as created and updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseData {
    pub subject: String,
    pub description: String,
    pub priority: Priority,
    pub account_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub owner_id: Uuid,
    pub custom_fields: CustomValues,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub id: Uuid,
    pub data: CaseData,
    pub status: Status,
    pub first_response_due: DateTime<Utc>,
    pub resolution_due: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub sla_breached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasePatch {
    pub subject: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub account_id: Option<Option<Uuid>>,
    pub contact_id: Option<Option<Uuid>>,
    pub owner_id: Option<Uuid>,
    /// Only between the working states new, open and pending; the rest are actions.
    pub status: Option<Status>,
    /// The complete new set of custom values, not yet checked against the definitions.
    pub custom_fields: Option<CustomValues>,
}

impl CaseData {
    pub fn apply(&self, patch: &CasePatch) -> CaseData {
        CaseData {
            subject: patch
                .subject
                .clone()
                .unwrap_or_else(|| self.subject.clone()),
            description: patch
                .description
                .clone()
                .unwrap_or_else(|| self.description.clone()),
            priority: patch.priority.unwrap_or(self.priority),
            account_id: patch.account_id.unwrap_or(self.account_id),
            contact_id: patch.contact_id.unwrap_or(self.contact_id),
            owner_id: patch.owner_id.unwrap_or(self.owner_id),
            custom_fields: patch
                .custom_fields
                .clone()
                .unwrap_or_else(|| self.custom_fields.clone()),
        }
    }

    /// Proto names of the fields that differ.
    pub fn changed_fields(&self, other: &CaseData) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.subject != other.subject {
            changed.push("subject");
        }
        if self.description != other.description {
            changed.push("description");
        }
        if self.priority != other.priority {
            changed.push("priority");
        }
        if self.account_id != other.account_id {
            changed.push("account_id");
        }
        if self.contact_id != other.contact_id {
            changed.push("contact_id");
        }
        if self.owner_id != other.owner_id {
            changed.push("owner_id");
        }
        if self.custom_fields != other.custom_fields {
            changed.push("custom_fields");
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("instant")
            .with_timezone(&Utc)
    }

    fn case(status: Status) -> Case {
        Case {
            id: Uuid::now_v7(),
            data: CaseData {
                subject: "Printer on fire".into(),
                description: String::new(),
                priority: Priority::High,
                account_id: None,
                contact_id: None,
                owner_id: Uuid::now_v7(),
                custom_fields: Default::default(),
            },
            status,
            first_response_due: at("2026-12-01T13:00:00Z"),
            resolution_due: at("2026-12-02T09:00:00Z"),
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            sla_breached_at: None,
            created_at: at("2026-12-01T09:00:00Z"),
            updated_at: at("2026-12-01T09:00:00Z"),
        }
    }

    #[test]
    fn priorities_round_trip_and_unknown_ones_are_refused() {
        for p in Priority::ALL {
            assert_eq!(Priority::parse(p.as_str()), Some(p));
        }
        assert_eq!(Priority::parse("critical"), None);
    }

    #[test]
    fn urgent_cases_are_due_sooner_on_the_business_clock() {
        let hours = BusinessHours::default();
        let opened = at("2026-12-04T16:00:00Z"); // a Friday
        let (first, resolution) = sla_due(&hours, Priority::Urgent, opened);
        assert_eq!(first, at("2026-12-04T17:00:00Z"));
        assert_eq!(resolution, at("2026-12-07T12:00:00Z"));
        let (first, _) = sla_due(&hours, Priority::Low, opened);
        assert!(first > resolution);
    }

    #[test]
    fn the_first_response_is_recorded_once() {
        let now = at("2026-12-01T10:00:00Z");
        let responded = transition(&case(Status::New), Action::Respond, now).expect("allowed");
        assert_eq!(responded.status, Status::Open);
        assert_eq!(responded.first_response_at, Some(now));
        let mut open = case(Status::Open);
        open.first_response_at = Some(now);
        let later = transition(&open, Action::Respond, at("2026-12-01T11:00:00Z")).expect("ok");
        assert_eq!(later.first_response_at, Some(now));
    }

    #[test]
    fn the_life_cycle_refuses_impossible_moves() {
        let now = at("2026-12-01T10:00:00Z");
        let closed = transition(&case(Status::Pending), Action::Close, now).expect("close");
        assert_eq!(
            (closed.status, closed.resolved_at, closed.closed_at),
            (Status::Closed, Some(now), Some(now))
        );
        assert!(transition(&case(Status::Closed), Action::Close, now).is_err());
        assert!(transition(&case(Status::Resolved), Action::Respond, now).is_err());
        assert!(transition(&case(Status::Resolved), Action::Resolve, now).is_err());
        assert!(transition(&case(Status::Open), Action::Reopen, now).is_err());
        let reopened = transition(&case(Status::Closed), Action::Reopen, now).expect("reopen");
        assert_eq!(
            (reopened.status, reopened.resolved_at),
            (Status::Open, None)
        );
        assert_eq!(
            transition(&case(Status::Closed), Action::Respond, now)
                .expect_err("refused")
                .to_string(),
            "cannot respond a closed case"
        );
    }

    #[test]
    fn a_missed_target_is_named() {
        let c = case(Status::New);
        assert_eq!(missed_target(&c, at("2026-12-01T12:59:00Z")), None);
        assert_eq!(
            missed_target(&c, at("2026-12-01T13:01:00Z")),
            Some(Breach::FirstResponse)
        );
        let mut answered = case(Status::Open);
        answered.first_response_at = Some(at("2026-12-01T10:00:00Z"));
        assert_eq!(missed_target(&answered, at("2026-12-01T14:00:00Z")), None);
        assert_eq!(
            missed_target(&answered, at("2026-12-02T09:30:00Z")),
            Some(Breach::Resolution)
        );
    }

    #[test]
    fn support_works_every_case_and_reps_their_own() {
        assert_eq!(reach(BuiltinRole::Support, Access::Write), Reach::All);
        assert_eq!(reach(BuiltinRole::Admin, Access::Read), Reach::All);
        assert_eq!(reach(BuiltinRole::Manager, Access::Read), Reach::Team);
        assert_eq!(reach(BuiltinRole::SalesRep, Access::Write), Reach::Own);
    }
}
