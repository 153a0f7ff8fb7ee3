//! Expression tree → typed condition: field names resolved against what a listing exposes,
//! operators checked against the field's kind, values parsed into their types.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::FilterError;
use crate::date::parse_date;
use crate::parser::{CompareOp, Comparison, Expr};

/// A filterable field: its API name, the SQL expression it reads and its kind.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// A trusted SQL expression (a column, e.g. `l.company`); never user input.
    pub column: &'static str,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text; `lowercase` fields are stored lower-cased, so values are lower-cased too.
    Text {
        lowercase: bool,
    },
    /// A text array (e.g. a contact's emails): `=` / `!=` test membership, `:` a substring.
    TextList {
        lowercase: bool,
    },
    Uuid {
        nullable: bool,
    },
    Integer,
    Timestamp,
    Date,
    /// `true` or `false`.
    Bool,
    /// One of the listed names (stored as such).
    Enum(&'static [&'static str]),
}

impl Kind {
    /// Whether `op` applies to a field of this kind.
    pub fn allows(self, op: CompareOp) -> bool {
        match self {
            Kind::Text { .. } => true,
            Kind::TextList { .. } => matches!(op, CompareOp::Eq | CompareOp::Ne | CompareOp::Has),
            Kind::Uuid { .. } | Kind::Bool | Kind::Enum(_) => {
                matches!(op, CompareOp::Eq | CompareOp::Ne)
            }
            Kind::Integer | Kind::Timestamp | Kind::Date => op != CompareOp::Has,
        }
    }

    /// The operators [`Kind::allows`], for error messages.
    pub fn operators(self) -> &'static str {
        match self {
            Kind::Text { .. } => "=, !=, <, <=, >, >= and :",
            Kind::TextList { .. } => "=, != and :",
            Kind::Uuid { .. } | Kind::Bool | Kind::Enum(_) => "= and !=",
            Kind::Integer | Kind::Timestamp | Kind::Date => "=, !=, <, <=, > and >=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Uuid(Uuid),
    /// "No value" on an optional field.
    Null,
    Integer(i64),
    Timestamp(DateTime<Utc>),
    Date(NaiveDate),
    /// A decimal number as text, compared as `numeric` (custom number fields).
    Numeric(String),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        field: &'static Field,
        op: CompareOp,
        value: Value,
    },
    /// `custom.<key> op value`: a field defined at run time, typed once its definition has been
    /// read (with [`typed_value`]); rendered as `FALSE` until then.
    Custom(CustomCondition),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCondition {
    pub key: String,
    pub comparison: Comparison,
    pub resolved: Option<ResolvedCustom>,
}

/// A custom comparison checked against its definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCustom {
    /// Trusted SQL reading the value, e.g. `(l.custom_fields->>'tier')::numeric`.
    pub expr: String,
    pub kind: Kind,
    pub op: CompareOp,
    pub value: Value,
}

/// Prefix of custom field names in filters.
pub const CUSTOM_PREFIX: &str = "custom.";

pub fn check(expr: &Expr, fields: &'static [Field]) -> Result<Condition, FilterError> {
    check_with(expr, fields, false)
}

/// Like [`check`]; with `allow_custom`, `custom.<key>` names are kept for the store to type.
pub fn check_with(
    expr: &Expr,
    fields: &'static [Field],
    allow_custom: bool,
) -> Result<Condition, FilterError> {
    match expr {
        Expr::And(items) => Ok(Condition::And(
            items
                .iter()
                .map(|e| check_with(e, fields, allow_custom))
                .collect::<Result<_, _>>()?,
        )),
        Expr::Or(items) => Ok(Condition::Or(
            items
                .iter()
                .map(|e| check_with(e, fields, allow_custom))
                .collect::<Result<_, _>>()?,
        )),
        Expr::Not(inner) => Ok(Condition::Not(Box::new(check_with(
            inner,
            fields,
            allow_custom,
        )?))),
        Expr::Compare(c) => match c.field.strip_prefix(CUSTOM_PREFIX) {
            Some(key) if allow_custom => Ok(Condition::Custom(CustomCondition {
                key: key.to_owned(),
                comparison: c.clone(),
                resolved: None,
            })),
            _ => compare(c, fields),
        },
    }
}

/// Parses the value of a comparison on a field of `kind` defined at run time (custom fields),
/// refusing operators the kind does not allow.
pub fn typed_value(c: &Comparison, name: &str, kind: Kind) -> Result<Value, FilterError> {
    if !kind.allows(c.op) {
        return Err(FilterError::at(
            c.op_pos,
            format!(
                "operator {} does not apply to {name}; use {}",
                c.op.symbol(),
                kind.operators()
            ),
        ));
    }
    let bad = |message: String| FilterError::at(c.value_pos, message);
    let raw = c.value.as_str();
    Ok(match kind {
        Kind::Text { .. } | Kind::TextList { .. } => Value::Text(raw.to_owned()),
        Kind::Date => Value::Date(parse_date(raw).map_err(|e| bad(format!("{name} {e}")))?),
        Kind::Integer => {
            let number: f64 = raw
                .parse()
                .map_err(|_| bad(format!("{name} takes a number")))?;
            if !number.is_finite() {
                return Err(bad(format!("{name} takes a finite number")));
            }
            Value::Numeric(raw.to_owned())
        }
        Kind::Bool => Value::Bool(parse_bool(raw).ok_or_else(|| bad(bool_expected(name)))?),
        Kind::Enum(_) => Value::Text(raw.to_owned()),
        Kind::Uuid { .. } | Kind::Timestamp => {
            return Err(bad(format!("{name} cannot be compared")));
        }
    })
}

fn compare(c: &Comparison, fields: &'static [Field]) -> Result<Condition, FilterError> {
    let field = fields.iter().find(|f| f.name == c.field).ok_or_else(|| {
        let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
        FilterError::at(
            c.field_pos,
            format!(
                "unknown field {:?}; filterable fields: {}",
                c.field,
                known.join(", ")
            ),
        )
    })?;
    if !field.kind.allows(c.op) {
        return Err(FilterError::at(
            c.op_pos,
            format!(
                "operator {} does not apply to {}; use {}",
                c.op.symbol(),
                field.name,
                field.kind.operators()
            ),
        ));
    }
    let bad = |message: String| FilterError::at(c.value_pos, message);
    let raw = c.value.as_str();
    let value = match field.kind {
        Kind::Text { lowercase } | Kind::TextList { lowercase } => Value::Text(if lowercase {
            raw.to_lowercase()
        } else {
            raw.to_owned()
        }),
        Kind::Uuid { nullable } if raw.is_empty() && c.quoted => {
            if !nullable {
                return Err(bad(format!(
                    "{} is always set; compare it with a UUID",
                    field.name
                )));
            }
            Value::Null
        }
        Kind::Uuid { .. } => Value::Uuid(
            Uuid::parse_str(raw).map_err(|_| bad(format!("{} takes a UUID", field.name)))?,
        ),
        Kind::Integer => Value::Integer(
            raw.parse()
                .map_err(|_| bad(format!("{} takes an integer", field.name)))?,
        ),
        Kind::Timestamp => Value::Timestamp(
            DateTime::parse_from_rfc3339(raw)
                .map_err(|_| {
                    bad(format!(
                        "{} takes a quoted RFC 3339 timestamp, e.g. \"2026-01-31T00:00:00Z\"",
                        field.name
                    ))
                })?
                .with_timezone(&Utc),
        ),
        Kind::Date => Value::Date(parse_date(raw).map_err(|e| bad(format!("{} {e}", field.name)))?),
        Kind::Bool => Value::Bool(parse_bool(raw).ok_or_else(|| bad(bool_expected(field.name)))?),
        Kind::Enum(names) => {
            if !names.contains(&raw) {
                return Err(bad(format!(
                    "{} takes one of {}",
                    field.name,
                    names.join(", ")
                )));
            }
            Value::Text(raw.to_owned())
        }
    };
    Ok(Condition::Compare {
        field,
        op: c.op,
        value,
    })
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn bool_expected(name: &str) -> String {
    format!("{name} takes true or false")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    static FIELDS: &[Field] = &[
        Field {
            name: "name",
            column: "t.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "email",
            column: "t.email",
            kind: Kind::Text { lowercase: true },
        },
        Field {
            name: "owner_id",
            column: "t.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "account_id",
            column: "t.account_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "score",
            column: "t.score",
            kind: Kind::Integer,
        },
        Field {
            name: "create_time",
            column: "t.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "close_date",
            column: "t.close_date",
            kind: Kind::Date,
        },
        Field {
            name: "status",
            column: "t.status",
            kind: Kind::Enum(&["NEW", "DONE"]),
        },
    ];

    fn error(input: &str) -> (usize, String) {
        let e = parse(input, FIELDS).expect_err("invalid");
        (e.position, e.message)
    }

    #[test]
    fn values_are_typed_by_their_field() {
        let owner = Uuid::now_v7();
        let parsed = parse(
            &format!(
                r#"email = "Ann@X.io" AND owner_id = {owner} AND score >= 50 AND create_time > "2026-01-01T00:00:00+01:00" AND close_date <= 2026-03-31 AND status != DONE AND account_id = """#
            ),
            FIELDS,
        )
        .expect("valid")
        .expect("non-empty");
        let Condition::And(items) = parsed else {
            panic!("expected AND");
        };
        let values: Vec<Value> = items
            .into_iter()
            .map(|c| match c {
                Condition::Compare { value, .. } => value,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            vec![
                Value::Text("ann@x.io".into()),
                Value::Uuid(owner),
                Value::Integer(50),
                Value::Timestamp(
                    DateTime::parse_from_rfc3339("2025-12-31T23:00:00Z")
                        .expect("ts")
                        .with_timezone(&Utc)
                ),
                Value::Date(NaiveDate::from_ymd_opt(2026, 3, 31).expect("date")),
                Value::Text("DONE".into()),
                Value::Null,
            ]
        );
    }

    #[test]
    fn unknown_fields_name_the_position_and_the_alternatives() {
        let (position, message) = error("name = x AND colour = red");
        assert_eq!(position, 13);
        assert!(message.contains("unknown field \"colour\""), "{message}");
        assert!(message.contains("name, email"), "{message}");
    }

    #[test]
    fn operators_and_values_must_fit_the_field() {
        assert_eq!(error("score : 5").0, 6);
        assert_eq!(error("owner_id < 5").0, 9);
        assert_eq!(error("score = many").0, 8);
        assert_eq!(error("owner_id = 42").0, 11);
        assert_eq!(error(r#"owner_id = """#).0, 11);
        assert_eq!(error("create_time > 2026-01-01").0, 14);
        assert_eq!(error("close_date = 2026-02-30").0, 13);
        assert_eq!(error("status = LATER").0, 9);
        assert!(error("status = LATER").1.contains("NEW, DONE"));
    }
}
