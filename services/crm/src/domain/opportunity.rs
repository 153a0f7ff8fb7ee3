//! Opportunities (deals) and the rules of moving them between stages.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::custom_fields::CustomValues;
use super::forecast::CategoryOverride;
use super::money::Money;
use super::pipeline::{Stage, StageCategory};

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_LOST_REASON_LEN: usize = 500;
pub const MAX_SPLITS: usize = 10;
/// Close date of a new opportunity when none is given.
pub const DEFAULT_CLOSE_DAYS: i64 = 30;

/// One owner's share of the credit, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditSplit {
    pub user_id: Uuid,
    pub percent: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityData {
    pub name: String,
    pub amount: Option<Money>,
    pub close_date: NaiveDate,
    pub owner_id: Uuid,
    pub account_id: Option<Uuid>,
    pub primary_contact_id: Option<Uuid>,
    pub lost_reason: String,
    /// Empty means 100 % to the owner.
    pub splits: Vec<CreditSplit>,
    /// Validated against the tenant's opportunity custom field definitions by the store.
    pub custom_fields: CustomValues,
    /// The owner's forecast category; `None` follows the stage.
    pub forecast_category: Option<CategoryOverride>,
}

/// The stage an opportunity is in, with what clients see of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentStage {
    pub id: Uuid,
    pub probability: i32,
    pub category: StageCategory,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opportunity {
    pub id: Uuid,
    pub data: OpportunityData,
    pub pipeline_id: Uuid,
    pub stage: CurrentStage,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub stage_entered_at: DateTime<Utc>,
}

impl Opportunity {
    /// Credit shares as commissions needs them: the owner gets 100 % unless splits say otherwise.
    pub fn effective_splits(&self) -> Vec<CreditSplit> {
        if self.data.splits.is_empty() {
            vec![CreditSplit {
                user_id: self.data.owner_id,
                percent: 100,
            }]
        } else {
            self.data.splits.clone()
        }
    }
}

/// Where a new opportunity goes; `None` picks the default pipeline and its first open stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub pipeline_id: Option<Uuid>,
    pub stage_id: Option<Uuid>,
}

/// Changes to an opportunity; the stage changes only through [`plan_move`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpportunityPatch {
    pub name: Option<String>,
    pub amount: Option<Option<Money>>,
    pub close_date: Option<NaiveDate>,
    pub owner_id: Option<Uuid>,
    pub account_id: Option<Option<Uuid>>,
    pub primary_contact_id: Option<Option<Uuid>>,
    pub lost_reason: Option<String>,
    pub splits: Option<Vec<CreditSplit>>,
    /// Replaces every custom value.
    pub custom_fields: Option<CustomValues>,
    pub forecast_category: Option<Option<CategoryOverride>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("lost_reason can only be set on a lost opportunity")]
    LostReasonOnOpenDeal,
    #[error("lost_reason must not be empty on a lost opportunity")]
    LostReasonRemoved,
}

impl OpportunityData {
    pub fn apply(
        &self,
        patch: OpportunityPatch,
        category: StageCategory,
    ) -> Result<Self, PatchError> {
        if let Some(reason) = &patch.lost_reason {
            match category {
                StageCategory::Lost if reason.is_empty() => {
                    return Err(PatchError::LostReasonRemoved);
                }
                StageCategory::Lost => {}
                _ if reason != &self.lost_reason => return Err(PatchError::LostReasonOnOpenDeal),
                _ => {}
            }
        }
        let c = self.clone();
        Ok(Self {
            name: patch.name.unwrap_or(c.name),
            amount: patch.amount.unwrap_or(c.amount),
            close_date: patch.close_date.unwrap_or(c.close_date),
            owner_id: patch.owner_id.unwrap_or(c.owner_id),
            account_id: patch.account_id.unwrap_or(c.account_id),
            primary_contact_id: patch.primary_contact_id.unwrap_or(c.primary_contact_id),
            lost_reason: patch.lost_reason.unwrap_or(c.lost_reason),
            splits: patch.splits.unwrap_or(c.splits),
            custom_fields: patch.custom_fields.unwrap_or(c.custom_fields),
            forecast_category: patch.forecast_category.unwrap_or(c.forecast_category),
        })
    }

    pub fn changed_fields(&self, after: &Self) -> Vec<&'static str> {
        [
            ("name", self.name != after.name),
            ("amount", self.amount != after.amount),
            ("close_date", self.close_date != after.close_date),
            ("owner_id", self.owner_id != after.owner_id),
            ("account_id", self.account_id != after.account_id),
            (
                "primary_contact_id",
                self.primary_contact_id != after.primary_contact_id,
            ),
            ("lost_reason", self.lost_reason != after.lost_reason),
            ("splits", self.splits != after.splits),
            ("custom_fields", self.custom_fields != after.custom_fields),
            (
                "forecast_category",
                self.forecast_category != after.forecast_category,
            ),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }
}

/// Credit splits: up to [`MAX_SPLITS`] distinct users, each 1–100 %, adding up to 100 (or none).
pub fn parse_splits(splits: &[(Uuid, i32)]) -> Result<Vec<CreditSplit>, String> {
    if splits.is_empty() {
        return Ok(Vec::new());
    }
    if splits.len() > MAX_SPLITS {
        return Err(format!("must have at most {MAX_SPLITS} entries"));
    }
    let mut parsed: Vec<CreditSplit> = Vec::with_capacity(splits.len());
    for (i, (user_id, percent)) in splits.iter().copied().enumerate() {
        if !(1..=100).contains(&percent) {
            return Err(format!("entry {i}: percent must be between 1 and 100"));
        }
        if parsed.iter().any(|s| s.user_id == user_id) {
            return Err(format!("entry {i}: user appears twice"));
        }
        parsed.push(CreditSplit { user_id, percent });
    }
    let total: i32 = parsed.iter().map(|s| s.percent).sum();
    if total != 100 {
        return Err(format!("percentages must add up to 100, not {total}"));
    }
    Ok(parsed)
}

/// What a stage move means beyond "the stage changed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    Won,
    Lost,
    /// A closed deal moved; `previous` is what is being undone.
    Reopened {
        previous: StageCategory,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the opportunity is already in this stage")]
    SameStage,
    #[error("is required when moving to a lost stage")]
    LostReasonRequired,
    #[error("is only allowed when moving to a lost stage")]
    LostReasonNotAllowed,
    #[error("is archived; move to a stage that is not")]
    ArchivedStage,
}

/// A validated stage move: the outcomes to announce, in order, and the lost reason to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovePlan {
    pub outcomes: Vec<MoveOutcome>,
    pub lost_reason: String,
    /// Closing a deal sets its close date to the day of the move.
    pub closes: bool,
}

/// The stage transition rules. Moving between categories reopens a closed deal before closing
/// it again, so won → lost announces `reopened` (undo the win) and then `lost`. A lost stage
/// needs a reason when the tenant's `reason_required` setting says so; archived stages take no
/// moves.
pub fn plan_move(
    from: &Stage,
    to: &Stage,
    lost_reason: &str,
    reason_required: bool,
) -> Result<MovePlan, MoveError> {
    if from.id == to.id {
        return Err(MoveError::SameStage);
    }
    if to.archived {
        return Err(MoveError::ArchivedStage);
    }
    let reason = lost_reason.trim();
    match to.category {
        StageCategory::Lost if reason.is_empty() && reason_required => {
            return Err(MoveError::LostReasonRequired);
        }
        StageCategory::Open | StageCategory::Won if !reason.is_empty() => {
            return Err(MoveError::LostReasonNotAllowed);
        }
        _ => {}
    }
    let mut outcomes = Vec::new();
    if from.category.is_closed() && from.category != to.category {
        outcomes.push(MoveOutcome::Reopened {
            previous: from.category,
        });
    }
    if from.category != to.category {
        match to.category {
            StageCategory::Won => outcomes.push(MoveOutcome::Won),
            StageCategory::Lost => outcomes.push(MoveOutcome::Lost),
            StageCategory::Open => {}
        }
    }
    Ok(MovePlan {
        outcomes,
        lost_reason: reason.to_owned(),
        closes: to.category.is_closed() && from.category != to.category,
    })
}

/// Seconds between entering a stage and leaving it (never negative, even with clock skew).
pub fn seconds_in_stage(entered: DateTime<Utc>, left: DateTime<Utc>) -> i64 {
    (left - entered).num_seconds().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(category: StageCategory) -> Stage {
        Stage {
            id: Uuid::now_v7(),
            name: category.as_str().into(),
            probability: 0,
            category,
            position: 0,
            archived: false,
        }
    }

    #[test]
    fn moving_between_open_stages_is_a_plain_stage_change() {
        let (a, b) = (stage(StageCategory::Open), stage(StageCategory::Open));
        let plan = plan_move(&a, &b, "", true).expect("valid");
        assert!(plan.outcomes.is_empty());
        assert!(!plan.closes);
        assert_eq!(plan_move(&a, &a, "", true), Err(MoveError::SameStage));
    }

    #[test]
    fn winning_losing_and_reopening() {
        use StageCategory::{Lost, Open, Won};
        let (open, won, lost) = (stage(Open), stage(Won), stage(Lost));
        assert_eq!(
            plan_move(&open, &won, "", true).map(|p| p.outcomes),
            Ok(vec![MoveOutcome::Won])
        );
        assert_eq!(
            plan_move(&open, &lost, "budget", true).map(|p| (p.outcomes, p.lost_reason)),
            Ok((vec![MoveOutcome::Lost], "budget".to_owned()))
        );
        assert_eq!(
            plan_move(&won, &open, "", true).map(|p| p.outcomes),
            Ok(vec![MoveOutcome::Reopened { previous: Won }])
        );
        assert_eq!(
            plan_move(&won, &lost, "churned", true).map(|p| p.outcomes),
            Ok(vec![
                MoveOutcome::Reopened { previous: Won },
                MoveOutcome::Lost
            ])
        );
        assert_eq!(
            plan_move(&lost, &won, "", true).map(|p| p.outcomes),
            Ok(vec![
                MoveOutcome::Reopened { previous: Lost },
                MoveOutcome::Won
            ])
        );
        assert!(plan_move(&open, &won, "", true).is_ok_and(|p| p.closes));
    }

    #[test]
    fn lost_needs_a_reason_and_nothing_else_takes_one() {
        use StageCategory::{Lost, Open, Won};
        let (open, won, lost) = (stage(Open), stage(Won), stage(Lost));
        assert_eq!(
            plan_move(&open, &lost, "  ", true),
            Err(MoveError::LostReasonRequired)
        );
        assert_eq!(
            plan_move(&open, &won, "why", true),
            Err(MoveError::LostReasonNotAllowed)
        );
        assert_eq!(
            plan_move(&lost, &open, "why", true),
            Err(MoveError::LostReasonNotAllowed)
        );
        // The tenant may let deals be lost without a reason.
        assert!(plan_move(&open, &lost, "", false).is_ok());
    }

    #[test]
    fn archived_stages_take_no_moves() {
        let open = stage(StageCategory::Open);
        let archived = Stage {
            archived: true,
            ..stage(StageCategory::Open)
        };
        assert_eq!(
            plan_move(&open, &archived, "", true),
            Err(MoveError::ArchivedStage)
        );
    }

    #[test]
    fn splits_add_up_to_one_hundred_percent() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(parse_splits(&[]), Ok(vec![]));
        assert_eq!(parse_splits(&[(a, 60), (b, 40)]).map(|s| s.len()), Ok(2));
        assert!(parse_splits(&[(a, 60), (b, 30)]).is_err());
        assert!(parse_splits(&[(a, 50), (a, 50)]).is_err());
        assert!(parse_splits(&[(a, 0), (b, 100)]).is_err());
    }

    #[test]
    fn effective_splits_default_to_the_owner() {
        let owner = Uuid::now_v7();
        let opportunity = Opportunity {
            id: Uuid::now_v7(),
            data: OpportunityData {
                name: "Deal".into(),
                amount: None,
                close_date: NaiveDate::MIN,
                owner_id: owner,
                account_id: None,
                primary_contact_id: None,
                lost_reason: String::new(),
                splits: vec![],
                custom_fields: CustomValues::new(),
                forecast_category: None,
            },
            pipeline_id: Uuid::now_v7(),
            stage: CurrentStage {
                id: Uuid::now_v7(),
                probability: 10,
                category: StageCategory::Open,
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
            stage_entered_at: Utc::now(),
        };
        assert_eq!(
            opportunity.effective_splits(),
            [CreditSplit {
                user_id: owner,
                percent: 100
            }]
        );
    }

    #[test]
    fn lost_reason_edits_only_on_lost_deals() {
        let data = OpportunityData {
            name: "Deal".into(),
            amount: None,
            close_date: NaiveDate::MIN,
            owner_id: Uuid::now_v7(),
            account_id: None,
            primary_contact_id: None,
            lost_reason: String::new(),
            splits: vec![],
            custom_fields: CustomValues::new(),
            forecast_category: None,
        };
        let patch = OpportunityPatch {
            lost_reason: Some("price".into()),
            ..OpportunityPatch::default()
        };
        assert_eq!(
            data.apply(patch.clone(), StageCategory::Open),
            Err(PatchError::LostReasonOnOpenDeal)
        );
        assert!(data.apply(patch, StageCategory::Lost).is_ok());
        assert_eq!(
            data.apply(
                OpportunityPatch {
                    lost_reason: Some(String::new()),
                    ..OpportunityPatch::default()
                },
                StageCategory::Lost
            ),
            Err(PatchError::LostReasonRemoved)
        );
    }
}

/// One recorded stage change (the first has no `from_stage_id`: the deal was created there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageChange {
    pub from_stage_id: Option<Uuid>,
    pub to_stage_id: Uuid,
    pub changed_by: Uuid,
    pub changed_at: DateTime<Utc>,
    pub seconds_in_stage: i64,
}

/// A validated opportunity to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOpportunity {
    pub data: OpportunityData,
    pub placement: Placement,
}
