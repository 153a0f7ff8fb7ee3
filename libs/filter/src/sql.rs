//! Typed condition → SQL. Field expressions come from the static field tables; every value is a
//! bind parameter.

use sqlx::{Postgres, QueryBuilder};

use crate::check::{Condition, Kind, Value};
use crate::parser::CompareOp;

/// Appends `condition` as one parenthesised boolean SQL expression.
pub fn push_condition(qb: &mut QueryBuilder<Postgres>, condition: &Condition) {
    match condition {
        Condition::And(items) => push_joined(qb, items, " AND "),
        Condition::Or(items) => push_joined(qb, items, " OR "),
        Condition::Not(inner) => {
            qb.push("(NOT ");
            push_condition(qb, inner);
            qb.push(")");
        }
        Condition::Compare { field, op, value } => {
            qb.push("(");
            push_comparison(qb, field.column, field.kind, *op, value);
            qb.push(")");
        }
        Condition::Custom(custom) => match &custom.resolved {
            Some(r) => {
                qb.push("(");
                push_comparison(qb, &r.expr, r.kind, r.op, &r.value);
                qb.push(")");
            }
            // Stores resolve custom conditions before building SQL; an unresolved one matches
            // nothing rather than everything.
            None => {
                qb.push("(FALSE)");
            }
        },
    }
}

fn push_joined(qb: &mut QueryBuilder<Postgres>, items: &[Condition], separator: &str) {
    qb.push("(");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            qb.push(separator);
        }
        push_condition(qb, item);
    }
    qb.push(")");
}

fn push_comparison(
    qb: &mut QueryBuilder<Postgres>,
    column: &str,
    kind: Kind,
    op: CompareOp,
    value: &Value,
) {
    match (kind, op, value) {
        (Kind::TextList { .. }, CompareOp::Has, Value::Text(text)) => {
            qb.push(format_args!(
                "EXISTS (SELECT 1 FROM unnest({column}) AS item(value) WHERE item.value ILIKE "
            ));
            qb.push_bind(like_pattern(text));
            qb.push(" ESCAPE '\\')");
        }
        (Kind::TextList { .. }, CompareOp::Ne, Value::Text(text)) => {
            qb.push("NOT (");
            qb.push_bind(text.clone());
            qb.push(format_args!(" = ANY({column}))"));
        }
        (Kind::TextList { .. }, _, Value::Text(text)) => {
            qb.push_bind(text.clone());
            qb.push(format_args!(" = ANY({column})"));
        }
        (_, CompareOp::Has, Value::Text(text)) => {
            qb.push(format_args!("{column} ILIKE "));
            qb.push_bind(like_pattern(text));
            qb.push(" ESCAPE '\\'");
        }
        (_, CompareOp::Eq, Value::Null) => {
            qb.push(format_args!("{column} IS NULL"));
        }
        (_, _, Value::Null) => {
            qb.push(format_args!("{column} IS NOT NULL"));
        }
        (_, op, value) => {
            // `IS DISTINCT FROM` so that "not equal" also matches rows where the column is NULL.
            let operator = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "IS DISTINCT FROM",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Has => "=",
            };
            qb.push(format_args!("{column} {operator} "));
            push_value(qb, value);
        }
    }
}

fn push_value(qb: &mut QueryBuilder<Postgres>, value: &Value) {
    match value {
        Value::Text(text) => qb.push_bind(text.clone()),
        Value::Uuid(id) => qb.push_bind(*id),
        Value::Integer(n) => qb.push_bind(*n),
        Value::Timestamp(t) => qb.push_bind(*t),
        Value::Date(d) => qb.push_bind(*d),
        Value::Numeric(n) => qb.push_bind(n.clone()).push("::numeric"),
        Value::Bool(b) => qb.push_bind(*b),
        Value::Null => qb.push("NULL"),
    };
}

/// `%text%` with LIKE's wildcards in `text` escaped, so `50%` matches literally.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Field, parse};

    static FIELDS: &[Field] = &[
        Field {
            name: "name",
            column: "t.name",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "emails",
            column: "t.emails",
            kind: Kind::TextList { lowercase: true },
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
    ];

    fn sql(filter: &str) -> String {
        let condition = parse(filter, FIELDS).expect("valid").expect("non-empty");
        let mut qb = QueryBuilder::<Postgres>::new("");
        push_condition(&mut qb, &condition);
        qb.into_string()
    }

    #[test]
    fn values_become_bind_parameters() {
        assert_eq!(
            sql(r#"name = "x'; DROP TABLE t; --" AND (score >= 5 OR NOT score != 7)"#),
            "((t.name = $1) AND ((t.score >= $2) OR (NOT (t.score IS DISTINCT FROM $3))))"
        );
    }

    #[test]
    fn contains_lists_and_missing_values() {
        assert_eq!(sql("name : acme"), "(t.name ILIKE $1 ESCAPE '\\')");
        assert_eq!(sql("emails = a@x.io"), "($1 = ANY(t.emails))");
        assert_eq!(sql("emails != a@x.io"), "(NOT ($1 = ANY(t.emails)))");
        assert_eq!(
            sql("emails : x.io"),
            "(EXISTS (SELECT 1 FROM unnest(t.emails) AS item(value) WHERE item.value ILIKE $1 ESCAPE '\\'))"
        );
        assert_eq!(sql(r#"account_id = """#), "(t.account_id IS NULL)");
        assert_eq!(sql(r#"account_id != """#), "(t.account_id IS NOT NULL)");
    }

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(like_pattern(r"50%_off\"), r"%50\%\_off\\%");
    }
}
