//! Probes for likely duplicates. Every probe is an index lookup (see migration
//! `20261201000500_duplicates.sql`): equality on email, phone, domain or the normalized name key,
//! limited to live records of the tenant.

use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, Tx, scope, sharing};
use crate::domain::duplicates::{Candidate, Duplicates, Probe, Rule};
use crate::domain::visibility::{Access, RecordKind, Viewer};
use crate::error::Result;

/// The most matches read per record kind: enough to rank and count, bounded for common names.
const MAX_MATCHES: i64 = 200;

const ACCOUNTS: &str = "
    SELECT id, owner_id, name AS display_name,
           false AS by_email, false AS by_phone,
           coalesce(name_key = NULLIF(crm_name_key($3), ''), false) AS by_name,
           coalesce(domain = NULLIF($2, ''), false) AS by_domain
    FROM accounts
    WHERE tenant_id = $1 AND deleted_at IS NULL
      AND (domain = NULLIF($2, '') OR name_key = NULLIF(crm_name_key($3), ''))
    LIMIT $4";

const CONTACTS: &str = "
    SELECT id, owner_id, btrim(first_name || ' ' || last_name) AS display_name,
           emails && $2 AS by_email, phones && $3 AS by_phone,
           coalesce(name_key = NULLIF(crm_name_key($4), ''), false) AS by_name,
           false AS by_domain
    FROM contacts
    WHERE tenant_id = $1 AND deleted_at IS NULL
      AND (emails && $2 OR phones && $3 OR name_key = NULLIF(crm_name_key($4), ''))
    LIMIT $5";

// A converted lead lives on as its contact, which matches in its place.
const LEADS: &str = "
    SELECT id, owner_id, btrim(first_name || ' ' || last_name) AS display_name,
           email = ANY($2) AS by_email, phone = ANY($3) AS by_phone,
           coalesce(name_key = NULLIF(crm_name_key($4), ''), false) AS by_name,
           false AS by_domain
    FROM leads
    WHERE tenant_id = $1 AND deleted_at IS NULL AND converted_at IS NULL
      AND (email = ANY($2) OR phone = ANY($3) OR name_key = NULLIF(crm_name_key($4), ''))
    LIMIT $5";

fn candidate(kind: RecordKind, row: &PgRow) -> Result<Candidate> {
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

async fn matches(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    probe: &Probe,
) -> Result<Vec<PgRow>> {
    let rows = match (probe, kind) {
        (Probe::Account { name, domain }, _) => {
            sqlx::query(ACCOUNTS)
                .bind(viewer.tenant_id)
                .bind(domain)
                .bind(name)
                .bind(MAX_MATCHES)
                .fetch_all(&mut **tx)
                .await?
        }
        (
            Probe::Person {
                first_name,
                last_name,
                emails,
                phones,
            },
            kind,
        ) => {
            let sql = if kind == RecordKind::Contact {
                CONTACTS
            } else {
                LEADS
            };
            sqlx::query(sql)
                .bind(viewer.tenant_id)
                .bind(emails)
                .bind(phones)
                .bind(format!("{first_name} {last_name}"))
                .bind(MAX_MATCHES)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    Ok(rows)
}

impl PgStore {
    #[tracing::instrument(name = "crm.postgres.find_duplicates", skip_all, fields(tenant_id = %viewer.tenant_id))]
    pub(super) async fn find_duplicates_impl(
        &self,
        viewer: Viewer,
        probe: Probe,
    ) -> Result<Duplicates> {
        let mut tx = self.tx(viewer).await?;
        let mut found = Vec::new();
        let mut scopes = Vec::new();
        for &kind in probe.kinds() {
            let rows = matches(&mut tx, viewer, kind, &probe).await?;
            // Most creates match nothing: only a match needs the viewer's scope to rank it.
            if rows.is_empty() {
                continue;
            }
            for row in rows {
                found.push(candidate(kind, &row)?);
            }
            scopes.push((kind, scope(&mut tx, viewer, kind, Access::Read).await?));
        }
        let owned = |c: &Candidate| {
            scopes
                .iter()
                .any(|(kind, scope)| *kind == c.kind && scope.allows(c.owner_id))
        };
        // Records shared with the viewer are readable too: named, not counted as hidden.
        let others: Vec<Uuid> = found.iter().filter(|c| !owned(c)).map(|c| c.id).collect();
        let shared = sharing::shared_among(&mut tx, viewer.user_id, &others).await?;
        tx.commit().await?;
        Ok(Duplicates::sort(found, |c| {
            owned(c) || shared.contains(&c.id)
        }))
    }
}
