//! Handing a user's open records to someone else: when they are deactivated (tenant policy) or
//! when an admin asks. Every move is a `crm.<entity>.updated` event with `owner_id` changed, in
//! the same transaction, so projections downstream follow.

use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{Tx, accounts, contacts, leads, now, opportunities, publish, tenant_state};
use crate::domain::record::Record;
use crate::domain::settings::{DeactivatedOwnerPolicy, successor};
use crate::error::Result;
use crate::events::publish::{self as events, Change};

/// How many records of each kind moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
    pub opportunities: usize,
}

/// A record whose owner is deactivated, for an admin to hand over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub kind: String,
    pub id: Uuid,
    pub title: String,
    pub owner_id: Uuid,
}

/// Keyset position in the orphan list: owner, kind, id.
pub type OrphanKey = (Uuid, String, Uuid);

/// Moves the open records of `from` to `to`: accounts, contacts, unconverted leads and
/// opportunities in open stages (closed deals keep the owner they were won or lost by).
/// `actor_id` is who asked, the nil id for the CRM itself.
pub async fn move_records(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor_id: Uuid,
    from: Uuid,
    to: Uuid,
) -> Result<Moved> {
    let at = now();
    let account_rows = moved_rows(
        tx,
        &format!(
            "UPDATE accounts a SET owner_id = $2, updated_at = $3
             WHERE a.owner_id = $1 AND a.deleted_at IS NULL RETURNING {}",
            accounts::COLUMNS
        ),
        from,
        to,
        at,
    )
    .await?;
    let contact_rows = moved_rows(
        tx,
        &format!(
            "UPDATE contacts c SET owner_id = $2, updated_at = $3
             WHERE c.owner_id = $1 AND c.deleted_at IS NULL RETURNING {}",
            contacts::COLUMNS
        ),
        from,
        to,
        at,
    )
    .await?;
    let lead_rows = moved_rows(
        tx,
        &format!(
            "UPDATE leads l SET owner_id = $2, updated_at = $3
             WHERE l.owner_id = $1 AND l.deleted_at IS NULL AND l.converted_at IS NULL
             RETURNING {}",
            leads::COLUMNS
        ),
        from,
        to,
        at,
    )
    .await?;
    let opportunity_rows = moved_rows(
        tx,
        &format!(
            "UPDATE opportunities o SET owner_id = $2, updated_at = $3
             FROM stages s
             WHERE s.id = o.stage_id AND s.category = 'open'
               AND o.owner_id = $1 AND o.deleted_at IS NULL
             RETURNING {}",
            opportunities::COLUMNS
        ),
        from,
        to,
        at,
    )
    .await?;

    let moved = Moved {
        accounts: account_rows.len(),
        contacts: contact_rows.len(),
        leads: lead_rows.len(),
        opportunities: opportunity_rows.len(),
    };
    let mut records =
        Vec::with_capacity(moved.accounts + moved.contacts + moved.leads + moved.opportunities);
    for row in &account_rows {
        records.push(Record::Account(accounts::from_row(row)?));
    }
    for row in &contact_rows {
        records.push(Record::Contact(contacts::from_row(row)?));
    }
    for row in &lead_rows {
        records.push(Record::Lead(leads::from_row(row)?));
    }
    for row in &opportunity_rows {
        records.push(Record::Opportunity(opportunities::from_row(row)?));
    }
    let changes = records
        .into_iter()
        .map(|record| {
            events::record_changed(tenant_id, actor_id, Change::Updated, record, &["owner_id"])
        })
        .collect::<Result<Vec<_>, _>>()?;
    publish(tx, &changes).await?;
    Ok(moved)
}

async fn moved_rows(
    tx: &mut Tx,
    sql: &str,
    from: Uuid,
    to: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<PgRow>> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(from)
        .bind(to)
        .bind(at)
        .fetch_all(&mut *tx)
        .await?)
}

/// Applies the tenant's policy to the records of `user`, just deactivated. Under `Keep`, or when
/// nobody active can take them, the records stay and show up as orphans.
pub async fn on_deactivated(tx: &mut Tx, tenant_id: Uuid, user: Uuid) -> Result<Option<Moved>> {
    let settings = tenant_state::settings(tx).await?;
    if settings.deactivated_owner_policy == DeactivatedOwnerPolicy::Keep {
        return Ok(None);
    }
    let manager: Option<Uuid> = sqlx::query_scalar(
        "SELECT m.user_id FROM crm_users u JOIN crm_users m ON m.user_id = u.manager_id
         WHERE u.user_id = $1 AND m.active",
    )
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let fallback = match settings.fallback_owner_id {
        Some(id) => {
            sqlx::query_scalar("SELECT user_id FROM crm_users WHERE user_id = $1 AND active")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => None,
    };
    // The admin whose projection is oldest: the tenant's first admin unless they left.
    let admin: Option<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM crm_users WHERE role = 'ROLE_ADMIN' AND active AND user_id <> $1
         ORDER BY source_time, user_id LIMIT 1",
    )
    .bind(user)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(to) = successor(user, manager, fallback, admin) else {
        tracing::warn!(%tenant_id, %user, "no active successor; records stay orphaned");
        return Ok(None);
    };
    move_records(tx, tenant_id, Uuid::nil(), user, to)
        .await
        .map(Some)
}

/// Open records owned by deactivated users, ordered by owner, kind and id.
pub async fn orphans(tx: &mut Tx, after: Option<OrphanKey>, limit: i64) -> Result<Vec<Orphan>> {
    let (owner, kind, id) = after.unwrap_or((Uuid::nil(), String::new(), Uuid::nil()));
    let rows: Vec<(String, Uuid, String, Uuid)> = sqlx::query_as(
        "SELECT r.kind, r.id, r.title, r.owner_id FROM (
             SELECT 'account' AS kind, a.id, a.name AS title, a.owner_id
             FROM accounts a WHERE a.deleted_at IS NULL
             UNION ALL
             SELECT 'contact', c.id, btrim(c.first_name || ' ' || c.last_name), c.owner_id
             FROM contacts c WHERE c.deleted_at IS NULL
             UNION ALL
             SELECT 'lead', l.id, btrim(l.first_name || ' ' || l.last_name), l.owner_id
             FROM leads l WHERE l.deleted_at IS NULL AND l.converted_at IS NULL
             UNION ALL
             SELECT 'opportunity', o.id, o.name, o.owner_id
             FROM opportunities o JOIN stages s ON s.id = o.stage_id
             WHERE o.deleted_at IS NULL AND s.category = 'open'
         ) r
         JOIN crm_users u ON u.user_id = r.owner_id AND NOT u.active
         WHERE (r.owner_id, r.kind, r.id) > ($1, $2, $3)
         ORDER BY r.owner_id, r.kind, r.id
         LIMIT $4",
    )
    .bind(owner)
    .bind(kind)
    .bind(id)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, id, title, owner_id)| Orphan {
            kind,
            id,
            title,
            owner_id,
        })
        .collect())
}
