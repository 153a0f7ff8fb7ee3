//! Persistence of commissions: the [`Store`] trait the API depends on and its Postgres
//! implementation. Every statement runs in a transaction opened by `db::begin_for_tenant` (row-
//! level security enforces the tenant), reads are limited to the participants the viewer may
//! see (`domain::visibility`), and every change is written to the audit log in the same
//! transaction.

pub mod adjustments;
pub mod ledger;
pub mod lines;
pub mod plans;
pub mod quotas;
pub mod users;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::Viewer;
use crate::domain::adjustment::{Adjustment, Dispute};
use crate::domain::engine::Line;
use crate::domain::period::{Period, Window};
use crate::domain::plan::{NewVersion, Plan, PlanVersion};
use crate::domain::statement::{Status, Totals};
use crate::error::{Error, Result};

pub type Tx = Transaction<'static, Postgres>;

/// A quota to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub user_id: Uuid,
    pub period: Period,
    pub currency: String,
    pub amount: i64,
}

/// A line as stored, with where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLine {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub plan_version_id: Uuid,
    pub period: Period,
    pub statement_period_start: NaiveDate,
    pub currency: String,
    pub line: Line,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub participant_id: Uuid,
    pub period: Period,
    pub currency: String,
    pub status: Status,
    /// Totals of the lines (adjustments not included).
    pub totals: Totals,
    pub lines: Vec<StoredLine>,
    /// Sum of the approved adjustments.
    pub adjusted: i64,
    /// Negative balance carried from earlier statements (`domain::statement::opening_balance`).
    pub opening: i64,
    pub adjustments: Vec<Adjustment>,
}

impl Statement {
    /// Lines and approved adjustments.
    pub fn total(&self) -> i64 {
        self.totals.total + self.adjusted
    }

    /// What is owed after this statement: the opening balance plus its total.
    pub fn closing(&self) -> i64 {
        self.opening + self.total()
    }
}

/// One audit trail entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject_id: Option<Uuid>,
    pub detail: String,
    pub occurred_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recalculation {
    pub stored_total: i64,
    pub recalculated_total: i64,
    pub matches: bool,
    pub lines: Vec<Line>,
}

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
    /// Sets the end of an open-ended version (admin); `None` when there is no such version.
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
    /// Lines landing in `participant`'s statement for `period`, in order.
    async fn lines(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Vec<StoredLine>>;
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
    /// Sets a manager's team quota override (admin).
    async fn set_team_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota>;
    /// A manager's team over the window: managers and admins only.
    async fn team_attainment(
        &self,
        viewer: Viewer,
        manager: Uuid,
        window: Window,
    ) -> Result<TeamFigures>;
    /// First month (1-12) of the tenant's fiscal year.
    async fn fiscal_year_start_month(&self, viewer: Viewer) -> Result<u32>;
}

/// One participant's attainment figures over a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub participant_id: Uuid,
    /// Credited bookings, net of clawbacks.
    pub attained: i64,
    /// Currency and amount.
    pub quota: Option<(String, i64)>,
}

/// A manager's team: the team as a whole (its participant is the manager) and each report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamFigures {
    pub team: Measured,
    /// The team quota is the manager's override, not the reports' roll-up.
    pub overridden: bool,
    pub members: Vec<Measured>,
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

    /// A transaction scoped to the viewer's tenant. A deactivated user's token stops working
    /// here at once, not when it expires.
    async fn tx(&self, viewer: Viewer) -> Result<Tx> {
        let mut tx = db::begin_for_tenant(&self.pool, viewer.tenant_id).await?;
        users::refuse_deactivated(&mut tx, viewer.user_id).await?;
        Ok(tx)
    }
}

/// Refuses non-admins (plans, quotas, statements and recalculation are admin work).
pub(crate) fn require_admin(viewer: Viewer) -> Result<()> {
    if viewer.is_admin() {
        Ok(())
    } else {
        Err(Error::Auth(auth::AuthError::Forbidden("commissions.admin")))
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

/// The sum of the members' quotas; none when no member has one or they are in mixed currencies.
fn roll_up(members: &[Measured]) -> Option<(String, i64)> {
    let mut quotas = members.iter().filter_map(|m| m.quota.as_ref());
    let (currency, first) = quotas.next()?;
    let mut total = *first;
    for (other, amount) in quotas {
        if other != currency {
            return None;
        }
        total = total.checked_add(*amount)?;
    }
    Some((currency.clone(), total))
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
    async fn create_plan(&self, viewer: Viewer, name: String, version: NewVersion) -> Result<Plan> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let plan = plans::create(&mut tx, viewer, name, version).await?;
        tx.commit().await?;
        Ok(plan)
    }

    async fn create_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version: NewVersion,
    ) -> Result<Option<PlanVersion>> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let created = plans::add_version(&mut tx, viewer, plan_id, version).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn end_version(
        &self,
        viewer: Viewer,
        plan_id: Uuid,
        version_id: Uuid,
        end: NaiveDate,
    ) -> Result<Option<PlanVersion>> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let ended = plans::end_version(&mut tx, viewer, plan_id, version_id, end).await?;
        tx.commit().await?;
        Ok(ended)
    }

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

    async fn list_plans(&self, viewer: Viewer) -> Result<Vec<Plan>> {
        let mut tx = self.tx(viewer).await?;
        let all = plans::list(&mut tx).await?;
        let visible = plans::visible(&mut tx, viewer, all).await?;
        tx.commit().await?;
        Ok(visible)
    }

    async fn set_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        quotas::set(&mut tx, viewer, quotas::Holder::User, &quota).await?;
        tx.commit().await?;
        Ok(quota)
    }

    async fn lines(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Vec<StoredLine>> {
        let mut tx = self.tx(viewer).await?;
        check_visible(&mut tx, viewer, participant).await?;
        let found = lines::in_statement(&mut tx, participant, period).await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn recalculate(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
    ) -> Result<Recalculation> {
        require_admin(viewer)?;
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

    async fn set_statement_status(
        &self,
        viewer: Viewer,
        participant: Uuid,
        period: Period,
        status: Status,
    ) -> Result<Statement> {
        require_admin(viewer)?;
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

    async fn set_team_quota(&self, viewer: Viewer, quota: Quota) -> Result<Quota> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        quotas::set(&mut tx, viewer, quotas::Holder::Team, &quota).await?;
        tx.commit().await?;
        Ok(quota)
    }

    async fn team_attainment(
        &self,
        viewer: Viewer,
        manager: Uuid,
        window: Window,
    ) -> Result<TeamFigures> {
        if !(viewer.is_admin() || viewer.needs_team()) {
            return Err(Error::Auth(auth::AuthError::Forbidden(
                "commissions.team.read",
            )));
        }
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
        let overridden = over.is_some();
        let quota = over.or_else(|| roll_up(&members));
        Ok(TeamFigures {
            team: Measured {
                participant_id: manager,
                attained: members.iter().map(|m| m.attained).sum(),
                quota,
            },
            overridden,
            members,
        })
    }

    async fn fiscal_year_start_month(&self, viewer: Viewer) -> Result<u32> {
        let mut tx = self.tx(viewer).await?;
        let month = users::fiscal_year_start_month(&mut tx).await?;
        tx.commit().await?;
        Ok(month)
    }

    async fn create_adjustment(
        &self,
        viewer: Viewer,
        adjustment: Adjustment,
    ) -> Result<Adjustment> {
        require_admin(viewer)?;
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

    async fn approve_adjustment(&self, viewer: Viewer, id: Uuid) -> Result<Option<Adjustment>> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let approved = adjustments::approve(&mut tx, viewer, id).await?;
        tx.commit().await?;
        Ok(approved)
    }

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

    async fn resolve_dispute(
        &self,
        viewer: Viewer,
        id: Uuid,
        resolution: String,
    ) -> Result<Option<Dispute>> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let resolved = adjustments::resolve_dispute(&mut tx, viewer, id, resolution).await?;
        tx.commit().await?;
        Ok(resolved)
    }

    async fn audit_entries(
        &self,
        viewer: Viewer,
        subject: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        require_admin(viewer)?;
        let mut tx = self.tx(viewer).await?;
        let entries = sqlx::query_as(
            "SELECT id, actor_id, action, subject_id, detail, occurred_at FROM audit_log
             WHERE ($1::uuid IS NULL OR subject_id = $1)
             ORDER BY occurred_at DESC, id DESC LIMIT $2",
        )
        .bind(subject)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(entries)
    }
}
