//! Persistence of commissions: the [`Store`] trait the API depends on and its Postgres
//! implementation. Every statement runs in a transaction opened by `commissions_open` (which
//! sets the tenant row-level security enforces and refuses a suspended tenant,
//! [`tenant_state`]), reads are limited to the participants the viewer may see
//! (`domain::visibility`), and every change is written to the audit log in the same
//! transaction. Role checks (admin work, team reading) are the handlers' before they call here;
//! rules about the data itself (nobody pays or adjusts their own statement) are the store's.

pub mod adjustments;
pub mod browse;
pub mod estimates;
pub mod exchange_rates;
pub mod ledger;
pub mod lines;
pub mod open_deals;
pub mod plans;
pub mod quota_admin;
pub mod quotas;
pub mod tenant_state;
pub mod users;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::Viewer;
use crate::domain::adjustment::{Adjustment, Dispute};
use crate::domain::audit::AuditEntry;
use crate::domain::estimate::{Estimate, EstimateRequest};
use crate::domain::listing::{Page, PageRequest, PeriodCursor, PeriodFilter};
use crate::domain::period::{Period, Window};
use crate::domain::plan::{NewVersion, Plan, PlanVersion};
use crate::domain::quota::{Measured, Quota, TeamFigures};
use crate::domain::quota_upload::{RowReport, UploadRow, settle};
use crate::domain::statement::{Recalculation, Statement, Status, StoredLine};
use crate::error::{Error, Result};

pub type Tx = Transaction<'static, Postgres>;

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_plan(&self, viewer: Viewer, name: String, version: NewVersion) -> Result<Plan>;
    async fn create_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version: NewVersion,
    ) -> Result<Option<PlanVersion>>;
    /// Sets the end of an open-ended version; `None` when there is no such version.
    async fn end_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version_id: Uuid,
        end: NaiveDate,
    ) -> Result<Option<PlanVersion>>;
    async fn plan(&self, viewer: Viewer, id: Uuid) -> Result<Option<Plan>>;
    async fn list_plans(&self, viewer: Viewer) -> Result<Vec<Plan>>;
    async fn set_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota>;
    async fn recalculate(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Recalculation>;
    async fn statement(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Statement>;
    async fn set_statement_status(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
        status: Status,
    ) -> Result<Statement>;
    async fn create_adjustment(&self, viewer: Viewer, adjustment: Adjustment)
    -> Result<Adjustment>;
    async fn approve_adjustment(&self, viewer: Viewer, id: Uuid) -> Result<Option<Adjustment>>;
    async fn raise_dispute(
        &self,
        viewer: Viewer,
        line_id: Uuid,
        comment: String,
    ) -> Result<Option<Dispute>>;
    async fn resolve_dispute(
        &self,
        viewer: Viewer,
        id: Uuid,
        resolution: String,
    ) -> Result<Option<Dispute>>;
    /// Newest first.
    async fn audit_entries(
        &self,
        viewer: Viewer,
        subject: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>>;
    /// The statement and the tenant's display name, for documents.
    async fn statement_document(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<(Statement, Option<String>)>;
    /// Credited bookings over the window and the quota (currency, amount) if set.
    async fn attainment(
        &self,
        viewer: Viewer,
        participant: Uuid,
        window: Window,
    ) -> Result<Measured>;
    /// Sets a manager's team quota override.
    async fn set_team_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota>;
    /// A manager's team over the window (the manager must be visible to the viewer).
    async fn team_attainment(
        &self,
        viewer: Viewer,
        manager: Uuid,
        window: Window,
    ) -> Result<TeamFigures>;
    /// First month (1-12) of the tenant's fiscal year.
    async fn fiscal_year_start_month(&self, viewer: Viewer) -> Result<u32>;
    /// Statements the viewer may see, newest period first, without lines and adjustments.
    async fn list_statements(
        &self,
        viewer: Viewer,
        filter: PeriodFilter,
        page: PageRequest<PeriodCursor>,
    ) -> Result<Page<Statement, PeriodCursor>>;
    /// One page of the lines landing in `participant`'s statement for `period`.
    async fn line_page(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
        page: PageRequest<i64>,
    ) -> Result<Page<StoredLine, i64>>;
    /// Quotas the viewer may see, newest period first.
    async fn list_quotas(
        &self,
        viewer: Viewer,
        filter: PeriodFilter,
        page: PageRequest<PeriodCursor>,
    ) -> Result<Page<Quota, PeriodCursor>>;
    async fn quota(&self, viewer: Viewer, user: Uuid, period: Period) -> Result<Quota>;
    /// Deletes a quota no line was calculated against.
    async fn delete_quota(&self, viewer: Viewer, user: Uuid, period: Period) -> Result<()>;
    /// Writes the good rows of an upload (none of them when `all_or_nothing` and a row failed).
    async fn upload_quotas(
        &self,
        viewer: Viewer,
        rows: Vec<UploadRow>,
        all_or_nothing: bool,
    ) -> Result<Vec<RowReport>>;
    /// What a deal or amount would pay; reads only.
    async fn estimate(&self, viewer: Viewer, request: EstimateRequest) -> Result<Estimate>;
}

/// The Postgres store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// A transaction scoped to the viewer's tenant. A suspended tenant's tokens, and a
    /// deactivated user's, stop working here at once (UNAUTHENTICATED, as in the CRM), not when
    /// they expire: the opening statement that sets the tenant also checks both.
    async fn tx(&self, viewer: Viewer) -> Result<Tx> {
        let mut tx = db::begin(&self.pool).await?;
        if tenant_state::open(&mut tx, viewer.tenant_id, viewer.user_id)
            .await?
            .refuses()
        {
            return Err(auth::AuthError::Invalid.into());
        }
        Ok(tx)
    }
}

/// Checks that the viewer may read `participant`'s commissions; others look not found.
pub(crate) async fn check_visible(tx: &mut Tx, viewer: Viewer, participant: Uuid) -> Result<()> {
    let reports = if viewer.needs_team() {
        users::reports(tx, viewer.user_id).await?
    } else {
        Vec::new()
    };
    if viewer.may_read(participant, &reports) {
        Ok(())
    } else {
        Err(Error::NotFound("participant"))
    }
}

async fn measure(tx: &mut Tx, participant: Uuid, window: Window) -> Result<Measured> {
    Ok(Measured {
        participant_id: participant,
        attained: lines::attained_over(tx, participant, window).await?,
        quota: quotas::for_window(tx, quotas::Holder::User, participant, window).await?,
    })
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: Uuid,
    actor_id: Option<Uuid>,
    action: String,
    subject_id: Option<Uuid>,
    detail: String,
    occurred_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            actor_id: row.actor_id,
            action: row.action,
            subject_id: row.subject_id,
            detail: row.detail,
            occurred_at: row.occurred_at,
        }
    }
}

/// Records who did what in the business transaction.
pub(crate) async fn audit(
    tx: &mut Tx,
    tenant_id: Uuid,
    actor: Option<Uuid>,
    action: &str,
    subject: Option<Uuid>,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor_id, action, subject_id, detail, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(actor)
    .bind(action)
    .bind(subject)
    .bind(detail)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes an event to the outbox in the business transaction.
pub(crate) async fn publish(
    tx: &mut Tx,
    event: std::result::Result<events::NewEvent, events::Error>,
) -> Result<()> {
    events::outbox::enqueue(tx, &event?).await?;
    Ok(())
}

/// The current time at the database's precision (microseconds).
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(name = "commissions.postgres.create_plan", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_plan", tenant_id = %viewer.tenant_id))]
    async fn create_plan(&self, viewer: Viewer, name: String, version: NewVersion) -> Result<Plan> {
        let mut tx = self.tx(viewer).await?;
        let plan = plans::create(&mut tx, viewer, name, version).await?;
        tx.commit().await?;
        Ok(plan)
    }

    #[tracing::instrument(name = "commissions.postgres.create_plan_version", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_plan_version", tenant_id = %viewer.tenant_id))]
    async fn create_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version: NewVersion,
    ) -> Result<Option<PlanVersion>> {
        let mut tx = self.tx(viewer).await?;
        let created = plans::add_version(&mut tx, viewer, plan_id, version).await?;
        tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(name = "commissions.postgres.end_plan_version", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "end_plan_version", tenant_id = %viewer.tenant_id))]
    async fn end_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version_id: Uuid,
        end: NaiveDate,
    ) -> Result<Option<PlanVersion>> {
        let mut tx = self.tx(viewer).await?;
        let ended = plans::end_version(&mut tx, viewer, plan_id, version_id, end).await?;
        tx.commit().await?;
        Ok(ended)
    }

    #[tracing::instrument(name = "commissions.postgres.get_plan", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_plan", tenant_id = %viewer.tenant_id))]
    async fn plan(&self, viewer: Viewer, id: Uuid) -> Result<Option<Plan>> {
        let mut tx = self.tx(viewer).await?;
        let plan = plans::get(&mut tx, id).await?;
        let visible = match plan {
            Some(plan) => plans::visible(&mut tx, viewer, vec![plan]).await?.pop(),
            None => None,
        };
        tx.commit().await?;
        Ok(visible)
    }

    #[tracing::instrument(name = "commissions.postgres.list_plans", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_plans", tenant_id = %viewer.tenant_id))]
    async fn list_plans(&self, viewer: Viewer) -> Result<Vec<Plan>> {
        let mut tx = self.tx(viewer).await?;
        let all = plans::list(&mut tx).await?;
        let visible = plans::visible(&mut tx, viewer, all).await?;
        tx.commit().await?;
        Ok(visible)
    }

    #[tracing::instrument(name = "commissions.postgres.set_quota", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_quota", tenant_id = %viewer.tenant_id))]
    async fn set_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota> {
        let mut tx = self.tx(viewer).await?;
        quotas::set(&mut tx, viewer, quotas::Holder::User, &quota).await?;
        tx.commit().await?;
        Ok(quota)
    }

    #[tracing::instrument(name = "commissions.postgres.recalculate_period", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "recalculate_period", tenant_id = %viewer.tenant_id))]
    async fn recalculate(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Recalculation> {
        let mut tx = self.tx(viewer).await?;
        let recalculation = ledger::recalculate(&mut tx, participant, period).await?;
        audit(
            &mut tx,
            viewer.tenant_id,
            Some(viewer.user_id),
            "period.recalculated",
            Some(participant),
            &format!(
                "{} {}: stored {} recalculated {} matches {}",
                period.kind.as_str(),
                period.start,
                recalculation.stored_total,
                recalculation.recalculated_total,
                recalculation.matches
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(recalculation)
    }

    #[tracing::instrument(name = "commissions.postgres.get_statement", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_statement", tenant_id = %viewer.tenant_id))]
    async fn statement(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Statement> {
        let mut tx = self.tx(viewer).await?;
        check_visible(&mut tx, viewer, participant).await?;
        let statement = lines::statement(&mut tx, participant, period).await?;
        tx.commit().await?;
        Ok(statement)
    }

    #[tracing::instrument(name = "commissions.postgres.set_statement_status", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_statement_status", tenant_id = %viewer.tenant_id))]
    async fn set_statement_status(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
        status: Status,
    ) -> Result<Statement> {
        if participant == viewer.user_id {
            return Err(Error::FailedPrecondition(
                "you cannot approve or pay your own statement".to_owned(),
            ));
        }
        let mut tx = self.tx(viewer).await?;
        lines::set_status(&mut tx, viewer, participant, period, status).await?;
        let statement = lines::statement(&mut tx, participant, period).await?;
        tx.commit().await?;
        Ok(statement)
    }

    #[tracing::instrument(name = "commissions.postgres.export_statement", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "export_statement", tenant_id = %viewer.tenant_id))]
    async fn statement_document(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<(Statement, Option<String>)> {
        let mut tx = self.tx(viewer).await?;
        check_visible(&mut tx, viewer, participant).await?;
        let statement = lines::statement(&mut tx, participant, period).await?;
        let tenant = users::tenant_name(&mut tx).await?;
        tx.commit().await?;
        Ok((statement, tenant))
    }

    #[tracing::instrument(name = "commissions.postgres.get_attainment", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_attainment", tenant_id = %viewer.tenant_id))]
    async fn attainment(
        &self,
        viewer: Viewer,
        participant: Uuid,
        window: Window,
    ) -> Result<Measured> {
        let mut tx = self.tx(viewer).await?;
        check_visible(&mut tx, viewer, participant).await?;
        let measured = measure(&mut tx, participant, window).await?;
        tx.commit().await?;
        Ok(measured)
    }

    #[tracing::instrument(name = "commissions.postgres.set_team_quota", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_team_quota", tenant_id = %viewer.tenant_id))]
    async fn set_team_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota> {
        let mut tx = self.tx(viewer).await?;
        quotas::set(&mut tx, viewer, quotas::Holder::Team, &quota).await?;
        tx.commit().await?;
        Ok(quota)
    }

    #[tracing::instrument(name = "commissions.postgres.get_team_attainment", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_team_attainment", tenant_id = %viewer.tenant_id))]
    async fn team_attainment(
        &self,
        viewer: Viewer,
        manager: Uuid,
        window: Window,
    ) -> Result<TeamFigures> {
        let mut tx = self.tx(viewer).await?;
        check_visible(&mut tx, viewer, manager).await?;
        if users::is_active(&mut tx, manager).await?.is_none() {
            return Err(Error::NotFound("manager"));
        }
        let mut reports = users::reports(&mut tx, manager).await?;
        reports.sort();
        let mut members = Vec::with_capacity(reports.len());
        for report in reports {
            members.push(measure(&mut tx, report, window).await?);
        }
        let over = quotas::for_window(&mut tx, quotas::Holder::Team, manager, window).await?;
        tx.commit().await?;
        Ok(TeamFigures::of(manager, members, over))
    }

    #[tracing::instrument(name = "commissions.postgres.fiscal_year_start_month", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "fiscal_year_start_month", tenant_id = %viewer.tenant_id))]
    async fn fiscal_year_start_month(&self, viewer: Viewer) -> Result<u32> {
        let mut tx = self.tx(viewer).await?;
        let month = users::fiscal_year_start_month(&mut tx).await?;
        tx.commit().await?;
        Ok(month)
    }

    #[tracing::instrument(name = "commissions.postgres.create_adjustment", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_adjustment", tenant_id = %viewer.tenant_id))]
    async fn create_adjustment(
        &self,
        viewer: Viewer,
        adjustment: Adjustment,
    ) -> Result<Adjustment> {
        // Adjusting your own pay is refused outright, approved or not.
        if adjustment.participant_id == viewer.user_id {
            return Err(Error::FailedPrecondition(
                "you cannot adjust your own statement".to_owned(),
            ));
        }
        let mut tx = self.tx(viewer).await?;
        adjustments::create(&mut tx, viewer, &adjustment).await?;
        tx.commit().await?;
        Ok(adjustment)
    }

    #[tracing::instrument(name = "commissions.postgres.approve_adjustment", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "approve_adjustment", tenant_id = %viewer.tenant_id))]
    async fn approve_adjustment(&self, viewer: Viewer, id: Uuid) -> Result<Option<Adjustment>> {
        let mut tx = self.tx(viewer).await?;
        let approved = adjustments::approve(&mut tx, viewer, id).await?;
        tx.commit().await?;
        Ok(approved)
    }

    #[tracing::instrument(name = "commissions.postgres.raise_dispute", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "raise_dispute", tenant_id = %viewer.tenant_id))]
    async fn raise_dispute(
        &self,
        viewer: Viewer,
        line_id: Uuid,
        comment: String,
    ) -> Result<Option<Dispute>> {
        let mut tx = self.tx(viewer).await?;
        let raised = adjustments::raise_dispute(&mut tx, viewer, line_id, comment).await?;
        tx.commit().await?;
        Ok(raised)
    }

    #[tracing::instrument(name = "commissions.postgres.resolve_dispute", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "resolve_dispute", tenant_id = %viewer.tenant_id))]
    async fn resolve_dispute(
        &self,
        viewer: Viewer,
        id: Uuid,
        resolution: String,
    ) -> Result<Option<Dispute>> {
        let mut tx = self.tx(viewer).await?;
        let resolved = adjustments::resolve_dispute(&mut tx, viewer, id, resolution).await?;
        tx.commit().await?;
        Ok(resolved)
    }

    #[tracing::instrument(name = "commissions.postgres.list_audit_entries", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_audit_entries", tenant_id = %viewer.tenant_id))]
    async fn audit_entries(
        &self,
        viewer: Viewer,
        subject: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let mut tx = self.tx(viewer).await?;
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, actor_id, action, subject_id, detail, occurred_at FROM audit_log
             WHERE ($1::uuid IS NULL OR subject_id = $1)
             ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    #[tracing::instrument(name = "commissions.postgres.list_statements", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_statements", tenant_id = %viewer.tenant_id))]
    async fn list_statements(
        &self,
        viewer: Viewer,
        filter: PeriodFilter,
        page: PageRequest<PeriodCursor>,
    ) -> Result<Page<Statement, PeriodCursor>> {
        let mut tx = self.tx(viewer).await?;
        let found = browse::statements(&mut tx, viewer, filter, page).await?;
        tx.commit().await?;
        Ok(found)
    }

    #[tracing::instrument(name = "commissions.postgres.list_lines_page", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_lines_page", tenant_id = %viewer.tenant_id))]
    async fn line_page(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
        page: PageRequest<i64>,
    ) -> Result<Page<StoredLine, i64>> {
        let mut tx = self.tx(viewer).await?;
        let found = browse::lines(&mut tx, viewer, participant, period, page).await?;
        tx.commit().await?;
        Ok(found)
    }

    #[tracing::instrument(name = "commissions.postgres.list_quotas", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_quotas", tenant_id = %viewer.tenant_id))]
    async fn list_quotas(
        &self,
        viewer: Viewer,
        filter: PeriodFilter,
        page: PageRequest<PeriodCursor>,
    ) -> Result<Page<Quota, PeriodCursor>> {
        let mut tx = self.tx(viewer).await?;
        let found = quota_admin::list(&mut tx, viewer, filter, page).await?;
        tx.commit().await?;
        Ok(found)
    }

    #[tracing::instrument(name = "commissions.postgres.get_quota", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "get_quota", tenant_id = %viewer.tenant_id))]
    async fn quota(&self, viewer: Viewer, user: Uuid, period: Period) -> Result<Quota> {
        let mut tx = self.tx(viewer).await?;
        let found = quota_admin::get(&mut tx, viewer, user, period).await?;
        tx.commit().await?;
        Ok(found)
    }

    #[tracing::instrument(name = "commissions.postgres.delete_quota", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_quota", tenant_id = %viewer.tenant_id))]
    async fn delete_quota(&self, viewer: Viewer, user: Uuid, period: Period) -> Result<()> {
        let mut tx = self.tx(viewer).await?;
        quota_admin::delete(&mut tx, viewer, user, period).await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(name = "commissions.postgres.upload_quotas", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "upload_quotas", tenant_id = %viewer.tenant_id, rows = rows.len()))]
    async fn upload_quotas(
        &self,
        viewer: Viewer,
        rows: Vec<UploadRow>,
        all_or_nothing: bool,
    ) -> Result<Vec<RowReport>> {
        let mut tx = self.tx(viewer).await?;
        let mut reports = quota_admin::upload(&mut tx, viewer, rows).await?;
        if settle(&mut reports, all_or_nothing) {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(reports)
    }

    #[tracing::instrument(name = "commissions.postgres.estimate", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "estimate", tenant_id = %viewer.tenant_id))]
    async fn estimate(&self, viewer: Viewer, request: EstimateRequest) -> Result<Estimate> {
        let mut tx = self.tx(viewer).await?;
        let estimate = estimates::run(&mut tx, viewer, request).await?;
        tx.commit().await?;
        Ok(estimate)
    }
}
