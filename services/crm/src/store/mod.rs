//! Persistence of the CRM: the [`Store`] trait the API depends on and its Postgres
//! implementation. Every statement runs in a transaction opened by `db::begin_for_tenant`, so
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
pub mod handover;
pub mod history;
pub mod import_jobs;
pub mod imports;
pub mod leads;
pub mod merge;
pub mod opportunities;
pub mod page;
pub mod pipelines;
pub mod quotes;
pub mod search;
pub mod settings;
pub mod sharing;
pub mod tenant_config;
pub mod tenant_state;
pub mod users;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{PgPool, Postgres, QueryBuilder, Row as _};
use uuid::Uuid;

use crate::domain::account::{Account, AccountData, AccountPatch};
use crate::domain::contact::{Contact, ContactPatch, NewContact};
use crate::domain::conversion::{Conversion, ConvertOptions};
use crate::domain::duplicates::{Duplicates, Probe};
use crate::domain::lead::{Lead, LeadData, LeadPatch};
use crate::domain::opportunity::{NewOpportunity, Opportunity, OpportunityPatch, StageChange};
use crate::domain::pipeline::{NewPipeline, Pipeline};
use crate::domain::sharing::ShareAccess;
use crate::domain::visibility::{Access, Admission, Reach, RecordKind, Scope, Viewer, reach};
use crate::error::{Error, Result};
use crate::events::publish::Record;
use crate::listing::{ListQuery, Page};
use tenant_config::{ConfigCache, TenantConfig};

/// The connection of an open transaction, as the store's helpers take it (a request's
/// [`db::SessionTx`] and an event handler's `sqlx::Transaction` both deref to it).
pub type Tx = sqlx::PgConnection;

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `duplicates`: refuse the create when this probe matches existing records (`None`: the
    /// client forced it). The same holds for contacts and leads.
    async fn create_account(
        &self,
        viewer: Viewer,
        account: AccountData,
        duplicates: Option<Probe>,
    ) -> Result<Account>;
    async fn account(&self, viewer: Viewer, id: Uuid) -> Result<Option<Account>>;
    async fn list_accounts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Account>>;
    async fn update_account(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: AccountPatch,
    ) -> Result<Option<Account>>;
    async fn delete_account(&self, viewer: Viewer, id: Uuid) -> Result<bool>;

    async fn create_contact(
        &self,
        viewer: Viewer,
        contact: NewContact,
        duplicates: Option<Probe>,
    ) -> Result<Contact>;
    async fn contact(&self, viewer: Viewer, id: Uuid) -> Result<Option<Contact>>;
    async fn list_contacts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Contact>>;
    async fn update_contact(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ContactPatch,
    ) -> Result<Option<Contact>>;
    async fn delete_contact(&self, viewer: Viewer, id: Uuid) -> Result<bool>;

    async fn create_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead>;
    /// A lead created without an owner: the tenant's assignment rules choose one, else the
    /// creator (`lead.owner_id`) owns it.
    async fn create_unowned_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead>;
    async fn lead(&self, viewer: Viewer, id: Uuid) -> Result<Option<Lead>>;
    async fn list_leads(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Lead>>;
    /// Refuses to change a converted lead.
    async fn update_lead(&self, viewer: Viewer, id: Uuid, patch: LeadPatch)
    -> Result<Option<Lead>>;
    async fn delete_lead(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Converts in one transaction; `None` when the lead is not visible to the viewer.
    async fn convert_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        options: ConvertOptions,
    ) -> Result<Option<Conversion>>;

    /// The tenant's pipelines, default first (created on the spot if still missing).
    async fn list_pipelines(&self, viewer: Viewer) -> Result<Vec<Pipeline>>;
    async fn pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>>;
    async fn create_pipeline(&self, viewer: Viewer, pipeline: NewPipeline) -> Result<Pipeline>;

    async fn create_opportunity(
        &self,
        viewer: Viewer,
        opportunity: NewOpportunity,
    ) -> Result<Opportunity>;
    async fn opportunity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Opportunity>>;
    async fn list_opportunities(
        &self,
        viewer: Viewer,
        query: ListQuery,
    ) -> Result<Page<Opportunity>>;
    async fn update_opportunity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: OpportunityPatch,
    ) -> Result<Option<Opportunity>>;
    async fn delete_opportunity(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Moves to `stage_id` of the opportunity's pipeline, recording history and events.
    async fn move_stage(
        &self,
        viewer: Viewer,
        id: Uuid,
        stage_id: Uuid,
        lost_reason: String,
    ) -> Result<Option<Opportunity>>;
    /// Oldest first; `None` when the opportunity is not visible.
    async fn stage_history(&self, viewer: Viewer, id: Uuid) -> Result<Option<Vec<StageChange>>>;

    /// Live records matching `probe`: the readable ones named, the others counted.
    async fn find_duplicates(&self, viewer: Viewer, probe: Probe) -> Result<Duplicates>;

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

#[async_trait]
impl Store for PgStore {
    async fn create_account(
        &self,
        viewer: Viewer,
        account: AccountData,
        duplicates: Option<Probe>,
    ) -> Result<Account> {
        self.create_account_impl(viewer, account, duplicates).await
    }
    async fn account(&self, viewer: Viewer, id: Uuid) -> Result<Option<Account>> {
        let found = self.account_impl(viewer, id).await?;
        if found.is_none() {
            self.check_merged(viewer, RecordKind::Account, id).await?;
        }
        Ok(found)
    }
    async fn list_accounts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Account>> {
        self.list_accounts_impl(viewer, query).await
    }
    async fn update_account(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: AccountPatch,
    ) -> Result<Option<Account>> {
        self.update_account_impl(viewer, id, patch).await
    }
    async fn delete_account(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        self.delete_account_impl(viewer, id).await
    }

    async fn create_contact(
        &self,
        viewer: Viewer,
        contact: NewContact,
        duplicates: Option<Probe>,
    ) -> Result<Contact> {
        self.create_contact_impl(viewer, contact, duplicates).await
    }
    async fn contact(&self, viewer: Viewer, id: Uuid) -> Result<Option<Contact>> {
        let found = self.contact_impl(viewer, id).await?;
        if found.is_none() {
            self.check_merged(viewer, RecordKind::Contact, id).await?;
        }
        Ok(found)
    }
    async fn list_contacts(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Contact>> {
        self.list_contacts_impl(viewer, query).await
    }
    async fn update_contact(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: ContactPatch,
    ) -> Result<Option<Contact>> {
        self.update_contact_impl(viewer, id, patch).await
    }
    async fn delete_contact(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        self.delete_contact_impl(viewer, id).await
    }

    async fn create_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead> {
        self.create_lead_impl(viewer, lead, false, duplicates).await
    }
    async fn create_unowned_lead(
        &self,
        viewer: Viewer,
        lead: LeadData,
        duplicates: Option<Probe>,
    ) -> Result<Lead> {
        self.create_lead_impl(viewer, lead, true, duplicates).await
    }
    async fn lead(&self, viewer: Viewer, id: Uuid) -> Result<Option<Lead>> {
        let found = self.lead_impl(viewer, id).await?;
        if found.is_none() {
            self.check_merged(viewer, RecordKind::Lead, id).await?;
        }
        Ok(found)
    }
    async fn list_leads(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Lead>> {
        self.list_leads_impl(viewer, query).await
    }
    async fn update_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: LeadPatch,
    ) -> Result<Option<Lead>> {
        self.update_lead_impl(viewer, id, patch).await
    }
    async fn delete_lead(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        self.delete_lead_impl(viewer, id).await
    }
    async fn convert_lead(
        &self,
        viewer: Viewer,
        id: Uuid,
        options: ConvertOptions,
    ) -> Result<Option<Conversion>> {
        self.convert_lead_impl(viewer, id, options).await
    }

    async fn list_pipelines(&self, viewer: Viewer) -> Result<Vec<Pipeline>> {
        self.list_pipelines_impl(viewer).await
    }
    async fn pipeline(&self, viewer: Viewer, id: Uuid) -> Result<Option<Pipeline>> {
        self.pipeline_impl(viewer, id).await
    }
    async fn create_pipeline(&self, viewer: Viewer, pipeline: NewPipeline) -> Result<Pipeline> {
        self.create_pipeline_impl(viewer, pipeline).await
    }

    async fn create_opportunity(
        &self,
        viewer: Viewer,
        opportunity: NewOpportunity,
    ) -> Result<Opportunity> {
        self.create_opportunity_impl(viewer, opportunity).await
    }
    async fn opportunity(&self, viewer: Viewer, id: Uuid) -> Result<Option<Opportunity>> {
        self.opportunity_impl(viewer, id).await
    }
    async fn list_opportunities(
        &self,
        viewer: Viewer,
        query: ListQuery,
    ) -> Result<Page<Opportunity>> {
        self.list_opportunities_impl(viewer, query).await
    }
    async fn update_opportunity(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: OpportunityPatch,
    ) -> Result<Option<Opportunity>> {
        self.update_opportunity_impl(viewer, id, patch).await
    }
    async fn delete_opportunity(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        self.delete_opportunity_impl(viewer, id).await
    }
    async fn move_stage(
        &self,
        viewer: Viewer,
        id: Uuid,
        stage_id: Uuid,
        lost_reason: String,
    ) -> Result<Option<Opportunity>> {
        self.move_stage_impl(viewer, id, stage_id, lost_reason)
            .await
    }
    async fn stage_history(&self, viewer: Viewer, id: Uuid) -> Result<Option<Vec<StageChange>>> {
        self.stage_history_impl(viewer, id).await
    }

    async fn find_duplicates(&self, viewer: Viewer, probe: Probe) -> Result<Duplicates> {
        self.find_duplicates_impl(viewer, probe).await
    }

    async fn merge(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        survivor: Uuid,
        loser: Uuid,
        from_loser: Vec<&'static str>,
    ) -> Result<Record> {
        self.merge_impl(viewer, kind, survivor, loser, from_loser)
            .await
    }
}
