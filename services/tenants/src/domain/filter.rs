//! The `filter` and `order_by` of ListUsers: AIP-160 and AIP-132.
//!
//! Filters use the one grammar of every List (the `filter` lib: AND, OR, NOT, parentheses).
//! Fields: `role` (ROLE_* names), `active` (true/false), `manager_id` (uuid, or "" for none),
//! `email`, `display_name` (text: `=`, `!=`, `<`, `<=`, `>`, `>=` and `:` for contains). Errors
//! carry the byte offset of the problem.

pub use ::filter::{Condition, FilterError};
use ::filter::{Field, Kind};

/// The built-in role names as stored (`auth::BuiltinRole::as_str`; a test keeps them equal).
const ROLE_NAMES: &[&str] = &[
    "ROLE_ADMIN",
    "ROLE_MANAGER",
    "ROLE_SALES_REP",
    "ROLE_SUPPORT",
];

/// What ListUsers filters on; columns of the `users u` the store selects from.
pub static USER_FIELDS: &[Field] = &[
    Field {
        name: "role",
        column: "u.role",
        kind: Kind::Enum(ROLE_NAMES),
    },
    Field {
        name: "active",
        column: "u.active",
        kind: Kind::Bool,
    },
    Field {
        name: "manager_id",
        column: "u.manager_id",
        kind: Kind::Uuid { nullable: true },
    },
    Field {
        name: "email",
        column: "u.email",
        kind: Kind::Text { lowercase: true },
    },
    Field {
        name: "display_name",
        column: "u.display_name",
        kind: Kind::Text { lowercase: false },
    },
];

/// Parses a filter; the empty filter (`None`) matches everything.
pub fn parse_filter(input: &str) -> Result<Option<Condition>, FilterError> {
    filter::parse(input, USER_FIELDS)
}

/// Sort order of ListUsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOrder {
    pub field: OrderField,
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    CreateTime,
    Email,
    DisplayName,
}

impl OrderField {
    pub fn column(self) -> &'static str {
        match self {
            OrderField::CreateTime => "created_at",
            OrderField::Email => "email",
            OrderField::DisplayName => "display_name",
        }
    }
}

impl Default for UserOrder {
    fn default() -> Self {
        Self {
            field: OrderField::CreateTime,
            descending: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OrderError(String);

/// `field [asc|desc]` with field among create_time, email, display_name.
pub fn parse_order(input: &str) -> Result<UserOrder, OrderError> {
    let words: Vec<&str> = input.split_whitespace().collect();
    let (field, direction) = match words.as_slice() {
        [] => return Ok(UserOrder::default()),
        [field] => (*field, "asc"),
        [field, direction] => (*field, *direction),
        _ => {
            return Err(OrderError(
                "order by one field, e.g. \"display_name desc\"".to_owned(),
            ));
        }
    };
    let field = match field {
        "create_time" => OrderField::CreateTime,
        "email" => OrderField::Email,
        "display_name" => OrderField::DisplayName,
        other => {
            return Err(OrderError(format!(
                "cannot order by {other:?} (create_time, email, display_name)"
            )));
        }
    };
    let descending = match direction {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(OrderError(format!(
                "unknown direction {other:?} (asc, desc)"
            )));
        }
    };
    Ok(UserOrder { field, descending })
}

#[cfg(test)]
mod tests {
    use super::*;

    use filter::{CompareOp, Value};
    use uuid::Uuid;

    fn compare(name: &str, op: CompareOp, value: Value) -> Condition {
        let field = USER_FIELDS
            .iter()
            .find(|f| f.name == name)
            .expect("a user field");
        Condition::Compare { field, op, value }
    }

    #[test]
    fn role_names_are_the_built_in_roles() {
        let built_in: Vec<&str> = auth::BuiltinRole::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(ROLE_NAMES, built_in.as_slice());
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert_eq!(parse_filter("  "), Ok(None));
    }

    #[test]
    fn conditions_joined_with_and() {
        let parsed =
            parse_filter(r#"role = ROLE_SALES_REP AND active != false AND display_name:"Ann Lee""#)
                .expect("valid");
        assert_eq!(
            parsed,
            Some(Condition::And(vec![
                compare("role", CompareOp::Eq, Value::Text("ROLE_SALES_REP".into())),
                compare("active", CompareOp::Ne, Value::Bool(false)),
                compare(
                    "display_name",
                    CompareOp::Has,
                    Value::Text("Ann Lee".into())
                ),
            ]))
        );
    }

    #[test]
    fn or_not_and_parentheses_combine_conditions() {
        let manager = Uuid::now_v7();
        let parsed = parse_filter(&format!(
            r#"(role = ROLE_ADMIN OR manager_id = "{manager}") AND NOT active = false"#
        ))
        .expect("valid");
        assert_eq!(
            parsed,
            Some(Condition::And(vec![
                Condition::Or(vec![
                    compare("role", CompareOp::Eq, Value::Text("ROLE_ADMIN".into())),
                    compare("manager_id", CompareOp::Eq, Value::Uuid(manager)),
                ]),
                Condition::Not(Box::new(compare(
                    "active",
                    CompareOp::Eq,
                    Value::Bool(false)
                ))),
            ]))
        );
        assert_eq!(
            parse_filter(r#"-(email : "@acme.test" OR manager_id = "")"#),
            Ok(Some(Condition::Not(Box::new(Condition::Or(vec![
                compare("email", CompareOp::Has, Value::Text("@acme.test".into())),
                compare("manager_id", CompareOp::Eq, Value::Null),
            ])))))
        );
    }

    #[test]
    fn emails_are_compared_lower_cased() {
        assert_eq!(
            parse_filter("email = Ann@Acme.Test"),
            Ok(Some(compare(
                "email",
                CompareOp::Eq,
                Value::Text("ann@acme.test".into())
            )))
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let position = |input: &str| parse_filter(input).map_err(|e| e.position);
        assert_eq!(position("colour = red"), Err(0));
        assert_eq!(position("role = ROLE_KING"), Err(7));
        assert_eq!(position("active = maybe"), Err(9));
        assert_eq!(position("role ROLE_ADMIN"), Err(5));
        assert_eq!(position("role = ROLE_ADMIN AND"), Err(21));
        assert_eq!(position("email = \"open"), Err(8));
        assert_eq!(position("role : ROLE_ADMIN"), Err(5));
        assert_eq!(position("(role = ROLE_ADMIN OR active = true"), Err(35));
        assert_eq!(position("manager_id = 42"), Err(13));
        assert_eq!(position("display_name = \"\u{0}\""), Err(16));
        let unknown = parse_filter("colour = red").expect_err("unknown field");
        assert!(
            unknown
                .message
                .contains("role, active, manager_id, email, display_name")
        );
        let active = parse_filter("active = maybe").expect_err("not a boolean");
        assert_eq!(active.message, "active takes true or false");
    }

    #[test]
    fn order_by_parses_one_field_and_direction() {
        assert_eq!(parse_order(""), Ok(UserOrder::default()));
        assert_eq!(
            parse_order("display_name desc"),
            Ok(UserOrder {
                field: OrderField::DisplayName,
                descending: true
            })
        );
        assert!(parse_order("password").is_err());
        assert!(parse_order("email sideways").is_err());
    }
}
