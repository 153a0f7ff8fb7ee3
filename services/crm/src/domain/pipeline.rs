//! Pipelines: ordered stages, each open, won or lost, with a win probability.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::text;
use super::violations::{FieldViolation, Violations};

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_STAGES: usize = 30;
pub const DEFAULT_PIPELINE_NAME: &str = "Sales";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageCategory {
    Open,
    Won,
    Lost,
}

impl StageCategory {
    /// Stored form, and the opportunity `state` shown to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            StageCategory::Open => "open",
            StageCategory::Won => "won",
            StageCategory::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [StageCategory::Open, StageCategory::Won, StageCategory::Lost]
            .into_iter()
            .find(|c| c.as_str() == raw)
    }

    pub fn is_closed(self) -> bool {
        self != StageCategory::Open
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub id: Uuid,
    pub name: String,
    pub probability: i32,
    pub category: StageCategory,
    pub position: i32,
    /// Kept for history and the board; takes no new opportunities or moves.
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub id: Uuid,
    pub name: String,
    pub is_default: bool,
    /// Takes no new opportunities.
    pub archived: bool,
    /// In position order, archived stages included.
    pub stages: Vec<Stage>,
    pub created_at: DateTime<Utc>,
}

impl Pipeline {
    /// Where new opportunities start: the first open stage that is not archived.
    pub fn first_open_stage(&self) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.category == StageCategory::Open && !s.archived)
    }

    pub fn stage(&self, id: Uuid) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// A stage as requested, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    pub name: String,
    pub probability: i32,
    pub category: StageCategory,
}

/// A validated pipeline to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPipeline {
    pub name: String,
    pub stages: Vec<StageSpec>,
}

/// A stage as the client sent it: category may be missing (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStage {
    pub name: String,
    pub probability: i32,
    pub category: Option<StageCategory>,
}

impl NewPipeline {
    /// Validates a pipeline: a name, 3 to [`MAX_STAGES`] uniquely named stages with at least one
    /// open, one won and one lost, probabilities 0–100 (won 100, lost 0). Violations name fields
    /// under `prefix` (e.g. `pipeline.stages[2].probability`).
    pub fn parse(
        name: &str,
        stages: &[RawStage],
        prefix: &str,
    ) -> Result<Self, Vec<FieldViolation>> {
        let mut v = Violations::new();
        let name = v.check(&format!("{prefix}name"), text::required(name, MAX_NAME_LEN));
        if !(3..=MAX_STAGES).contains(&stages.len()) {
            v.add(
                format!("{prefix}stages"),
                format!("must have between 3 and {MAX_STAGES} stages"),
            );
        }
        let mut specs = Vec::with_capacity(stages.len());
        let mut seen_names: Vec<String> = Vec::new();
        for (i, stage) in stages.iter().enumerate() {
            let spec = check_stage(&mut v, &format!("{prefix}stages[{i}]."), stage, &seen_names);
            if let Some(n) = name_key(stage) {
                seen_names.push(n);
            }
            specs.extend(spec);
        }
        for category in [StageCategory::Open, StageCategory::Won, StageCategory::Lost] {
            if !stages.is_empty() && !stages.iter().any(|s| s.category == Some(category)) {
                v.add(
                    format!("{prefix}stages"),
                    format!("must include at least one {} stage", category.as_str()),
                );
            }
        }
        v.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            stages: specs,
        })
    }
}

/// The case-insensitive key names are unique by.
fn name_key(stage: &RawStage) -> Option<String> {
    let name = stage.name.trim();
    (!name.is_empty()).then(|| name.to_lowercase())
}

/// Checks one stage (fields under `prefix`, e.g. `stages[2].`): a name unique among `taken`
/// (lowercased), a probability 0–100 that is 100 for won and 0 for lost, a category.
pub(crate) fn check_stage(
    v: &mut Violations,
    prefix: &str,
    stage: &RawStage,
    taken: &[String],
) -> Option<StageSpec> {
    let field = |f: &str| format!("{prefix}{f}");
    let stage_name = v.check(&field("name"), text::required(&stage.name, MAX_NAME_LEN));
    if let Some(n) = &stage_name
        && taken.contains(&n.to_lowercase())
    {
        v.add(field("name"), "must be unique within the pipeline");
    }
    check_probability(v, &field("probability"), stage.probability, stage.category);
    if stage.category.is_none() {
        v.add(
            field("category"),
            "is required (STAGE_CATEGORY_OPEN, STAGE_CATEGORY_WON or STAGE_CATEGORY_LOST)",
        );
    }
    Some(StageSpec {
        name: stage_name?,
        probability: stage.probability,
        category: stage.category?,
    })
}

/// 0–100; a won stage is certain (100) and a lost one hopeless (0).
pub(crate) fn check_probability(
    v: &mut Violations,
    field: &str,
    probability: i32,
    category: Option<StageCategory>,
) {
    if !(0..=100).contains(&probability) {
        v.add(field, "must be between 0 and 100");
    }
    match category {
        Some(StageCategory::Won) if probability != 100 => {
            v.add(field, "must be 100 for a won stage")
        }
        Some(StageCategory::Lost) if probability != 0 => v.add(field, "must be 0 for a lost stage"),
        _ => {}
    }
}

/// The pipeline every tenant starts with.
pub fn default_pipeline() -> NewPipeline {
    let stage = |name: &str, probability, category| StageSpec {
        name: name.to_owned(),
        probability,
        category,
    };
    NewPipeline {
        name: DEFAULT_PIPELINE_NAME.to_owned(),
        stages: vec![
            stage("Prospecting", 10, StageCategory::Open),
            stage("Qualification", 25, StageCategory::Open),
            stage("Proposal", 50, StageCategory::Open),
            stage("Negotiation", 75, StageCategory::Open),
            stage("Closed Won", 100, StageCategory::Won),
            stage("Closed Lost", 0, StageCategory::Lost),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, probability: i32, category: Option<StageCategory>) -> RawStage {
        RawStage {
            name: name.into(),
            probability,
            category,
        }
    }

    fn fields(result: Result<NewPipeline, Vec<FieldViolation>>) -> Vec<String> {
        result
            .expect_err("invalid")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn the_default_pipeline_is_valid_and_starts_open() {
        let default = default_pipeline();
        let raw: Vec<RawStage> = default
            .stages
            .iter()
            .map(|s| raw(&s.name, s.probability, Some(s.category)))
            .collect();
        assert_eq!(
            NewPipeline::parse(&default.name, &raw, ""),
            Ok(default.clone())
        );
        assert_eq!(default.stages[0].category, StageCategory::Open);
    }

    #[test]
    fn stage_rules_are_enforced_with_field_paths() {
        use StageCategory::{Lost, Open, Won};
        let bad = [
            raw("Start", 10, Some(Open)),
            raw("start", 150, Some(Open)),
            raw("Won", 90, Some(Won)),
            raw("Lost", 0, Some(Lost)),
            raw("", 0, None),
        ];
        assert_eq!(
            fields(NewPipeline::parse(" ", &bad, "pipeline.")),
            [
                "pipeline.name",
                "pipeline.stages[1].name",
                "pipeline.stages[1].probability",
                "pipeline.stages[2].probability",
                "pipeline.stages[4].name",
                "pipeline.stages[4].category",
            ]
        );
        let no_lost = [
            raw("A", 10, Some(Open)),
            raw("B", 20, Some(Open)),
            raw("W", 100, Some(Won)),
        ];
        assert_eq!(fields(NewPipeline::parse("P", &no_lost, "")), ["stages"]);
        assert_eq!(fields(NewPipeline::parse("P", &[], "")), ["stages"]);
    }
}
