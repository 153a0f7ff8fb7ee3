//! The rules for changing a pipeline after it was created: what an admin may rename, add,
//! reorder, archive or delete, decided on the pipeline as loaded (under its row lock) plus the
//! opportunity counts the store read. Every change keeps one open, one won and one lost stage
//! that is not archived.

use uuid::Uuid;

use super::pipeline::{
    MAX_NAME_LEN, MAX_STAGES, Pipeline, RawStage, Stage, StageCategory, StageSpec,
    check_probability, check_stage,
};
use super::text;
use super::violations::{FieldViolation, Violations};

/// Why a change is refused: bad input (INVALID_ARGUMENT) or a rule the pipeline's current
/// state does not allow (FAILED_PRECONDITION, naming the stage or pipeline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    Invalid(Vec<FieldViolation>),
    Precondition(String),
}

impl From<Vec<FieldViolation>> for EditError {
    fn from(violations: Vec<FieldViolation>) -> Self {
        EditError::Invalid(violations)
    }
}

fn invalid(field: &str, description: impl Into<String>) -> EditError {
    EditError::Invalid(vec![FieldViolation::new(field, description)])
}

/// Refuses a stage list that lacks a live stage of some category, blaming `culprit` (the stage
/// whose change or removal would leave the gap).
pub fn require_categories(stages: &[Stage], culprit: &Stage) -> Result<(), EditError> {
    for category in [StageCategory::Open, StageCategory::Won, StageCategory::Lost] {
        if !stages.iter().any(|s| s.category == category && !s.archived) {
            return Err(EditError::Precondition(format!(
                "stage {:?} ({}) is the pipeline's last {} stage; a pipeline keeps at least one \
                 open, one won and one lost stage that is not archived",
                culprit.name,
                culprit.id,
                category.as_str()
            )));
        }
    }
    Ok(())
}

fn stage(pipeline: &Pipeline, id: Uuid) -> Result<&Stage, EditError> {
    pipeline
        .stage(id)
        .ok_or_else(|| invalid("stage_id", "is not a stage of this pipeline"))
}

/// A new pipeline name.
pub fn rename_pipeline(raw: &str) -> Result<String, EditError> {
    text::required(raw, MAX_NAME_LEN).map_err(|e| invalid("pipeline.name", e.to_string()))
}

/// A pipeline may become the default unless it is archived.
pub fn set_default(pipeline: &Pipeline) -> Result<(), EditError> {
    if pipeline.archived {
        return Err(EditError::Precondition(format!(
            "pipeline {:?} ({}) is archived and cannot be the default",
            pipeline.name, pipeline.id
        )));
    }
    Ok(())
}

/// The default pipeline and one with open deals stay; deals would have nowhere to go.
pub fn archive_pipeline(pipeline: &Pipeline, open_deals: i64) -> Result<(), EditError> {
    let refuse = |why: String| {
        Err(EditError::Precondition(format!(
            "pipeline {:?} ({}) {why}",
            pipeline.name, pipeline.id
        )))
    };
    if pipeline.archived {
        return refuse("is already archived".to_owned());
    }
    if pipeline.is_default {
        return refuse("is the default pipeline; make another pipeline the default first".into());
    }
    if open_deals > 0 {
        return refuse(format!(
            "has {open_deals} open opportunities; move or close them first"
        ));
    }
    Ok(())
}

/// A stage to append: the rules of a created pipeline's stages, names unique among all stages
/// (archived ones too, since history shows them by name).
pub fn new_stage(pipeline: &Pipeline, raw: &RawStage) -> Result<StageSpec, EditError> {
    if pipeline.stages.len() >= MAX_STAGES {
        return Err(invalid(
            "stage",
            format!("a pipeline has at most {MAX_STAGES} stages"),
        ));
    }
    let taken: Vec<String> = pipeline
        .stages
        .iter()
        .map(|s| s.name.to_lowercase())
        .collect();
    let mut v = Violations::new();
    let spec = check_stage(&mut v, "stage.", raw, &taken);
    v.finish()?;
    spec.ok_or_else(|| invalid("stage", "is invalid"))
}

/// The fields of a stage an admin changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StagePatch {
    pub name: Option<String>,
    pub probability: Option<i32>,
    pub category: Option<StageCategory>,
}

/// The stage after `patch`, and the names of the fields that changed. A category cannot change
/// under live opportunities (`deals` of them): that would win or lose them without a move.
pub fn update_stage(
    pipeline: &Pipeline,
    id: Uuid,
    patch: &StagePatch,
    deals: i64,
) -> Result<(Stage, Vec<&'static str>), EditError> {
    let before = stage(pipeline, id)?;
    let mut after = before.clone();
    let mut v = Violations::new();
    if let Some(raw) = &patch.name
        && let Some(name) = v.check("stage.name", text::required(raw, MAX_NAME_LEN))
    {
        let key = name.to_lowercase();
        if pipeline
            .stages
            .iter()
            .any(|s| s.id != id && s.name.to_lowercase() == key)
        {
            v.add("stage.name", "must be unique within the pipeline");
        }
        after.name = name;
    }
    if let Some(category) = patch.category {
        after.category = category;
        // A closed category fixes the probability unless the admin sent one.
        if patch.probability.is_none() {
            match category {
                StageCategory::Won => after.probability = 100,
                StageCategory::Lost => after.probability = 0,
                StageCategory::Open => {}
            }
        }
    }
    if let Some(probability) = patch.probability {
        after.probability = probability;
    }
    check_probability(
        &mut v,
        "stage.probability",
        after.probability,
        Some(after.category),
    );
    v.finish()?;
    if after.category != before.category && deals > 0 {
        return Err(EditError::Precondition(format!(
            "stage {:?} ({}) holds {deals} opportunities; its category cannot change (move them \
             first, or archive it and add a new stage)",
            before.name, before.id
        )));
    }
    let stages: Vec<Stage> = pipeline
        .stages
        .iter()
        .map(|s| if s.id == id { after.clone() } else { s.clone() })
        .collect();
    require_categories(&stages, before)?;
    let changed = [
        ("name", before.name != after.name),
        ("probability", before.probability != after.probability),
        ("category", before.category != after.category),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect();
    Ok((after, changed))
}

/// `requested` must name every id of `current` exactly once (field `field`).
pub fn check_permutation(
    field: &str,
    current: &[Uuid],
    requested: &[Uuid],
) -> Result<(), FieldViolation> {
    let mut sorted_current = current.to_vec();
    let mut sorted_requested = requested.to_vec();
    sorted_current.sort();
    sorted_requested.sort();
    if sorted_current != sorted_requested {
        return Err(FieldViolation::new(
            field,
            format!(
                "must list each of the {} current ids exactly once",
                current.len()
            ),
        ));
    }
    Ok(())
}

/// The stage ids in their new order.
pub fn reorder_stages(pipeline: &Pipeline, requested: &[Uuid]) -> Result<Vec<Uuid>, EditError> {
    let current: Vec<Uuid> = pipeline.stages.iter().map(|s| s.id).collect();
    check_permutation("stage_ids", &current, requested).map_err(|v| EditError::Invalid(vec![v]))?;
    Ok(requested.to_vec())
}

/// Checks archiving stage `id`, its live deals (`open` of them in an open state) going to
/// `move_to` if given; returns the target stage. The target is a live stage of the same
/// pipeline and category, so the moves neither win nor lose anything.
pub fn archive_stage(
    pipeline: &Pipeline,
    id: Uuid,
    move_to: Option<Uuid>,
    open: i64,
) -> Result<Option<Stage>, EditError> {
    let archived = stage(pipeline, id)?;
    if archived.archived {
        return Err(EditError::Precondition(format!(
            "stage {:?} ({}) is already archived",
            archived.name, archived.id
        )));
    }
    let target = match move_to {
        Some(target_id) => {
            let target = pipeline
                .stage(target_id)
                .ok_or_else(|| invalid("move_to_stage_id", "is not a stage of this pipeline"))?;
            if target.id == archived.id {
                return Err(invalid(
                    "move_to_stage_id",
                    "must be another stage than the one archived",
                ));
            }
            if target.archived {
                return Err(invalid("move_to_stage_id", "is archived"));
            }
            if target.category != archived.category {
                return Err(invalid(
                    "move_to_stage_id",
                    format!(
                        "must be a {} stage like {:?}",
                        archived.category.as_str(),
                        archived.name
                    ),
                ));
            }
            Some(target.clone())
        }
        None if open > 0 => {
            return Err(EditError::Precondition(format!(
                "stage {:?} ({}) has {open} open opportunities; archive it with \
                 move_to_stage_id to move them",
                archived.name, archived.id
            )));
        }
        None => None,
    };
    let stages: Vec<Stage> = pipeline
        .stages
        .iter()
        .map(|s| Stage {
            archived: s.archived || s.id == id,
            ..s.clone()
        })
        .collect();
    require_categories(&stages, archived)?;
    Ok(target)
}

/// A stage is deleted only if no opportunity was ever in it (`used`: opportunities, deleted
/// ones too, and stage-history rows naming it); otherwise it is archived.
pub fn delete_stage(pipeline: &Pipeline, id: Uuid, used: i64) -> Result<(), EditError> {
    let deleted = stage(pipeline, id)?;
    if used > 0 {
        return Err(EditError::Precondition(format!(
            "stage {:?} ({}) has held opportunities; archive it instead (ArchiveStage, with \
             move_to_stage_id for its open ones)",
            deleted.name, deleted.id
        )));
    }
    let stages: Vec<Stage> = pipeline
        .stages
        .iter()
        .filter(|s| s.id != id)
        .cloned()
        .collect();
    require_categories(&stages, deleted)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use StageCategory::{Lost, Open, Won};

    fn pipeline(stages: &[(&str, i32, StageCategory)]) -> Pipeline {
        Pipeline {
            id: Uuid::now_v7(),
            name: "Sales".into(),
            is_default: false,
            archived: false,
            stages: stages
                .iter()
                .enumerate()
                .map(|(i, (name, probability, category))| Stage {
                    id: Uuid::now_v7(),
                    name: (*name).into(),
                    probability: *probability,
                    category: *category,
                    position: i32::try_from(i).unwrap_or(0),
                    archived: false,
                })
                .collect(),
            created_at: Utc::now(),
        }
    }

    fn sales() -> Pipeline {
        pipeline(&[
            ("Prospect", 10, Open),
            ("Proposal", 50, Open),
            ("Won", 100, Won),
            ("Lost", 0, Lost),
        ])
    }

    fn precondition(result: Result<impl std::fmt::Debug, EditError>) -> String {
        match result {
            Err(EditError::Precondition(message)) => message,
            other => panic!("expected a precondition failure, got {other:?}"),
        }
    }

    fn fields(result: Result<impl std::fmt::Debug, EditError>) -> Vec<String> {
        match result {
            Err(EditError::Invalid(violations)) => {
                violations.into_iter().map(|v| v.field).collect()
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn the_last_won_stage_cannot_be_archived_and_the_message_names_it() {
        let p = sales();
        let won = p.stages[2].id;
        let message = precondition(archive_stage(&p, won, None, 0));
        assert!(message.contains("\"Won\"") && message.contains(&won.to_string()));
        assert!(message.contains("last won stage"), "{message}");
        // Nor deleted, nor turned into an open stage.
        precondition(delete_stage(&p, won, 0));
        let reopen = StagePatch {
            category: Some(Open),
            probability: Some(90),
            ..Default::default()
        };
        precondition(update_stage(&p, won, &reopen, 0));
    }

    #[test]
    fn a_second_won_stage_makes_the_first_archivable() {
        let mut p = sales();
        p.stages.push(Stage {
            id: Uuid::now_v7(),
            name: "Won (renewal)".into(),
            probability: 100,
            category: Won,
            position: 4,
            archived: false,
        });
        assert_eq!(archive_stage(&p, p.stages[2].id, None, 0), Ok(None));
    }

    #[test]
    fn open_deals_must_move_with_the_archived_stage_to_a_live_stage_of_its_category() {
        let mut p = sales();
        let (prospect, proposal, won) = (p.stages[0].id, p.stages[1].id, p.stages[2].id);
        assert!(precondition(archive_stage(&p, prospect, None, 3)).contains("3 open"));
        assert_eq!(
            fields(archive_stage(&p, prospect, Some(won), 3)),
            ["move_to_stage_id"]
        );
        assert_eq!(
            fields(archive_stage(&p, prospect, Some(prospect), 3)),
            ["move_to_stage_id"]
        );
        let target = archive_stage(&p, prospect, Some(proposal), 3).expect("allowed");
        assert_eq!(target.map(|s| s.id), Some(proposal));
        p.stages[1].archived = true;
        // Proposal archived: no live target, and Prospect is the last open stage.
        assert_eq!(
            fields(archive_stage(&p, prospect, Some(proposal), 3)),
            ["move_to_stage_id"]
        );
        assert!(precondition(archive_stage(&p, prospect, None, 0)).contains("last open"));
    }

    #[test]
    fn stages_holding_deals_are_never_deleted() {
        let p = sales();
        assert!(precondition(delete_stage(&p, p.stages[1].id, 1)).contains("archive it instead"));
        assert_eq!(delete_stage(&p, p.stages[1].id, 0), Ok(()));
    }

    #[test]
    fn stage_updates_check_names_probabilities_and_categories() {
        let p = sales();
        let proposal = p.stages[1].id;
        let rename = StagePatch {
            name: Some(" prospect ".into()),
            probability: Some(120),
            ..Default::default()
        };
        assert_eq!(
            fields(update_stage(&p, proposal, &rename, 0)),
            ["stage.name", "stage.probability"]
        );
        let to_won = StagePatch {
            category: Some(Won),
            ..Default::default()
        };
        let (after, changed) = update_stage(&p, proposal, &to_won, 0).expect("no deals");
        assert_eq!((after.probability, after.category), (100, Won));
        assert_eq!(changed, ["probability", "category"]);
        assert!(precondition(update_stage(&p, proposal, &to_won, 2)).contains("holds 2"));
        let odds = StagePatch {
            probability: Some(60),
            ..Default::default()
        };
        assert_eq!(
            update_stage(&p, proposal, &odds, 5).map(|(s, c)| (s.probability, c)),
            Ok((60, vec!["probability"]))
        );
    }

    #[test]
    fn reorders_are_permutations_of_every_stage() {
        let p = sales();
        let ids: Vec<Uuid> = p.stages.iter().rev().map(|s| s.id).collect();
        assert_eq!(reorder_stages(&p, &ids), Ok(ids.clone()));
        assert_eq!(fields(reorder_stages(&p, &ids[1..])), ["stage_ids"]);
        let twice = [ids[0], ids[0], ids[1], ids[2]];
        assert_eq!(fields(reorder_stages(&p, &twice)), ["stage_ids"]);
    }

    #[test]
    fn new_stage_names_are_unique_among_archived_ones_too() {
        let mut p = sales();
        p.stages[0].archived = true;
        let raw = RawStage {
            name: "PROSPECT".into(),
            probability: 10,
            category: Some(Open),
        };
        assert_eq!(fields(new_stage(&p, &raw)), ["stage.name"]);
    }

    #[test]
    fn the_default_pipeline_and_one_with_open_deals_stay() {
        let mut p = sales();
        assert!(precondition(archive_pipeline(&p, 2)).contains("2 open"));
        assert_eq!(archive_pipeline(&p, 0), Ok(()));
        p.is_default = true;
        assert!(precondition(archive_pipeline(&p, 0)).contains("default"));
        p.is_default = false;
        p.archived = true;
        precondition(set_default(&p));
    }
}
