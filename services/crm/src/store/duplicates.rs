//! Probes for likely duplicates. Every probe is an index lookup (see migration
//! `20261201000500_duplicates.sql`): equality on email, phone, domain or the normalized name key,
//! limited to live records of the tenant.

use async_trait::async_trait;
use service_errors::Conflict;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, scope, sharing};
use crate::domain::duplicates::{Candidate, Duplicates, Probe, Rule};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::{Error, Result};

/// The duplicate search of DuplicateService and the import.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait DuplicateStore: Send + Sync + 'static {
    /// Live records matching `probe`: the readable ones named, the others counted.
    async fn find_duplicates(&self, viewer: Viewer, probe: Probe) -> Result<Duplicates>;
}

/// The most matches read per record kind: enough to rank and count, bounded for common names.
const MAX_MATCHES: i64 = 200;

// One arm per rule, each a plain index lookup, merged per record. An OR of the rules in one
// WHERE would be planned once as a generic plan for the prepared statement, and that plan scans
// the whole table (each row through `crm_name_key`): 75 ms at 10,000 leads instead of 0.2 ms.
const ACCOUNTS: &str = "
    SELECT kind, id, owner_id, display_name,
           false AS by_email, false AS by_phone,
           bool_or(rule = 'name') AS by_name, bool_or(rule = 'domain') AS by_domain
    FROM (
        (SELECT 'account' AS kind, 'domain' AS rule, id, owner_id, name AS display_name
         FROM accounts
         WHERE tenant_id = $1 AND deleted_at IS NULL AND domain = NULLIF($2, '')
         LIMIT $4)
        UNION ALL
        (SELECT 'account', 'name', id, owner_id, name
         FROM accounts
         WHERE tenant_id = $1 AND deleted_at IS NULL AND name_key = NULLIF(crm_name_key($3), '')
         LIMIT $4)
    ) m
    GROUP BY kind, id, owner_id, display_name";

// Contacts and leads in one round trip. A converted lead lives on as its contact, which matches
// in its place.
const PEOPLE: &str = "
    SELECT kind, id, owner_id, display_name,
           bool_or(rule = 'email') AS by_email, bool_or(rule = 'phone') AS by_phone,
           bool_or(rule = 'name') AS by_name, false AS by_domain
    FROM (
        (SELECT 'contact' AS kind, 'email' AS rule, id, owner_id,
                btrim(first_name || ' ' || last_name) AS display_name
         FROM contacts
         WHERE tenant_id = $1 AND deleted_at IS NULL AND emails && $2
         LIMIT $5)
        UNION ALL
        (SELECT 'contact', 'phone', id, owner_id, btrim(first_name || ' ' || last_name)
         FROM contacts
         WHERE tenant_id = $1 AND deleted_at IS NULL AND phones && $3
         LIMIT $5)
        UNION ALL
        (SELECT 'contact', 'name', id, owner_id, btrim(first_name || ' ' || last_name)
         FROM contacts
         WHERE tenant_id = $1 AND deleted_at IS NULL AND name_key = NULLIF(crm_name_key($4), '')
         LIMIT $5)
        UNION ALL
        (SELECT 'lead', 'email', id, owner_id, btrim(first_name || ' ' || last_name)
         FROM leads
         WHERE tenant_id = $1 AND deleted_at IS NULL AND converted_at IS NULL
           AND email = ANY($2)
         LIMIT $5)
        UNION ALL
        (SELECT 'lead', 'phone', id, owner_id, btrim(first_name || ' ' || last_name)
         FROM leads
         WHERE tenant_id = $1 AND deleted_at IS NULL AND converted_at IS NULL
           AND phone = ANY($3)
         LIMIT $5)
        UNION ALL
        (SELECT 'lead', 'name', id, owner_id, btrim(first_name || ' ' || last_name)
         FROM leads
         WHERE tenant_id = $1 AND deleted_at IS NULL AND converted_at IS NULL
           AND name_key = NULLIF(crm_name_key($4), '')
         LIMIT $5)
    ) m
    GROUP BY kind, id, owner_id, display_name";

fn candidate(row: &PgRow) -> Result<Candidate> {
    let kind = match row.try_get::<&str, _>("kind")? {
        "contact" => RecordKind::Contact,
        "lead" => RecordKind::Lead,
        _ => RecordKind::Account,
    };
    let mut rules = Vec::new();
    for (column, rule) in [
        ("by_email", Rule::Email),
        ("by_phone", Rule::Phone),
        ("by_name", Rule::Name),
        ("by_domain", Rule::Domain),
    ] {
        if row.try_get::<bool, _>(column)? {
            rules.push(rule);
        }
    }
    Ok(Candidate {
        kind,
        id: row.try_get("id")?,
        display_name: row.try_get("display_name")?,
        owner_id: row.try_get("owner_id")?,
        rules,
    })
}

/// Every live record `probe` matches, readable or not.
async fn matches(tx: &mut Tx, viewer: Viewer, probe: &Probe) -> Result<Vec<Candidate>> {
    let rows = match probe {
        Probe::Account { name, domain } => {
            sqlx::query(ACCOUNTS)
                .bind(viewer.tenant_id)
                .bind(domain)
                .bind(name)
                .bind(MAX_MATCHES)
                .fetch_all(&mut *tx)
                .await?
        }
        Probe::Person {
            first_name,
            last_name,
            emails,
            phones,
        } => {
            sqlx::query(PEOPLE)
                .bind(viewer.tenant_id)
                .bind(emails)
                .bind(phones)
                .bind(format!("{first_name} {last_name}"))
                .bind(MAX_MATCHES)
                .fetch_all(&mut *tx)
                .await?
        }
    };
    rows.iter().map(candidate).collect()
}

/// The matches of `probe`, split by what the viewer may read.
async fn find(tx: &mut Tx, viewer: Viewer, probe: &Probe) -> Result<Duplicates> {
    let found = matches(tx, viewer, probe).await?;
    // Most creates match nothing: only a match needs the viewer's scope to rank it.
    let mut scopes = Vec::new();
    for &kind in probe.kinds() {
        if found.iter().any(|c| c.kind == kind) {
            scopes.push((kind, scope(tx, viewer, kind, Access::Read).await?));
        }
    }
    let owned = |c: &Candidate| {
        scopes
            .iter()
            .any(|(kind, scope)| *kind == c.kind && scope.allows(c.owner_id))
    };
    // Records shared with the viewer are readable too: named, not counted as hidden.
    let others: Vec<Uuid> = found.iter().filter(|c| !owned(c)).map(|c| c.id).collect();
    let shared = sharing::shared_among(tx, viewer.user_id, &others).await?;
    Ok(Duplicates::sort(found, |c| {
        owned(c) || shared.contains(&c.id)
    }))
}

/// Refuses, inside the creating transaction, a record that looks like an existing one; `None`
/// when the client forced the create. Checking in the same transaction costs no extra round
/// trips for the common case of no match.
pub(super) async fn refuse(
    tx: &mut Tx,
    viewer: Viewer,
    creating: RecordKind,
    probe: Option<&Probe>,
) -> Result<()> {
    let Some(probe) = probe else {
        return Ok(());
    };
    let found = find(tx, viewer, probe).await?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(refusal(creating, found))
    }
}

fn collection(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    }
}

fn rules(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// ALREADY_EXISTS naming each readable candidate (`leads/<id>`, matched rules) and counting the
/// others, so REST clients find them in the problem's `errors`.
fn refusal(creating: RecordKind, found: Duplicates) -> Error {
    let total = found.candidates.len() + found.hidden as usize;
    let mut message = format!(
        "this {} looks like {total} existing record(s)",
        creating.name()
    );
    if found.hidden > 0 {
        message.push_str(&format!(", {} of them not visible to you", found.hidden));
    }
    message.push_str("; set force to create it anyway");
    let mut conflicts: Vec<Conflict> = found
        .candidates
        .into_iter()
        .map(|c| Conflict {
            kind: rules(&c.rules),
            subject: format!("{}/{}", collection(c.kind), c.id),
            description: format!(
                "{} {:?} has the same {}",
                c.kind.name(),
                c.display_name,
                rules(&c.rules).replace(',', ", ")
            ),
        })
        .collect();
    if found.hidden > 0 {
        conflicts.push(Conflict {
            kind: "hidden".to_owned(),
            subject: "hidden".to_owned(),
            description: format!("{} matching record(s) you cannot see", found.hidden),
        });
    }
    Error::Conflicts { message, conflicts }
}

#[async_trait]
impl DuplicateStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.find_duplicates", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "find_duplicates", tenant_id = %viewer.tenant_id))]
    async fn find_duplicates(&self, viewer: Viewer, probe: Probe) -> Result<Duplicates> {
        let mut tx = self.tx(viewer).await?;
        let found = find(&mut tx, viewer, &probe).await?;
        tx.commit().await?;
        Ok(found)
    }
}
