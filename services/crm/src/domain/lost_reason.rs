//! Lost reasons: the tenant's ordered picklist of why deals are lost, and the rule for the
//! reason given on a move to a lost stage.

use uuid::Uuid;

use super::text;
use super::violations::FieldViolation;

pub const MAX_LABEL_LEN: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostReason {
    pub id: Uuid,
    pub label: String,
    pub position: i32,
    /// Listed, but refused on new moves.
    pub archived: bool,
}

/// A label (field `lost_reason.label`).
pub fn parse_label(raw: &str) -> Result<String, FieldViolation> {
    text::required(raw, MAX_LABEL_LEN)
        .map_err(|e| FieldViolation::new("lost_reason.label", e.to_string()))
}

/// Why the reason given on a move to a lost stage is refused (field `lost_reason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("is required when moving to a lost stage")]
    Required,
    #[error("is not one of the tenant's lost reasons ({0})")]
    Unknown(String),
    #[error("{0:?} is archived; pick an active lost reason")]
    Archived(String),
}

/// The reason to store for a move to a lost stage: empty only when not `required`; otherwise,
/// when the tenant has a picklist, the label of an active entry (matched case-insensitively and
/// stored as spelled in the picklist); without a picklist, the free text as given.
pub fn resolve(picklist: &[LostReason], raw: &str, required: bool) -> Result<String, ReasonError> {
    let given = raw.trim();
    if given.is_empty() {
        return if required {
            Err(ReasonError::Required)
        } else {
            Ok(String::new())
        };
    }
    if picklist.is_empty() {
        return Ok(given.to_owned());
    }
    let key = given.to_lowercase();
    match picklist.iter().find(|r| r.label.to_lowercase() == key) {
        Some(reason) if reason.archived => Err(ReasonError::Archived(reason.label.clone())),
        Some(reason) => Ok(reason.label.clone()),
        None => Err(ReasonError::Unknown(
            picklist
                .iter()
                .filter(|r| !r.archived)
                .map(|r| r.label.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(label: &str, archived: bool) -> LostReason {
        LostReason {
            id: Uuid::now_v7(),
            label: label.into(),
            position: 0,
            archived,
        }
    }

    #[test]
    fn a_picklist_decides_which_reasons_are_accepted() {
        let picklist = [reason("Price", false), reason("Timing", true)];
        assert_eq!(resolve(&picklist, " price ", true), Ok("Price".into()));
        assert_eq!(
            resolve(&picklist, "timing", true),
            Err(ReasonError::Archived("Timing".into()))
        );
        assert_eq!(
            resolve(&picklist, "Budget", false),
            Err(ReasonError::Unknown("Price".into()))
        );
        assert_eq!(resolve(&picklist, "", true), Err(ReasonError::Required));
        assert_eq!(resolve(&picklist, " ", false), Ok(String::new()));
    }

    #[test]
    fn without_a_picklist_any_reason_goes() {
        assert_eq!(resolve(&[], "Went dark", true), Ok("Went dark".into()));
        assert_eq!(resolve(&[], "", true), Err(ReasonError::Required));
    }

    #[test]
    fn labels_are_required_and_bounded() {
        assert!(parse_label("  ").is_err());
        assert!(parse_label(&"x".repeat(MAX_LABEL_LEN + 1)).is_err());
        assert_eq!(parse_label(" Price "), Ok("Price".into()));
    }
}
