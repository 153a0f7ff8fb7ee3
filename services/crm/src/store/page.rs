//! Keyset pagination for every List query: scope, filter, "after the cursor", order and limit
//! appended to a listing's SELECT, all values bound.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::{Tx, push_scope};
use crate::domain::visibility::Scope;
use crate::error::Result;
use crate::filter::push_condition;
use crate::listing::{Cursor, KeyKind, KeyValue, ListQuery, Page};

/// One listing's SQL: `SELECT <columns>, <sort expr> AS sort_key FROM <from> WHERE <base>`.
pub struct PageSql {
    pub columns: &'static str,
    /// `FROM ... [JOIN ...]`.
    pub from: &'static str,
    /// Always-true condition of live rows, e.g. `l.deleted_at IS NULL`.
    pub base: &'static str,
    pub owner_column: &'static str,
    pub id_column: &'static str,
}

/// A row reader for one result set that resolves its column positions from the first row and
/// reads every row by position after that.
pub fn by_position<R, C, T>(
    resolve: impl Fn(&R) -> Result<C>,
    read: impl Fn(&R, &C) -> Result<T>,
) -> impl FnMut(&R) -> Result<T> {
    let mut columns: Option<C> = None;
    move |row| {
        let columns = match &mut columns {
            Some(columns) => &*columns,
            slot @ None => slot.insert(resolve(row)?),
        };
        read(row, columns)
    }
}

pub async fn fetch_page<T>(
    tx: &mut Tx,
    sql: &PageSql,
    scope: &Scope,
    query: &ListQuery,
    map: impl FnMut(&PgRow) -> Result<T>,
    id_of: impl Fn(&T) -> Uuid,
) -> Result<Page<T>> {
    let push = |qb: &mut QueryBuilder<Postgres>| {
        push_scope(qb, sql.owner_column, sql.id_column, scope);
    };
    fetch_page_scoped(tx, sql, push, query, map, id_of).await
}

/// [`fetch_page`] for listings whose visibility is more than one owner column: `push_scope`
/// appends ` AND <condition>` to the WHERE clause.
pub async fn fetch_page_scoped<T>(
    tx: &mut Tx,
    sql: &PageSql,
    push_scope: impl FnOnce(&mut QueryBuilder<Postgres>),
    query: &ListQuery,
    mut map: impl FnMut(&PgRow) -> Result<T>,
    id_of: impl Fn(&T) -> Uuid,
) -> Result<Page<T>> {
    let key = query.order.key;
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {}, {} AS sort_key {} WHERE {}",
        sql.columns, key.expr, sql.from, sql.base
    ));
    push_scope(&mut qb);
    if let Some(filter) = &query.filter {
        qb.push(" AND ");
        push_condition(&mut qb, filter);
    }
    let (comparison, direction) = if query.order.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = &query.after {
        qb.push(format_args!(
            " AND ({}, {}) {comparison} (",
            key.expr, sql.id_column
        ));
        match &after.key {
            KeyValue::Text(v) => qb.push_bind(v.clone()),
            KeyValue::Int(v) => qb.push_bind(*v),
            KeyValue::Time(v) => qb.push_bind(*v),
            KeyValue::Date(v) => qb.push_bind(*v),
        };
        qb.push(", ");
        qb.push_bind(after.id);
        qb.push(")");
    }
    qb.push(format_args!(
        " ORDER BY {} {direction}, {} {direction}",
        key.expr, sql.id_column
    ));
    db::page::push_limit(&mut qb, i64::from(query.page_size) + 1);
    let rows = qb.build().fetch_all(&mut *tx).await?;

    let more = rows.len() > query.page_size as usize;
    let mut items = Vec::with_capacity(rows.len().min(query.page_size as usize));
    let mut last_key = None;
    for row in rows.iter().take(query.page_size as usize) {
        items.push(map(row)?);
        last_key = Some(sort_key(row, key.kind)?);
    }
    let next = match (more, last_key, items.last()) {
        (true, Some(key), Some(last)) => Some(Cursor {
            key,
            id: id_of(last),
        }),
        _ => None,
    };
    Ok(Page { items, next })
}

fn sort_key(row: &PgRow, kind: KeyKind) -> Result<KeyValue> {
    Ok(match kind {
        KeyKind::Text => KeyValue::Text(row.try_get("sort_key")?),
        KeyKind::Int4 => KeyValue::Int(i64::from(row.try_get::<i32, _>("sort_key")?)),
        KeyKind::Int8 => KeyValue::Int(row.try_get("sort_key")?),
        KeyKind::Timestamp => KeyValue::Time(row.try_get("sort_key")?),
        KeyKind::Date => KeyValue::Date(row.try_get("sort_key")?),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::error::Error;

    // "name=value" rows: the position of '=' stands for a column's position.
    fn equals_sign(row: &&str) -> Result<usize> {
        row.find('=')
            .ok_or_else(|| Error::Internal("no column".to_owned()))
    }

    fn value_after(row: &&str, at: &usize) -> Result<String> {
        Ok(row[at + 1..].to_owned())
    }

    #[test]
    fn positions_are_resolved_once_per_result_set() {
        let resolved = Cell::new(0);
        let mut read = by_position(
            |row: &&str| {
                resolved.set(resolved.get() + 1);
                equals_sign(row)
            },
            value_after,
        );
        let values: Vec<String> = ["a=1", "b=22", "c=333"]
            .iter()
            .map(&mut read)
            .collect::<Result<_>>()
            .expect("rows read");
        assert_eq!(values, ["1", "22", "333"]);
        assert_eq!(resolved.get(), 1);
    }

    #[test]
    fn a_column_that_cannot_be_resolved_is_an_error_not_a_guess() {
        let mut read = by_position(equals_sign, value_after);
        assert!(read(&"no columns here").is_err());
        // Nothing was remembered from the failed row.
        assert_eq!(read(&"x=9").expect("second row"), "9");
    }
}
