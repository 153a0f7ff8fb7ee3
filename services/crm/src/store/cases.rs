//! Support cases, the tenant's business hours and the SLA sweeper.

use async_trait::async_trait;
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::page::{PageSql, fetch_page_scoped};
use super::{PgStore, Tx, check_owner, check_reference, custom_fields, now, publish, users};
use crate::domain::business_hours::{self, BusinessHours, parse_weekdays};
use crate::domain::case::{
    self, Action, Breach, Case, CaseData, CasePatch, Priority, Status, missed_target, sla_due,
    transition,
};
use crate::domain::custom_fields::FieldHost;
use crate::domain::visibility::{Access, Reach, RecordKind, Scope, Viewer};
use crate::error::{Error, Result};
use crate::events::support as events;
use crate::filter::{Field, Kind};
use crate::listing::{KeyKind, ListQuery, Listing, Page, SortKey};

/// Most cases one sweep marks per tenant; the rest wait for the next round.
pub const SWEEP_BATCH: i64 = 500;

/// Cases, as the API and the SLA sweeper need them.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait CaseStore: Send + Sync + 'static {
    async fn create_case(&self, viewer: Viewer, data: CaseData) -> Result<Case>;
    async fn case(&self, viewer: Viewer, id: Uuid) -> Result<Option<Case>>;
    async fn list_cases(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Case>>;
    async fn update_case(&self, viewer: Viewer, id: Uuid, patch: CasePatch)
    -> Result<Option<Case>>;
    async fn delete_case(&self, viewer: Viewer, id: Uuid) -> Result<bool>;
    /// Responds, resolves, closes or reopens; `None` when the case is not visible.
    async fn act_on_case(&self, viewer: Viewer, id: Uuid, action: Action) -> Result<Option<Case>>;
    async fn business_hours(&self, viewer: Viewer) -> Result<BusinessHours>;
    async fn set_business_hours(
        &self,
        viewer: Viewer,
        hours: BusinessHours,
    ) -> Result<BusinessHours>;
    /// Marks every case of every tenant that missed a target by `now` as breached, once, and
    /// emits `crm.case.sla_breached` for each. Returns how many were marked.
    async fn sweep_sla(&self, now: DateTime<Utc>) -> Result<u64>;
}

const PRIORITIES: &[&str] = &[
    "CASE_PRIORITY_LOW",
    "CASE_PRIORITY_NORMAL",
    "CASE_PRIORITY_HIGH",
    "CASE_PRIORITY_URGENT",
];
const STATUSES: &[&str] = &[
    "CASE_STATUS_NEW",
    "CASE_STATUS_OPEN",
    "CASE_STATUS_PENDING",
    "CASE_STATUS_RESOLVED",
    "CASE_STATUS_CLOSED",
];

pub static LISTING: Listing = Listing {
    resource: "cases",
    fields: &[
        Field {
            name: "subject",
            column: "c.subject",
            kind: Kind::Text { lowercase: false },
        },
        Field {
            name: "priority",
            column: "('CASE_PRIORITY_' || upper(c.priority))",
            kind: Kind::Enum(PRIORITIES),
        },
        Field {
            name: "status",
            column: "('CASE_STATUS_' || upper(c.status))",
            kind: Kind::Enum(STATUSES),
        },
        Field {
            name: "account_id",
            column: "c.account_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "contact_id",
            column: "c.contact_id",
            kind: Kind::Uuid { nullable: true },
        },
        Field {
            name: "owner_id",
            column: "c.owner_id",
            kind: Kind::Uuid { nullable: false },
        },
        Field {
            name: "sla_breached",
            column: "(c.sla_breached)::text",
            kind: Kind::Enum(&["true", "false"]),
        },
        Field {
            name: "first_response_due_time",
            column: "c.first_response_due",
            kind: Kind::Timestamp,
        },
        Field {
            name: "resolution_due_time",
            column: "c.resolution_due",
            kind: Kind::Timestamp,
        },
        Field {
            name: "create_time",
            column: "c.created_at",
            kind: Kind::Timestamp,
        },
        Field {
            name: "update_time",
            column: "c.updated_at",
            kind: Kind::Timestamp,
        },
    ],
    sort_keys: &[
        SortKey {
            name: "create_time",
            expr: "c.created_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "update_time",
            expr: "c.updated_at",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "resolution_due_time",
            expr: "c.resolution_due",
            kind: KeyKind::Timestamp,
        },
        SortKey {
            name: "subject",
            expr: "c.subject",
            kind: KeyKind::Text,
        },
    ],
};

const COLUMNS: &str = "c.id, c.subject, c.description, c.priority, c.status, c.account_id, \
    c.contact_id, c.owner_id, c.first_response_due, c.resolution_due, c.first_response_at, \
    c.resolved_at, c.closed_at, c.sla_breached_at, c.created_at, c.updated_at, \
    c.custom_fields::text AS custom_fields";

/// The jsonb column `custom.<key>` filters read.
const CUSTOM_COLUMN: &str = "c.custom_fields";

/// Cases join their account: a sales rep reaches the cases of the accounts they own.
const FROM: &str =
    "FROM cases c LEFT JOIN accounts acc ON acc.tenant_id = c.tenant_id AND acc.id = c.account_id";

const PAGE: PageSql = PageSql {
    columns: COLUMNS,
    from: FROM,
    base: "c.deleted_at IS NULL",
    owner_column: "c.owner_id",
    id_column: "c.id",
};

fn from_row(row: &PgRow) -> Result<Case> {
    let priority: String = row.try_get("priority")?;
    let status: String = row.try_get("status")?;
    Ok(Case {
        id: row.try_get("id")?,
        data: CaseData {
            subject: row.try_get("subject")?,
            description: row.try_get("description")?,
            priority: Priority::parse(&priority)
                .ok_or_else(|| Error::Internal(format!("stored priority {priority:?}")))?,
            account_id: row.try_get("account_id")?,
            contact_id: row.try_get("contact_id")?,
            owner_id: row.try_get("owner_id")?,
            custom_fields: custom_fields::from_json(row)?,
        },
        status: Status::parse(&status)
            .ok_or_else(|| Error::Internal(format!("stored status {status:?}")))?,
        first_response_due: row.try_get("first_response_due")?,
        resolution_due: row.try_get("resolution_due")?,
        first_response_at: row.try_get("first_response_at")?,
        resolved_at: row.try_get("resolved_at")?,
        closed_at: row.try_get("closed_at")?,
        sla_breached_at: row.try_get("sla_breached_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The owners whose cases (or whose accounts' cases) `viewer` reaches.
pub(crate) async fn case_scope(tx: &mut Tx, viewer: Viewer, access: Access) -> Result<Scope> {
    let reach = case::reach(viewer.role, access);
    if reach == Reach::Team {
        let reports = users::reports(tx, viewer.user_id).await?;
        return Ok(Scope::resolve(reach, viewer.user_id, || reports));
    }
    Ok(Scope::resolve(reach, viewer.user_id, Vec::new))
}

fn push_case_scope(qb: &mut QueryBuilder<Postgres>, scope: &Scope) {
    if let Scope::Owners { owners, .. } = scope {
        qb.push(" AND (c.owner_id = ANY(");
        qb.push_bind(owners.clone());
        qb.push(") OR acc.owner_id = ANY(");
        qb.push_bind(owners.clone());
        qb.push("))");
    }
}

/// A live case the viewer reaches for `access` (locked for update when writing).
pub(crate) async fn visible(
    tx: &mut Tx,
    viewer: Viewer,
    id: Uuid,
    access: Access,
) -> Result<Option<Case>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, acc.owner_id AS account_owner_id {FROM}
         WHERE c.id = $1 AND c.deleted_at IS NULL{}",
        if access == Access::Write {
            " FOR UPDATE OF c"
        } else {
            ""
        }
    )))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let case = from_row(&row)?;
    let account_owner: Option<Uuid> = row.try_get("account_owner_id")?;
    let scope = case_scope(tx, viewer, access).await?;
    let reached =
        scope.allows(case.data.owner_id) || account_owner.is_some_and(|o| scope.allows(o));
    Ok(reached.then_some(case))
}

/// The tenant's business hours, or the default when none were set.
async fn load_business_hours(tx: &mut Tx) -> Result<BusinessHours> {
    let row = sqlx::query("SELECT time_zone, weekdays, opens_at, closes_at FROM business_hours")
        .fetch_optional(&mut *tx)
        .await?;
    let Some(row) = row else {
        return Ok(BusinessHours::default());
    };
    let zone: String = row.try_get("time_zone")?;
    let days: Vec<i16> = row.try_get("weekdays")?;
    let opens_at: NaiveTime = row.try_get("opens_at")?;
    let closes_at: NaiveTime = row.try_get("closes_at")?;
    let stored = |e: business_hours::BusinessHoursError| {
        Error::Internal(format!("stored business hours are invalid: {e}"))
    };
    let days: Vec<i32> = days.into_iter().map(i32::from).collect();
    BusinessHours::new(
        business_hours::parse_time_zone(&zone).map_err(stored)?,
        parse_weekdays(&days).map_err(stored)?,
        opens_at,
        closes_at,
    )
    .map_err(stored)
}

async fn check_references(
    tx: &mut Tx,
    viewer: Viewer,
    data: &CaseData,
    before: Option<&CaseData>,
) -> Result<()> {
    if let Some(account) = data.account_id
        && before.is_none_or(|b| b.account_id != data.account_id)
    {
        check_reference(tx, viewer, RecordKind::Account, account, "account_id").await?;
    }
    if let Some(contact) = data.contact_id
        && before.is_none_or(|b| b.contact_id != data.contact_id)
    {
        check_reference(tx, viewer, RecordKind::Contact, contact, "contact_id").await?;
    }
    Ok(())
}

/// Writes every field of `case` back.
async fn save(tx: &mut Tx, case: &Case) -> Result<()> {
    let d = &case.data;
    sqlx::query(
        "UPDATE cases SET subject = $2, description = $3, priority = $4, status = $5,
             account_id = $6, contact_id = $7, owner_id = $8, first_response_due = $9,
             resolution_due = $10, first_response_at = $11, resolved_at = $12, closed_at = $13,
             sla_breached = $14, updated_at = $15, sla_breached_at = $16,
             custom_fields = $17::jsonb
         WHERE id = $1",
    )
    .bind(case.id)
    .bind(&d.subject)
    .bind(&d.description)
    .bind(d.priority.as_str())
    .bind(case.status.as_str())
    .bind(d.account_id)
    .bind(d.contact_id)
    .bind(d.owner_id)
    .bind(case.first_response_due)
    .bind(case.resolution_due)
    .bind(case.first_response_at)
    .bind(case.resolved_at)
    .bind(case.closed_at)
    .bind(case.sla_breached_at.is_some())
    .bind(case.updated_at)
    .bind(case.sla_breached_at)
    .bind(custom_fields::to_json(&d.custom_fields)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks `case` breached at `now` when it missed a target and was not marked before; returns
/// the event to publish.
fn breach_if_missed(
    tenant_id: Uuid,
    case: &mut Case,
    now: DateTime<Utc>,
) -> Result<Option<::events::NewEvent>> {
    if case.sla_breached_at.is_some() {
        return Ok(None);
    }
    let Some(breach) = missed_target(case, now) else {
        return Ok(None);
    };
    case.sla_breached_at = Some(now);
    let due = match breach {
        Breach::FirstResponse => case.first_response_due,
        Breach::Resolution => case.resolution_due,
    };
    Ok(Some(events::case_sla_breached(
        tenant_id,
        case.clone(),
        breach,
        due,
    )?))
}

/// Moves the tenant's business hours to the tenant's time zone (from the tenants service's
/// settings), creating the default hours there when none were set. An unknown zone is ignored:
/// the tenants service validates it, and a bad event must not stop the consumer.
pub(crate) async fn follow_tenant_time_zone(
    tx: &mut Tx,
    tenant_id: Uuid,
    zone: &str,
) -> Result<()> {
    let Ok(zone) = business_hours::parse_time_zone(zone) else {
        tracing::warn!(zone, "ignoring unknown tenant time zone");
        return Ok(());
    };
    let defaults = BusinessHours::default();
    let days: Vec<i16> = defaults
        .weekdays()
        .into_iter()
        .filter_map(|d| i16::try_from(d).ok())
        .collect();
    sqlx::query(
        "INSERT INTO business_hours (tenant_id, time_zone, weekdays, opens_at, closes_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (tenant_id) DO UPDATE SET time_zone = EXCLUDED.time_zone,
             updated_at = EXCLUDED.updated_at",
    )
    .bind(tenant_id)
    .bind(zone.name())
    .bind(days)
    .bind(defaults.opens_at())
    .bind(defaults.closes_at())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl PgStore {
    /// Marks the overdue cases of one tenant, skipping rows another replica holds.
    async fn sweep_tenant(&self, tenant_id: Uuid, at: DateTime<Utc>) -> Result<u64> {
        let mut tx = db::begin_for_tenant(self.pool(), tenant_id).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cases c
             WHERE c.deleted_at IS NULL AND NOT c.sla_breached
               AND c.status NOT IN ('resolved', 'closed')
               AND ((c.first_response_at IS NULL AND c.first_response_due < $1)
                    OR c.resolution_due < $1)
             ORDER BY c.id
             LIMIT $2
             FOR UPDATE SKIP LOCKED"
        )))
        .bind(at)
        .bind(SWEEP_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let mut marked = 0;
        for row in &rows {
            let mut case = from_row(row)?;
            let Some(event) = breach_if_missed(tenant_id, &mut case, at)? else {
                continue;
            };
            sqlx::query("UPDATE cases SET sla_breached = true, sla_breached_at = $2 WHERE id = $1")
                .bind(case.id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            publish(&mut tx, &[event]).await?;
            marked += 1;
        }
        tx.commit().await?;
        Ok(marked)
    }
}

#[async_trait]
impl CaseStore for PgStore {
    #[tracing::instrument(name = "crm.postgres.create_case", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_case", tenant_id = %viewer.tenant_id))]
    async fn create_case(&self, viewer: Viewer, data: CaseData) -> Result<Case> {
        let (mut tx, config) = self.open(viewer).await?;
        let write = case_scope(&mut tx, viewer, Access::Write).await?;
        check_owner(&mut tx, viewer, &write, data.owner_id).await?;
        check_references(&mut tx, viewer, &data, None).await?;
        let data = CaseData {
            custom_fields: custom_fields::checked_new(
                &mut tx,
                &config,
                FieldHost::Case,
                &data.custom_fields,
            )
            .await?,
            ..data
        };
        let hours = load_business_hours(&mut tx).await?;
        let at = now();
        let (first_response_due, resolution_due) = sla_due(&hours, data.priority, at);
        let case = Case {
            id: Uuid::now_v7(),
            data,
            status: Status::New,
            first_response_due,
            resolution_due,
            first_response_at: None,
            resolved_at: None,
            closed_at: None,
            sla_breached_at: None,
            created_at: at,
            updated_at: at,
        };
        let d = &case.data;
        sqlx::query(
            "INSERT INTO cases (id, tenant_id, subject, description, priority, status, account_id,
                 contact_id, owner_id, first_response_due, resolution_due, created_at, updated_at,
                 custom_fields)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13::jsonb)",
        )
        .bind(case.id)
        .bind(viewer.tenant_id)
        .bind(&d.subject)
        .bind(&d.description)
        .bind(d.priority.as_str())
        .bind(case.status.as_str())
        .bind(d.account_id)
        .bind(d.contact_id)
        .bind(d.owner_id)
        .bind(case.first_response_due)
        .bind(case.resolution_due)
        .bind(at)
        .bind(custom_fields::to_json(&d.custom_fields)?)
        .execute(&mut *tx)
        .await?;
        publish(
            &mut tx,
            &[
                events::case_changed(viewer, "crm.case.created", case.clone(), &[])?,
                events::case_changed(viewer, "crm.case.opened", case.clone(), &[])?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(case)
    }

    async fn case(&self, viewer: Viewer, id: Uuid) -> Result<Option<Case>> {
        let mut tx = self.tx(viewer).await?;
        let case = visible(&mut tx, viewer, id, Access::Read).await?;
        tx.commit().await?;
        Ok(case)
    }

    #[tracing::instrument(name = "crm.postgres.list_cases", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_cases", tenant_id = %viewer.tenant_id))]
    async fn list_cases(&self, viewer: Viewer, query: ListQuery) -> Result<Page<Case>> {
        let mut tx = self.tx(viewer).await?;
        let query =
            custom_fields::resolve_filter(&mut tx, FieldHost::Case, CUSTOM_COLUMN, query).await?;
        let read = case_scope(&mut tx, viewer, Access::Read).await?;
        let push = |qb: &mut QueryBuilder<Postgres>| push_case_scope(qb, &read);
        let page = fetch_page_scoped(&mut tx, &PAGE, push, &query, from_row, |c| c.id).await?;
        tx.commit().await?;
        Ok(page)
    }

    #[tracing::instrument(name = "crm.postgres.update_case", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_case", tenant_id = %viewer.tenant_id))]
    async fn update_case(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: CasePatch,
    ) -> Result<Option<Case>> {
        let (mut tx, config) = self.open(viewer).await?;
        if patch.custom_fields.is_some() {
            // Before the record's row lock (see `custom_fields::hold_definitions`).
            custom_fields::hold_definitions(&mut tx, &config, FieldHost::Case).await?;
        }
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let mut data = before.data.apply(&patch);
        if patch.custom_fields.is_some() {
            data.custom_fields =
                custom_fields::checked(&mut tx, &config, FieldHost::Case, &data.custom_fields)
                    .await?;
        }
        let mut changed = before.data.changed_fields(&data);
        let status = patch.status.unwrap_or(before.status);
        if status != before.status {
            if before.status.is_done() {
                return Err(Error::FailedPrecondition(format!(
                    "the case is {}; reopen it first",
                    before.status.as_str()
                )));
            }
            changed.push("status");
        }
        if changed.is_empty() {
            return Ok(Some(before));
        }
        if data.owner_id != before.data.owner_id {
            let write = case_scope(&mut tx, viewer, Access::Write).await?;
            check_owner(&mut tx, viewer, &write, data.owner_id).await?;
        }
        check_references(&mut tx, viewer, &data, Some(&before.data)).await?;
        let (first_response_due, resolution_due) = if data.priority != before.data.priority {
            let hours = load_business_hours(&mut tx).await?;
            changed.extend(["first_response_due_time", "resolution_due_time"]);
            sla_due(&hours, data.priority, before.created_at)
        } else {
            (before.first_response_due, before.resolution_due)
        };
        let updated = Case {
            data,
            status,
            first_response_due,
            resolution_due,
            updated_at: now(),
            ..before
        };
        save(&mut tx, &updated).await?;
        publish(
            &mut tx,
            &[events::case_changed(
                viewer,
                "crm.case.updated",
                updated.clone(),
                &changed,
            )?],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    #[tracing::instrument(name = "crm.postgres.delete_case", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_case", tenant_id = %viewer.tenant_id))]
    async fn delete_case(&self, viewer: Viewer, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(viewer).await?;
        let Some(case) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE cases SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        publish(
            &mut tx,
            &[events::case_changed(viewer, "crm.case.deleted", case, &[])?],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(name = "crm.postgres.act_on_case", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "act_on_case", tenant_id = %viewer.tenant_id, action = action.name()))]
    async fn act_on_case(&self, viewer: Viewer, id: Uuid, action: Action) -> Result<Option<Case>> {
        let mut tx = self.tx(viewer).await?;
        let Some(before) = visible(&mut tx, viewer, id, Access::Write).await? else {
            return Ok(None);
        };
        let at = now();
        let next = transition(&before, action, at)
            .map_err(|e| Error::FailedPrecondition(e.to_string()))?;
        let mut changed = Vec::new();
        if next.status != before.status {
            changed.push("status");
        }
        if next.first_response_at != before.first_response_at {
            changed.push("first_response_time");
        }
        if next.resolved_at != before.resolved_at {
            changed.push("resolve_time");
        }
        if next.closed_at != before.closed_at {
            changed.push("close_time");
        }
        // A second response changes nothing.
        if changed.is_empty() {
            return Ok(Some(before));
        }
        let mut updated = Case {
            status: next.status,
            first_response_at: next.first_response_at,
            resolved_at: next.resolved_at,
            closed_at: next.closed_at,
            updated_at: at,
            ..before
        };
        let breached = breach_if_missed(viewer.tenant_id, &mut updated, at)?;
        if breached.is_some() {
            changed.push("sla_breached");
        }
        save(&mut tx, &updated).await?;
        let mut out = vec![events::case_changed(
            viewer,
            "crm.case.updated",
            updated.clone(),
            &changed,
        )?];
        match action {
            Action::Close => out.push(events::case_changed(
                viewer,
                "crm.case.closed",
                updated.clone(),
                &[],
            )?),
            Action::Reopen => out.push(events::case_changed(
                viewer,
                "crm.case.opened",
                updated.clone(),
                &[],
            )?),
            Action::Respond | Action::Resolve => {}
        }
        out.extend(breached);
        publish(&mut tx, &out).await?;
        tx.commit().await?;
        Ok(Some(updated))
    }

    async fn business_hours(&self, viewer: Viewer) -> Result<BusinessHours> {
        let mut tx = self.tx(viewer).await?;
        let hours = load_business_hours(&mut tx).await?;
        tx.commit().await?;
        Ok(hours)
    }

    #[tracing::instrument(name = "crm.postgres.set_business_hours", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "set_business_hours", tenant_id = %viewer.tenant_id))]
    async fn set_business_hours(
        &self,
        viewer: Viewer,
        hours: BusinessHours,
    ) -> Result<BusinessHours> {
        let mut tx = self.tx(viewer).await?;
        let days: Vec<i16> = hours
            .weekdays()
            .into_iter()
            .filter_map(|d| i16::try_from(d).ok())
            .collect();
        sqlx::query(
            "INSERT INTO business_hours (tenant_id, time_zone, weekdays, opens_at, closes_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (tenant_id) DO UPDATE SET time_zone = EXCLUDED.time_zone,
                 weekdays = EXCLUDED.weekdays, opens_at = EXCLUDED.opens_at,
                 closes_at = EXCLUDED.closes_at, updated_at = EXCLUDED.updated_at",
        )
        .bind(viewer.tenant_id)
        .bind(hours.time_zone().name())
        .bind(days)
        .bind(hours.opens_at())
        .bind(hours.closes_at())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(hours)
    }

    #[tracing::instrument(name = "crm.postgres.sweep_sla", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "sweep_sla"))]
    async fn sweep_sla(&self, at: DateTime<Utc>) -> Result<u64> {
        // Row-level security hides every case outside a tenant transaction; this function
        // (SECURITY DEFINER) names only the tenants that have work.
        let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT tenants_with_overdue_cases($1)")
            .bind(at)
            .fetch_all(self.pool())
            .await?;
        let mut marked = 0;
        for tenant_id in tenants {
            marked += self.sweep_tenant(tenant_id, at).await?;
        }
        Ok(marked)
    }
}
