//! The `filter` and `order_by` of ListUsers: a subset of AIP-160 and AIP-132.
//!
//! Filter grammar: `condition (AND condition)*`, where a condition is `field op value`, `op` is
//! `=`, `!=` or `:` (contains, text fields only) and a value is a bare word or a double-quoted
//! string. Fields: `role` (ROLE_* names), `active` (true/false), `manager_id` (uuid, or "" for
//! none), `email`, `display_name`. Errors carry the byte offset of the problem.

use auth::BuiltinRole;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Role {
        negate: bool,
        role: BuiltinRole,
    },
    Active {
        negate: bool,
        active: bool,
    },
    Manager {
        negate: bool,
        manager_id: Option<Uuid>,
    },
    Text {
        field: TextField,
        op: TextOp,
        value: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Email,
    DisplayName,
}

impl TextField {
    pub fn column(self) -> &'static str {
        match self {
            TextField::Email => "email",
            TextField::DisplayName => "display_name",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextOp {
    Eq,
    Ne,
    Contains,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at position {position}: {message}")]
pub struct FilterError {
    pub position: usize,
    pub message: String,
}

fn err(position: usize, message: impl Into<String>) -> FilterError {
    FilterError {
        position,
        message: message.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
}

fn tokenize(input: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' => i += 1,
            b'=' => {
                tokens.push((i, Token::Op("=")));
                i += 1;
            }
            b':' => {
                tokens.push((i, Token::Op(":")));
                i += 1;
            }
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                tokens.push((i, Token::Op("!=")));
                i += 2;
            }
            b'"' => {
                let start = i;
                let mut value = String::new();
                i += 1;
                loop {
                    match input[i..].chars().next() {
                        None => return Err(err(start, "unterminated string")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let escaped = input[i + 1..]
                                .chars()
                                .next()
                                .ok_or_else(|| err(i, "dangling escape"))?;
                            value.push(escaped);
                            i += 1 + escaped.len_utf8();
                        }
                        Some(ch) => {
                            value.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                tokens.push((start, Token::Quoted(value)));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'=' | b':' | b'!' | b'"')
                {
                    i += 1;
                }
                if start == i {
                    return Err(err(i, format!("unexpected character {:?}", c as char)));
                }
                tokens.push((start, Token::Word(input[start..i].to_owned())));
            }
        }
    }
    Ok(tokens)
}

/// Parses a filter; the empty filter matches everything.
pub fn parse_filter(input: &str) -> Result<Vec<Condition>, FilterError> {
    let tokens = tokenize(input)?;
    let mut conditions = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    loop {
        let Some((pos, field)) = iter.next() else {
            if conditions.is_empty() {
                return Ok(conditions);
            }
            return Err(err(input.len(), "expected a condition after AND"));
        };
        let Token::Word(field) = field else {
            return Err(err(pos, "expected a field name"));
        };
        let (op_pos, op) = match iter.next() {
            Some((p, Token::Op(op))) => (p, op),
            Some((p, _)) => return Err(err(p, "expected an operator (=, != or :)")),
            None => return Err(err(input.len(), "expected an operator (=, != or :)")),
        };
        let (value_pos, value) = match iter.next() {
            Some((p, Token::Word(v))) | Some((p, Token::Quoted(v))) => (p, v),
            Some((p, _)) => return Err(err(p, "expected a value")),
            None => return Err(err(input.len(), "expected a value")),
        };
        conditions.push(condition(&field, pos, op, op_pos, &value, value_pos)?);
        match iter.next() {
            None => return Ok(conditions),
            Some((_, Token::Word(w))) if w == "AND" => continue,
            Some((p, Token::Word(w))) if w == "OR" => {
                return Err(err(
                    p,
                    "OR is not supported here; combine conditions with AND",
                ));
            }
            Some((p, _)) => return Err(err(p, "expected AND")),
        }
    }
}

fn condition(
    field: &str,
    field_pos: usize,
    op: &str,
    op_pos: usize,
    value: &str,
    value_pos: usize,
) -> Result<Condition, FilterError> {
    let negate = op == "!=";
    let exact_only = |op: &str| {
        if op == ":" {
            Err(err(op_pos, format!("':' is not supported on {field}")))
        } else {
            Ok(())
        }
    };
    match field {
        "role" => {
            exact_only(op)?;
            let role = BuiltinRole::parse(value)
                .ok_or_else(|| err(value_pos, format!("unknown role {value:?}")))?;
            Ok(Condition::Role { negate, role })
        }
        "active" => {
            exact_only(op)?;
            let active = match value {
                "true" => true,
                "false" => false,
                _ => return Err(err(value_pos, "active takes true or false")),
            };
            Ok(Condition::Active { negate, active })
        }
        "manager_id" => {
            exact_only(op)?;
            let manager_id = if value.is_empty() {
                None
            } else {
                Some(
                    Uuid::parse_str(value)
                        .map_err(|_| err(value_pos, "manager_id must be a uuid"))?,
                )
            };
            Ok(Condition::Manager { negate, manager_id })
        }
        "email" | "display_name" => {
            let field = if field == "email" {
                TextField::Email
            } else {
                TextField::DisplayName
            };
            let op = match op {
                "=" => TextOp::Eq,
                "!=" => TextOp::Ne,
                _ => TextOp::Contains,
            };
            let value = if field == TextField::Email {
                value.to_ascii_lowercase()
            } else {
                value.to_owned()
            };
            Ok(Condition::Text { field, op, value })
        }
        other => Err(err(
            field_pos,
            format!("unknown field {other:?} (role, active, manager_id, email, display_name)"),
        )),
    }
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

    #[test]
    fn empty_filter_matches_everything() {
        assert_eq!(parse_filter("  "), Ok(vec![]));
    }

    #[test]
    fn conditions_joined_with_and() {
        let parsed =
            parse_filter(r#"role = ROLE_SALES_REP AND active != false AND display_name:"Ann Lee""#)
                .expect("valid");
        assert_eq!(
            parsed,
            vec![
                Condition::Role {
                    negate: false,
                    role: BuiltinRole::SalesRep
                },
                Condition::Active {
                    negate: true,
                    active: false
                },
                Condition::Text {
                    field: TextField::DisplayName,
                    op: TextOp::Contains,
                    value: "Ann Lee".to_owned()
                },
            ]
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(parse_filter("colour = red").map_err(|e| e.position), Err(0));
        assert_eq!(
            parse_filter("role = ROLE_KING").map_err(|e| e.position),
            Err(7)
        );
        assert_eq!(
            parse_filter("active = maybe").map_err(|e| e.position),
            Err(9)
        );
        assert_eq!(
            parse_filter("role ROLE_ADMIN").map_err(|e| e.position),
            Err(5)
        );
        assert_eq!(
            parse_filter("role = ROLE_ADMIN AND").map_err(|e| e.position),
            Err(21)
        );
        assert_eq!(
            parse_filter("email = \"open").map_err(|e| e.position),
            Err(8)
        );
        assert!(parse_filter("role = ROLE_ADMIN OR active = true").is_err());
        assert!(parse_filter("role : ROLE_ADMIN").is_err());
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
