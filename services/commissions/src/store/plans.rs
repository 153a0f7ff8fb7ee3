//! Plans and their immutable versions. Creating a version takes a per-tenant advisory lock, so
//! two concurrent versions cannot both pass the overlap check.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Tx, audit, now, publish};
use crate::domain::Viewer;
use crate::domain::plan::{Effective, NewVersion, Plan, PlanVersion, Rules};
use crate::error::{Error, Result};

pub async fn create(
    tx: &mut Tx,
    viewer: Viewer,
    name: String,
    version: NewVersion,
) -> Result<Plan> {
    let id = Uuid::now_v7();
    let created_at = now();
    let inserted = sqlx::query(
        "INSERT INTO plans (id, tenant_id, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(viewer.tenant_id)
    .bind(&name)
    .bind(viewer.user_id)
    .bind(created_at)
    .execute(&mut **tx)
    .await;
    if let Err(error) = inserted {
        if db::unique_violation(&error).is_some() {
            return Err(Error::AlreadyExists {
                field: "name",
                message: "a plan with this name already exists".to_owned(),
            });
        }
        return Err(error.into());
    }
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "plan.created",
        Some(id),
        &name,
    )
    .await?;
    let first = insert_version(tx, viewer, id, version)
        .await
        .map_err(|e| e.prefixed("version."))?;
    Ok(Plan {
        id,
        name,
        versions: vec![first],
        created_at,
    })
}

/// `None` when the plan does not exist.
pub async fn add_version(
    tx: &mut Tx,
    viewer: Viewer,
    plan_id: Uuid,
    version: NewVersion,
) -> Result<Option<PlanVersion>> {
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM plans WHERE id = $1 FOR UPDATE")
        .bind(plan_id)
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let created = insert_version(tx, viewer, plan_id, version)
        .await
        .map_err(|e| e.prefixed("version."))?;
    Ok(Some(created))
}

/// id, effective from and to, participant ids and roles of another version.
type OverlapRow = (Uuid, NaiveDate, Option<NaiveDate>, Vec<Uuid>, Vec<String>);

async fn insert_version(
    tx: &mut Tx,
    viewer: Viewer,
    plan_id: Uuid,
    version: NewVersion,
) -> Result<PlanVersion> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('commissions.plan_versions:' || $1::text, 0))")
        .bind(viewer.tenant_id)
        .execute(&mut **tx)
        .await?;
    let overlapping: Vec<OverlapRow> = sqlx::query_as(
        "SELECT id, effective_from, effective_to, participant_ids, participant_roles
             FROM plan_versions WHERE participant_ids && $1 OR participant_roles && $2",
    )
    .bind(&version.participants)
    .bind(&version.roles)
    .fetch_all(&mut **tx)
    .await?;
    for (other_id, from, to, participants, roles) in overlapping {
        let other = Effective { from, to };
        if !other.overlaps(&version.effective) {
            continue;
        }
        if let Some(who) = version
            .participants
            .iter()
            .find(|p| participants.contains(p))
        {
            return Err(Error::invalid(
                "participant_ids",
                format!(
                    "participant {who} already has plan version {other_id} on overlapping days"
                ),
            ));
        }
        if let Some(role) = version.roles.iter().find(|r| roles.contains(r)) {
            return Err(Error::invalid(
                "participant_roles",
                format!("role {role} already has plan version {other_id} on overlapping days"),
            ));
        }
    }
    let unknown: Vec<Uuid> = sqlx::query_scalar(
        "SELECT p FROM unnest($1::uuid[]) AS p
         WHERE NOT EXISTS (SELECT 1 FROM commission_users u WHERE u.user_id = p)",
    )
    .bind(&version.participants)
    .fetch_all(&mut **tx)
    .await?;
    if let Some(first) = unknown.first() {
        return Err(Error::invalid(
            "participant_ids",
            format!("no such user in this tenant: {first}"),
        ));
    }
    let number: i32 = sqlx::query_scalar(
        "SELECT COALESCE(max(version), 0) + 1 FROM plan_versions WHERE plan_id = $1",
    )
    .bind(plan_id)
    .fetch_one(&mut **tx)
    .await?;
    let created = PlanVersion {
        id: Uuid::now_v7(),
        plan_id,
        version: number,
        effective: version.effective,
        participants: version.participants,
        roles: version.roles,
        rules: version.rules,
        created_by: viewer.user_id,
        created_at: now(),
    };
    sqlx::query(
        "INSERT INTO plan_versions (id, tenant_id, plan_id, version, effective_from, effective_to,
             participant_ids, currency, period_kind, rules, created_by, created_at, participant_roles)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(created.id)
    .bind(viewer.tenant_id)
    .bind(plan_id)
    .bind(created.version)
    .bind(created.effective.from)
    .bind(created.effective.to)
    .bind(&created.participants)
    .bind(&created.rules.currency)
    .bind(created.rules.period.as_str())
    .bind(Json(&created.rules))
    .bind(created.created_by)
    .bind(created.created_at)
    .bind(&created.roles)
    .execute(&mut **tx)
    .await?;
    publish(
        tx,
        crate::events::publish::plan_version_created(viewer.tenant_id, viewer.user_id, &created),
    )
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "plan_version.created",
        Some(created.id),
        &format!("plan {plan_id} version {number}"),
    )
    .await?;
    Ok(created)
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: Uuid,
    plan_id: Uuid,
    version: i32,
    effective_from: NaiveDate,
    effective_to: Option<NaiveDate>,
    participant_ids: Vec<Uuid>,
    participant_roles: Vec<String>,
    rules: Json<Rules>,
    created_by: Uuid,
    created_at: DateTime<Utc>,
}

impl From<VersionRow> for PlanVersion {
    fn from(row: VersionRow) -> Self {
        PlanVersion {
            id: row.id,
            plan_id: row.plan_id,
            version: row.version,
            effective: Effective {
                from: row.effective_from,
                to: row.effective_to,
            },
            participants: row.participant_ids,
            roles: row.participant_roles,
            rules: row.rules.0,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

const VERSION_COLUMNS: &str = "id, plan_id, version, effective_from, effective_to, participant_ids, participant_roles, rules, created_by, created_at";

pub async fn get(tx: &mut Tx, id: Uuid) -> Result<Option<Plan>> {
    Ok(plans(tx, Some(id)).await?.pop())
}

pub async fn list(tx: &mut Tx) -> Result<Vec<Plan>> {
    plans(tx, None).await
}

async fn plans(tx: &mut Tx, only: Option<Uuid>) -> Result<Vec<Plan>> {
    let heads: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, name, created_at FROM plans WHERE ($1::uuid IS NULL OR id = $1) ORDER BY created_at, id",
    )
    .bind(only)
    .fetch_all(&mut **tx)
    .await?;
    let versions: Vec<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLUMNS} FROM plan_versions WHERE ($1::uuid IS NULL OR plan_id = $1)
         ORDER BY plan_id, version"
    )))
    .bind(only)
    .fetch_all(&mut **tx)
    .await?;
    let mut versions: Vec<PlanVersion> = versions.into_iter().map(PlanVersion::from).collect();
    Ok(heads
        .into_iter()
        .map(|(id, name, created_at)| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut versions)
                .into_iter()
                .partition(|v| v.plan_id == id);
            versions = rest;
            Plan {
                id,
                name,
                versions: mine,
                created_at,
            }
        })
        .collect())
}

/// Admins see every plan; others the plans with a version for them (managers: or their team),
/// by name or by the role they hold.
pub async fn visible(tx: &mut Tx, viewer: Viewer, plans: Vec<Plan>) -> Result<Vec<Plan>> {
    if viewer.is_admin() {
        return Ok(plans);
    }
    let reports = if viewer.needs_team() {
        super::users::reports(tx, viewer.user_id).await?
    } else {
        Vec::new()
    };
    let people: Vec<Uuid> = reports.iter().copied().chain([viewer.user_id]).collect();
    let roles: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT role FROM commission_users WHERE user_id = ANY($1)")
            .bind(&people)
            .fetch_all(&mut **tx)
            .await?;
    Ok(plans
        .into_iter()
        .filter(|plan| {
            plan.versions.iter().any(|v| {
                v.participants.iter().any(|p| viewer.may_read(*p, &reports))
                    || v.roles.iter().any(|r| roles.contains(r))
            })
        })
        .collect())
}

/// The version in force for `participant` on `day`: one naming them, else one for the role
/// they hold now (roles are resolved at calculation time).
pub async fn in_force(
    tx: &mut Tx,
    participant: Uuid,
    day: NaiveDate,
) -> Result<Option<PlanVersion>> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLUMNS} FROM plan_versions
         WHERE ($1 = ANY(participant_ids)
                OR participant_roles && ARRAY(SELECT role FROM commission_users WHERE user_id = $1))
           AND effective_from <= $2
           AND (effective_to IS NULL OR effective_to > $2)
         ORDER BY $1 = ANY(participant_ids) DESC, created_at DESC LIMIT 1"
    )))
    .bind(participant)
    .bind(day)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(PlanVersion::from))
}

/// Sets the end of an open-ended version of `plan_id`; `None` when there is no such version.
pub async fn end_version(
    tx: &mut Tx,
    viewer: Viewer,
    plan_id: Uuid,
    version_id: Uuid,
    end: NaiveDate,
) -> Result<Option<PlanVersion>> {
    // The same lock as new versions: no version is added or ended concurrently.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('commissions.plan_versions:' || $1::text, 0))")
        .bind(viewer.tenant_id)
        .execute(&mut **tx)
        .await?;
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLUMNS} FROM plan_versions WHERE id = $1 AND plan_id = $2 FOR UPDATE"
    )))
    .bind(version_id)
    .bind(plan_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(mut version) = row.map(PlanVersion::from) else {
        return Ok(None);
    };
    if let Some(to) = version.effective.to {
        return Err(Error::FailedPrecondition(format!(
            "plan version {} already ends on {to}",
            version.version
        )));
    }
    if end <= version.effective.from {
        return Err(Error::invalid(
            "effective_to",
            format!(
                "must be after the version's first day {}",
                version.effective.from
            ),
        ));
    }
    // Deals credited under the version on or after the new end would lose their plan; a step
    // without a close date counts as closing on the last day of its credit period.
    let (uncovered, latest): (i64, Option<NaiveDate>) = sqlx::query_as(
        "SELECT count(*), max(closed) FROM (
             SELECT COALESCE(close_date, (period_start + CASE period_kind
                 WHEN 'month' THEN interval '1 month'
                 WHEN 'quarter' THEN interval '3 months'
                 ELSE interval '12 months' END - interval '1 day')::date) AS closed
             FROM deal_steps WHERE plan_version_id = $1 AND step = 'won'
         ) steps WHERE closed >= $2",
    )
    .bind(version_id)
    .bind(end)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(latest) = latest.filter(|_| uncovered > 0) {
        return Err(Error::invalid(
            "effective_to",
            format!(
                "{uncovered} deal(s) calculated under this version closed on or after it, the last on {latest}"
            ),
        ));
    }
    sqlx::query("UPDATE plan_versions SET effective_to = $2 WHERE id = $1")
        .bind(version_id)
        .bind(end)
        .execute(&mut **tx)
        .await?;
    version.effective.to = Some(end);
    publish(
        tx,
        crate::events::publish::plan_version_ended(viewer.tenant_id, viewer.user_id, &version),
    )
    .await?;
    audit(
        tx,
        viewer.tenant_id,
        Some(viewer.user_id),
        "plan_version.ended",
        Some(version.id),
        &format!("plan {plan_id} version {} ends on {end}", version.version),
    )
    .await?;
    Ok(Some(version))
}

pub async fn version(tx: &mut Tx, id: Uuid) -> Result<Option<PlanVersion>> {
    let row: Option<VersionRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VERSION_COLUMNS} FROM plan_versions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(PlanVersion::from))
}
