//! Persistence of the CRM: one store trait per resource beside its SQL (`accounts::AccountStore`,
//! `leads::LeadStore`, …, each `mockall`-mocked for the handlers' unit tests), all implemented by
//! [`PgStore`]. Every statement runs in a transaction opened by `db::begin_for_tenant`, so
//! row-level security enforces the tenant even if a WHERE clause forgot it; on top of that every
//! read and write is limited to the records the viewer may reach (see `domain::visibility`), and
//! every change writes its events to the outbox in the same transaction.

pub mod accounts;
pub mod activities;
pub mod assignment;
pub mod board;
pub mod cases;
pub mod catalog;
pub mod contacts;
pub mod custom_fields;
pub mod duplicates;
pub mod exchange_rates;
pub mod handover;
pub mod history;
pub mod import_jobs;
pub mod imports;
pub mod leads;
pub mod lost_reasons;
pub mod merge;
pub mod notifications;
pub mod opportunities;
pub mod page;
pub mod pipeline_edits;
pub mod pipelines;
pub mod quotas;
pub mod quotes;
pub mod reminders;
pub mod search;
pub mod settings;
pub mod sharing;
pub mod tenant_config;
pub mod tenant_state;
pub mod users;

use std::sync::Arc;

use sqlx::{PgPool, Postgres, QueryBuilder, Row as _};
use uuid::Uuid;

use crate::domain::sharing::ShareAccess;
use crate::domain::visibility::{Access, Admission, Reach, RecordKind, Scope, Viewer, reach};
use crate::error::{Error, Result};
use tenant_config::{ConfigCache, TenantConfig};

/// The connection of an open transaction, as the store's helpers take it (a request's
/// [`db::SessionTx`] and an event handler's `sqlx::Transaction` both deref to it).
pub type Tx = sqlx::PgConnection;

/// The Postgres store.
#[derive(Debug, Clone)]
pub struct PgStore {
    sessions: db::Sessions,
    config: Arc<ConfigCache>,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            sessions: db::Sessions::new(pool),
            config: Arc::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        self.sessions.pool()
    }

    /// A transaction scoped to the viewer's tenant. A suspended tenant's and a deactivated
    /// user's tokens stop working here at once, not when they expire.
    async fn tx(&self, viewer: Viewer) -> Result<db::SessionTx> {
        Ok(self.open(viewer).await?.0)
    }

    /// [`Self::tx`] plus the tenant's configuration as of the opening.
    async fn open(&self, viewer: Viewer) -> Result<(db::SessionTx, TenantConfig<'_>)> {
        // One round trip with BEGIN: the tenant for RLS, the actor for field history, the
        // tenant's suspension, whether the actor was deactivated, and the tenant's config
        // version (migrations `…800`, `…900`, `20261207000100`). Uuids print as hex and dashes
        // only, so they are safe in the statement's text.
        let opening = format!(
            "SELECT suspended, actor_inactive, config_version FROM crm_begin_as('{}', '{}')",
            viewer.tenant_id, viewer.user_id
        );
        let (tx, row) = self.sessions.begin(&opening).await?;
        let row = row.ok_or_else(|| Error::Internal("crm_begin_as returned no row".to_owned()))?;
        if row.try_get::<bool, _>(0)? || row.try_get::<bool, _>(1)? {
            return Err(auth::AuthError::Invalid.into());
        }
        let version: i64 = row.try_get(2)?;
        Ok((tx, self.config.at(viewer.tenant_id, version)))
    }
}

/// The owners whose `kind` records `viewer` reaches for `access`.
pub(crate) async fn scope(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    access: Access,
) -> Result<Scope> {
    let reach = reach(viewer.role, kind, access);
    if reach == Reach::Team {
        let reports = users::reports(tx, viewer.user_id).await?;
        return Ok(Scope::resolve(reach, viewer.user_id, || reports));
    }
    Ok(Scope::resolve(reach, viewer.user_id, Vec::new))
}

/// [`scope`] plus the `kind` records shared with the viewer at a level granting `access`: for
/// the records' own read and edit paths (lists, search, board, forecast, duplicates), never for
/// what hangs off a record (activities, cases, quotes) or references to it.
pub(crate) async fn record_scope(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    access: Access,
) -> Result<Scope> {
    Ok(scope(tx, viewer, kind, access)
        .await?
        .with_shares(viewer.user_id, kind, access))
}

/// ` AND <owner_column> = ANY($n)` unless the scope is everything; with shares,
/// ` AND (<owner_column> = ANY($n) OR <id_column> = ANY(ARRAY(<the viewer's shared ids>)))`.
/// The shared ids are an init plan evaluated once (index-only on `record_shares_user_idx`), so
/// the planner can still combine it with the owner index instead of probing per row.
pub(crate) fn push_scope(
    qb: &mut QueryBuilder<Postgres>,
    owner_column: &str,
    id_column: &str,
    scope: &Scope,
) {
    let Scope::Owners {
        owners,
        shared_with,
    } = scope
    else {
        return;
    };
    qb.push(format_args!(" AND ({owner_column} = ANY("));
    qb.push_bind(owners.clone());
    qb.push(")");
    if let Some(shared) = shared_with {
        qb.push(format_args!(
            " OR {id_column} = ANY(ARRAY(SELECT s.record_id FROM record_shares s WHERE s.user_id = "
        ));
        qb.push_bind(shared.user_id);
        qb.push(" AND s.record_type = ");
        qb.push_bind(shared.kind.name());
        let levels = shared.levels();
        if levels.len() < ShareAccess::granting(Access::Read).len() {
            qb.push(" AND s.access = ANY(");
            qb.push_bind(levels.iter().map(|l| l.as_str()).collect::<Vec<_>>());
            qb.push(")");
        }
        qb.push("))");
    }
    qb.push(")");
}

/// Whether the viewer reaches the `kind` record `id`, owned by `owner`, for `access`: by
/// ownership, hierarchy or role, else by a share of the record with them. A share too weak for
/// `access` is PERMISSION_DENIED rather than a miss: the viewer can read the record anyway.
pub(crate) async fn reaches(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    access: Access,
    id: Uuid,
    owner: Uuid,
) -> Result<bool> {
    let scope = scope(tx, viewer, kind, access).await?;
    // Only a record outside the viewer's own reach costs the share lookup.
    let share = if scope.allows(owner) {
        None
    } else {
        sharing::access_of(tx, kind, id, viewer.user_id).await?
    };
    match scope.admits(owner, share, access) {
        Admission::Granted => Ok(true),
        Admission::Hidden => Ok(false),
        Admission::Refused(share) => Err(Error::PermissionDenied(match (share, access) {
            (ShareAccess::Read, Access::Write) => {
                format!("the {} is shared with you read-only", kind.name())
            }
            _ => format!(
                "the {} is shared with you: only its owner, their managers or an admin may \
                 delete, reassign, merge, convert or share it",
                kind.name()
            ),
        })),
    }
}

/// The owner of a record reached through an EDIT share stays: only the owner's side reassigns.
pub(crate) async fn check_reassign(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    from: Uuid,
    to: Uuid,
) -> Result<()> {
    let write = scope(tx, viewer, kind, Access::Control).await?;
    if !write.allows(from) {
        return Err(Error::invalid(
            "owner_id",
            format!(
                "the {} is shared with you: only its owner, their managers or an admin may \
                 reassign it",
                kind.name()
            ),
        ));
    }
    check_owner(tx, viewer, &write, to).await
}

/// A record may be handed to `owner` when that is the viewer, or an active user in the viewer's
/// write scope (managers assign within their team, admins to anyone).
pub(crate) async fn check_owner(
    tx: &mut Tx,
    viewer: Viewer,
    scope: &Scope,
    owner: Uuid,
) -> Result<()> {
    if owner == viewer.user_id {
        return Ok(());
    }
    if !scope.allows(owner) {
        return Err(Error::invalid(
            "owner_id",
            "you can only assign records to yourself or members of your team",
        ));
    }
    match users::is_active(tx, owner).await? {
        Some(true) => Ok(()),
        Some(false) => Err(Error::invalid("owner_id", "the user is deactivated")),
        None => Err(Error::invalid("owner_id", "no such user in this tenant")),
    }
}

/// Checks that `id` is a live `kind` record the viewer can read, for references such as a
/// contact's account. A missing or invisible record is reported on `field`.
pub(crate) async fn check_reference(
    tx: &mut Tx,
    viewer: Viewer,
    kind: RecordKind,
    id: Uuid,
    field: &'static str,
) -> Result<()> {
    let table = match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Lead => "leads",
        RecordKind::Opportunity => "opportunities",
    };
    let owner: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT owner_id FROM {table} WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let visible = match owner {
        Some(owner) => scope(tx, viewer, kind, Access::Read).await?.allows(owner),
        None => false,
    };
    if visible {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("no such {}", kind.name())))
    }
}

/// Writes events to the outbox in the business transaction.
pub(crate) async fn publish(tx: &mut Tx, events: &[events::NewEvent]) -> Result<()> {
    events::outbox::enqueue_all(tx, events).await?;
    Ok(())
}

pub(crate) fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The current time at the database's precision (microseconds), so records built here equal
/// what a later read returns.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record_fields::{ACCOUNTS, CONTACTS, FieldTable, LEADS, OPPORTUNITIES};
    use crate::listing::Listing;

    #[test]
    fn every_listing_filters_exactly_the_fields_its_table_names() {
        let pairs: [(&Listing, &FieldTable); 4] = [
            (&accounts::LISTING, &ACCOUNTS),
            (&contacts::LISTING, &CONTACTS),
            (&leads::LISTING, &LEADS),
            (&opportunities::LISTING, &OPPORTUNITIES),
        ];
        for (listing, table) in pairs {
            let mut listed: Vec<&str> = listing.fields.iter().map(|f| f.name).collect();
            let mut expected = table.filterable();
            listed.sort_unstable();
            expected.sort_unstable();
            assert_eq!(listed, expected, "{}", listing.resource);
        }
    }
}
