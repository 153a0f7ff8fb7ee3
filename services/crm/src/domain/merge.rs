//! Merging two records of one kind: which fields may be taken from the loser.

use super::record_fields::table;
use super::visibility::RecordKind;

/// The fields a merge may take from the loser (the names of the record's proto fields), from the
/// record's field table; none for opportunities.
pub fn mergeable_fields(kind: RecordKind) -> Vec<&'static str> {
    table(kind).mergeable()
}

/// The validated choice of fields taken from the loser; unknown names are refused, naming the
/// mergeable ones.
pub fn parse_fields_from_loser(
    kind: RecordKind,
    raw: &[String],
) -> Result<Vec<&'static str>, String> {
    let allowed = mergeable_fields(kind);
    let mut fields = Vec::with_capacity(raw.len());
    for name in raw {
        match allowed.iter().find(|f| **f == name.as_str()) {
            Some(field) if !fields.contains(field) => fields.push(*field),
            Some(_) => {}
            None => {
                return Err(format!(
                    "cannot take {name:?} from the loser; mergeable: {}",
                    allowed.join(", ")
                ));
            }
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_fields_are_taken_from_the_loser() {
        assert_eq!(
            parse_fields_from_loser(RecordKind::Lead, &["email".into(), "email".into()]),
            Ok(vec!["email"])
        );
        assert!(
            parse_fields_from_loser(RecordKind::Lead, &["domain".into()])
                .is_err_and(|e| e.contains("mergeable: first_name"))
        );
    }
}
