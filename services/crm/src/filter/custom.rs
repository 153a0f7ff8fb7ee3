//! Typing `custom.<key>` comparisons with the key's definition: the value is read from the
//! record's jsonb column and cast to the field's type, so comparisons are numeric, by date or by
//! boolean rather than textual.

use crate::domain::custom_fields::{Definition, FieldType};
use ::filter::{Condition, FilterError, Kind, ResolvedCustom, typed_value};

/// Whether `condition` has custom comparisons (so definitions are worth reading).
pub fn mentions_custom(condition: &Condition) -> bool {
    match condition {
        Condition::And(items) | Condition::Or(items) => items.iter().any(mentions_custom),
        Condition::Not(inner) => mentions_custom(inner),
        Condition::Compare { .. } => false,
        Condition::Custom(_) => true,
    }
}

/// Types every custom comparison of `condition` with `definitions`, reading from `column` (a
/// trusted jsonb column expression such as `l.custom_fields`).
pub fn resolve(
    condition: &mut Condition,
    definitions: &[Definition],
    column: &str,
) -> Result<(), FilterError> {
    match condition {
        Condition::And(items) | Condition::Or(items) => items
            .iter_mut()
            .try_for_each(|c| resolve(c, definitions, column)),
        Condition::Not(inner) => resolve(inner, definitions, column),
        Condition::Compare { .. } => Ok(()),
        Condition::Custom(custom) => {
            let c = &custom.comparison;
            let definition = definitions
                .iter()
                .find(|d| d.spec.key == custom.key)
                .ok_or_else(|| {
                    let known: Vec<&str> =
                        definitions.iter().map(|d| d.spec.key.as_str()).collect();
                    FilterError::at(
                        c.field_pos,
                        format!(
                            "unknown custom field {:?}; custom fields: {}",
                            custom.key,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    )
                })?;
            let key = &definition.spec.key;
            // The key comes from the definition, whose keys are [a-z][a-z0-9_]* (checked on
            // creation and by the table's CHECK), so it is safe as a SQL literal.
            let text = format!("({column}->>'{key}')");
            let (kind, expr) = match definition.spec.field_type {
                FieldType::Text | FieldType::Url | FieldType::Email | FieldType::Phone => {
                    (Kind::Text { lowercase: false }, text)
                }
                // Ids are stored lower-case; compared as text (custom values take no uuids).
                FieldType::Lookup => (Kind::Text { lowercase: true }, text),
                FieldType::Picklist => (Kind::Enum(&["picklist"]), text),
                // `custom.k = "a"`: "a" is among the choices.
                FieldType::MultiPicklist => (
                    Kind::TextList { lowercase: false },
                    format!(
                        "ARRAY(SELECT jsonb_array_elements_text(coalesce({column}->'{key}', \
                         '[]'::jsonb)))"
                    ),
                ),
                FieldType::Number => (Kind::Integer, format!("{text}::numeric")),
                // Compared by amount, whatever the currency.
                FieldType::Currency => (
                    Kind::Integer,
                    format!(
                        "(({column}->'{key}'->>'units')::numeric + \
                         ({column}->'{key}'->>'nanos')::numeric / 1000000000)"
                    ),
                ),
                FieldType::Date => (Kind::Date, format!("{text}::date")),
                FieldType::Bool => (Kind::Bool, format!("{text}::boolean")),
            };
            let value = typed_value(c, &c.field, kind)?;
            if matches!(
                definition.spec.field_type,
                FieldType::Picklist | FieldType::MultiPicklist
            ) && !definition.spec.options.iter().any(|o| o == &c.value)
            {
                return Err(FilterError::at(
                    c.value_pos,
                    format!(
                        "{} takes one of {}",
                        c.field,
                        definition.spec.options.join(", ")
                    ),
                ));
            }
            custom.resolved = Some(ResolvedCustom {
                expr,
                kind,
                op: c.op,
                value,
            });
            Ok(())
        }
    }
}
