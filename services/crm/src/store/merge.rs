//! Merging a loser record into a survivor in one transaction: survivor fields, re-parented
//! children, the loser's tombstone, events. Field history comes from the update triggers.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, Tx, accounts, check_owner, contacts, leads, now, publish, scope};
use crate::domain::record::Record;
use crate::domain::record_fields::{self, MergeFill};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::events::publish::{self as events, Change};

/// Merging duplicate records.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait MergeStore: Send + Sync + 'static {
    /// Merges `loser` into `survivor` (both of `kind`), taking the named fields from the loser;
    /// returns the survivor.
    async fn merge(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        survivor: Uuid,
        loser: Uuid,
        from_loser: Vec<&'static str>,
    ) -> Result<Record>;
}

/// The columns of a mergeable field; how they are filled comes from the record's field table.
struct Field {
    name: &'static str,
    columns: &'static [&'static str],
}

const fn field(name: &'static str, columns: &'static [&'static str]) -> Field {
    Field { name, columns }
}

const ACCOUNT_FIELDS: &[Field] = &[
    field("name", &["name"]),
    field("domain", &["domain"]),
    field("industry", &["industry"]),
    field("employee_count", &["employee_count"]),
    field(
        "annual_revenue",
        &[
            "annual_revenue_units",
            "annual_revenue_currency",
            "annual_revenue_nanos",
        ],
    ),
    field(
        "billing_address",
        &[
            "billing_street",
            "billing_city",
            "billing_region",
            "billing_postal_code",
            "billing_country_code",
        ],
    ),
    field(
        "shipping_address",
        &[
            "shipping_street",
            "shipping_city",
            "shipping_region",
            "shipping_postal_code",
            "shipping_country_code",
        ],
    ),
    field("parent_account_id", &["parent_account_id"]),
    field("owner_id", &["owner_id"]),
    field("custom_fields", &["custom_fields"]),
];

const CONTACT_FIELDS: &[Field] = &[
    field("first_name", &["first_name"]),
    field("last_name", &["last_name"]),
    field("emails", &["emails"]),
    field("phones", &["phones"]),
    field("title", &["title"]),
    field("account_id", &["account_id"]),
    field("owner_id", &["owner_id"]),
    field(
        "email_consent",
        &["email_consent", "email_consent_source", "email_consent_at"],
    ),
    field(
        "phone_consent",
        &["phone_consent", "phone_consent_source", "phone_consent_at"],
    ),
    field("custom_fields", &["custom_fields"]),
];

const LEAD_FIELDS: &[Field] = &[
    field("first_name", &["first_name"]),
    field("last_name", &["last_name"]),
    field("email", &["email"]),
    field("phone", &["phone"]),
    field("company", &["company"]),
    field("title", &["title"]),
    field("source", &["source"]),
    field("country_code", &["country_code"]),
    field("employee_count", &["employee_count"]),
    field("status", &["status"]),
    field("rating", &["rating"]),
    field("score", &["score"]),
    field("owner_id", &["owner_id"]),
    field("custom_fields", &["custom_fields"]),
];

/// A child link moved from the loser ($2) to the survivor ($1) at $3; live children only
/// (deleted ones keep pointing at the tombstone).
struct Child {
    label: &'static str,
    sql: &'static str,
}

const ACCOUNT_CHILDREN: &[Child] = &[
    Child {
        label: "contacts",
        sql: "UPDATE contacts SET account_id = $1, updated_at = $3
              WHERE account_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "opportunities",
        sql: "UPDATE opportunities SET account_id = $1, updated_at = $3
              WHERE account_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "cases",
        sql: "UPDATE cases SET account_id = $1, updated_at = $3
              WHERE account_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "child_accounts",
        sql: "UPDATE accounts SET parent_account_id = $1, updated_at = $3
              WHERE parent_account_id = $2 AND deleted_at IS NULL AND id <> $1",
    },
    Child {
        label: "activities",
        sql: "UPDATE activities SET related_id = $1, updated_at = $3
              WHERE related_type = 'account' AND related_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "converted_leads",
        sql: "UPDATE leads SET converted_account_id = $1, updated_at = $3
              WHERE converted_account_id = $2",
    },
];

const CONTACT_CHILDREN: &[Child] = &[
    Child {
        label: "opportunities",
        sql: "UPDATE opportunities SET primary_contact_id = $1, updated_at = $3
              WHERE primary_contact_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "cases",
        sql: "UPDATE cases SET contact_id = $1, updated_at = $3
              WHERE contact_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "activities",
        sql: "UPDATE activities SET related_id = $1, updated_at = $3
              WHERE related_type = 'contact' AND related_id = $2 AND deleted_at IS NULL",
    },
    Child {
        label: "converted_leads",
        sql: "UPDATE leads SET converted_contact_id = $1, updated_at = $3
              WHERE converted_contact_id = $2",
    },
];

const LEAD_CHILDREN: &[Child] = &[Child {
    label: "activities",
    sql: "UPDATE activities SET related_id = $1, updated_at = $3
          WHERE related_type = 'lead' AND related_id = $2 AND deleted_at IS NULL",
}];

struct Spec {
    kind: RecordKind,
    table: &'static str,
    fields: &'static [Field],
    children: &'static [Child],
}

fn spec(kind: RecordKind) -> Result<Spec> {
    Ok(match kind {
        RecordKind::Account => Spec {
            kind: RecordKind::Account,
            table: "accounts",
            fields: ACCOUNT_FIELDS,
            children: ACCOUNT_CHILDREN,
        },
        RecordKind::Contact => Spec {
            kind: RecordKind::Contact,
            table: "contacts",
            fields: CONTACT_FIELDS,
            children: CONTACT_CHILDREN,
        },
        RecordKind::Lead => Spec {
            kind: RecordKind::Lead,
            table: "leads",
            fields: LEAD_FIELDS,
            children: LEAD_CHILDREN,
        },
        RecordKind::Opportunity => {
            return Err(Error::Internal("opportunities are not merged".to_owned()));
        }
    })
}

/// `SET` assignments of the survivor `s` from the loser `l`. Built from the static column
/// lists above only, never from input.
fn assignments(spec: &Spec, chosen: &[&str]) -> String {
    let mut set = Vec::new();
    let fields = record_fields::table(spec.kind);
    for f in spec.fields {
        let Some(fill) = fields.get(f.name).and_then(|r| r.merge) else {
            continue;
        };
        let first = f.columns[0];
        for c in f.columns {
            let expr = if chosen.contains(&f.name) {
                format!("l.{c}")
            } else {
                match fill {
                    MergeFill::Blank => format!("CASE WHEN s.{c} = '' THEN l.{c} ELSE s.{c} END"),
                    MergeFill::Zero => format!("CASE WHEN s.{c} = 0 THEN l.{c} ELSE s.{c} END"),
                    MergeFill::Null => {
                        format!("CASE WHEN s.{first} IS NULL THEN l.{c} ELSE s.{c} END")
                    }
                    MergeFill::Union => format!(
                        "s.{c} || ARRAY(SELECT x FROM unnest(l.{c}) x WHERE x <> ALL(s.{c}))"
                    ),
                    MergeFill::Keys => format!("l.{c} || s.{c}"),
                    MergeFill::Keep => continue,
                }
            };
            set.push(format!("{c} = {expr}"));
        }
    }
    set.push("updated_at = $3".to_owned());
    set.join(", ")
}

/// A locked record of the merge.
struct Row {
    owner_id: Uuid,
    merged_into: Option<Uuid>,
    deleted: bool,
    converted: bool,
}

async fn lock(tx: &mut Tx, table: &str, ids: [Uuid; 2]) -> Result<HashMap<Uuid, Row>> {
    let converted = if table == "leads" {
        "converted_at IS NOT NULL"
    } else {
        "false"
    };
    // Both rows in id order, so two merges of the same pair cannot deadlock.
    let rows: Vec<(Uuid, Uuid, Option<Uuid>, bool, bool)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, owner_id, merged_into, deleted_at IS NOT NULL, {converted}
             FROM {table} WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        )))
        .bind(ids.to_vec())
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, owner_id, merged_into, deleted, converted)| {
            (
                id,
                Row {
                    owner_id,
                    merged_into,
                    deleted,
                    converted,
                },
            )
        })
        .collect())
}

pub(crate) fn collection(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    }
}

/// The record as the viewer reads it now.
async fn record(tx: &mut Tx, viewer: Viewer, kind: RecordKind, id: Uuid) -> Result<Record> {
    let found = match kind {
        RecordKind::Account => accounts::visible(tx, viewer, id, Access::Read)
            .await?
            .map(Record::Account),
        RecordKind::Contact => contacts::visible(tx, viewer, id, Access::Read)
            .await?
            .map(Record::Contact),
        RecordKind::Lead => leads::visible(tx, viewer, id, Access::Read)
            .await?
            .map(Record::Lead),
        RecordKind::Opportunity => None,
    };
    found.ok_or(Error::NotFound(kind.name()))
}

fn changed_fields(before: &Record, after: &Record) -> Vec<&'static str> {
    match (before, after) {
        (Record::Account(b), Record::Account(a)) => b.data.changed_fields(&a.data),
        (Record::Contact(b), Record::Contact(a)) => b.data.changed_fields(&a.data),
        (Record::Lead(b), Record::Lead(a)) => b.data.changed_fields(&a.data),
        _ => Vec::new(),
    }
}

fn owner(record: &Record) -> Uuid {
    match record {
        Record::Account(r) => r.data.owner_id,
        Record::Contact(r) => r.data.owner_id,
        Record::Lead(r) => r.data.owner_id,
        Record::Opportunity(r) => r.data.owner_id,
    }
}

/// Refuses the merge unless both records are live, editable by the viewer and mergeable.
async fn check(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    rows: &HashMap<Uuid, Row>,
    survivor: Uuid,
    loser: Uuid,
) -> Result<()> {
    let write = scope(tx, viewer, kind, Access::Write).await?;
    let read = scope(tx, viewer, kind, Access::Read).await?;
    let name = kind.name();
    let merged = |role: &str, into: Uuid| {
        Error::FailedPrecondition(format!(
            "the {role} {name} was already merged into {}/{into}",
            collection(kind)
        ))
    };
    match rows.get(&survivor) {
        Some(row) if read.allows(row.owner_id) && row.merged_into.is_some() => {
            return Err(merged("survivor", row.merged_into.unwrap_or_default()));
        }
        Some(row) if !row.deleted && write.allows(row.owner_id) => {}
        _ => return Err(Error::NotFound(name)),
    }
    match rows.get(&loser) {
        Some(row) if read.allows(row.owner_id) && row.merged_into.is_some() => {
            return Err(merged("loser", row.merged_into.unwrap_or_default()));
        }
        Some(row) if !row.deleted && write.allows(row.owner_id) => {}
        _ => return Err(Error::invalid("loser_id", format!("no such {name}"))),
    }
    if rows.values().any(|r| r.converted) {
        return Err(Error::FailedPrecondition(
            "a converted lead cannot be merged".to_owned(),
        ));
    }
    Ok(())
}

#[async_trait]
impl MergeStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.merge", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "merge", tenant_id = %viewer.tenant_id))]
    async fn merge(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        survivor: Uuid,
        loser: Uuid,
        from_loser: Vec<&'static str>,
    ) -> Result<Record> {
        if survivor == loser {
            return Err(Error::invalid(
                "loser_id",
                "must differ from survivor_id: a record cannot be merged into itself",
            ));
        }
        let spec = spec(kind)?;
        let mut tx = self.tx(viewer).await?;
        let rows = lock(&mut tx, spec.table, [survivor, loser]).await?;
        check(&mut tx, viewer, kind, &rows, survivor, loser).await?;
        let before = record(&mut tx, viewer, kind, survivor).await?;
        let at: DateTime<Utc> = now();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} s SET {set} FROM {table} l WHERE s.id = $1 AND l.id = $2",
            table = spec.table,
            set = assignments(&spec, &from_loser),
        )))
        .bind(survivor)
        .bind(loser)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        if kind == RecordKind::Account {
            // The loser's parent may be the survivor itself.
            sqlx::query(
                "UPDATE accounts SET parent_account_id = NULL
                 WHERE id = $1 AND parent_account_id IN ($1, $2)",
            )
            .bind(survivor)
            .bind(loser)
            .execute(&mut *tx)
            .await?;
        }
        let mut reparented = HashMap::new();
        for child in spec.children {
            let moved = sqlx::query(child.sql)
                .bind(survivor)
                .bind(loser)
                .bind(at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved > 0 {
                reparented.insert(
                    child.label.to_owned(),
                    i64::try_from(moved).unwrap_or(i64::MAX),
                );
            }
        }
        if let Record::Account(_) = before {
            let parent: Option<Uuid> =
                sqlx::query_scalar("SELECT parent_account_id FROM accounts WHERE id = $1")
                    .bind(survivor)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(parent) = parent {
                accounts::check_parent_cycle(&mut tx, survivor, parent).await?;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {} SET merged_into = $1, deleted_at = $3, updated_at = $3 WHERE id = $2",
            spec.table
        )))
        .bind(survivor)
        .bind(loser)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let after = record(&mut tx, viewer, kind, survivor).await?;
        if owner(&after) != owner(&before) {
            let write = scope(&mut tx, viewer, kind, Access::Write).await?;
            check_owner(&mut tx, viewer, &write, owner(&after))
                .await
                .map_err(|e| e.prefixed("fields_from_loser."))?;
        }
        let changed = changed_fields(&before, &after);
        let mut announced = Vec::new();
        if !changed.is_empty() {
            announced.push(events::record_changed(
                viewer.tenant_id,
                viewer.user_id,
                Change::Updated,
                after.clone(),
                &changed,
            )?);
        }
        announced.push(crate::events::records::record_merged(
            viewer, kind, survivor, loser, &changed, reparented,
        )?);
        publish(&mut tx, &announced).await?;
        tx.commit().await?;
        Ok(after)
    }
}

impl PgStore {
    /// Fails with a pointer to the survivor when `id` is a merged record the viewer may read;
    /// a plain miss otherwise.
    pub(crate) async fn check_merged(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        id: Uuid,
    ) -> Result<()> {
        let Ok(spec) = spec(kind) else {
            return Ok(());
        };
        let mut tx = self.tx(viewer).await?;
        let tombstone: Option<(Uuid, Uuid)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT owner_id, merged_into FROM {} WHERE id = $1 AND merged_into IS NOT NULL",
            spec.table
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((owner_id, into)) = tombstone else {
            return Ok(());
        };
        let visible = scope(&mut tx, viewer, kind, Access::Read)
            .await?
            .allows(owner_id);
        tx.commit().await?;
        if visible {
            return Err(Error::Merged {
                what: kind.name(),
                into: format!("{}/{into}", collection(kind)),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mergeable_field_of_the_tables_has_its_columns() {
        for kind in [RecordKind::Account, RecordKind::Contact, RecordKind::Lead] {
            let spec = spec(kind).expect("mergeable kind");
            let stored: Vec<&str> = spec.fields.iter().map(|f| f.name).collect();
            assert_eq!(
                stored,
                record_fields::table(kind).mergeable(),
                "{}",
                kind.name()
            );
        }
    }

    #[test]
    fn unchosen_fields_follow_the_table_fill() {
        let spec = spec(RecordKind::Lead).expect("mergeable kind");
        let set = assignments(&spec, &["last_name"]);
        assert!(set.contains("last_name = l.last_name"), "{set}");
        assert!(
            set.contains("email = CASE WHEN s.email = '' THEN l.email ELSE s.email END"),
            "{set}"
        );
        assert!(!set.contains("score ="), "{set}");
        assert!(set.contains("custom_fields = l.custom_fields || s.custom_fields"));
    }
}
