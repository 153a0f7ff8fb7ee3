//! Lead assignment rules: their storage and the choice of owner for a new lead.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::tenant_config::TenantConfig;
use super::{PgStore, Tx, now, publish, users};
use crate::domain::FieldViolation;
use crate::domain::assignment::{Rule, RuleData, RulePatch, pick};
use crate::domain::lead::LeadData;
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::events::records::assignment_rule_changed;

/// The tenant's lead assignment rules (admins only).
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait AssignmentStore: Send + Sync + 'static {
    /// In the order they are tried.
    async fn list_assignment_rules(&self, viewer: Viewer) -> Result<Vec<Rule>>;
    async fn create_assignment_rule(&self, viewer: Viewer, data: RuleData) -> Result<Rule>;
    async fn update_assignment_rule(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: RulePatch,
    ) -> Result<Rule>;
    async fn delete_assignment_rule(&self, viewer: Viewer, id: Uuid) -> Result<()>;
}

const COLUMNS: &str = "id, name, position, source, country_code, min_employees, max_employees, \
    user_ids, created_at, updated_at";

fn from_row(row: &PgRow) -> Result<Rule> {
    Ok(Rule {
        id: row.try_get("id")?,
        data: RuleData {
            name: row.try_get("name")?,
            position: row.try_get("position")?,
            source: row.try_get("source")?,
            country_code: row.try_get("country_code")?,
            min_employees: row.try_get("min_employees")?,
            max_employees: row.try_get("max_employees")?,
            user_ids: row.try_get("user_ids")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(super) async fn rules(tx: &mut Tx) -> Result<Vec<Rule>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM lead_assignment_rules ORDER BY position, created_at, id"
    )))
    .fetch_all(&mut *tx)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The owner the tenant's rules give `lead`, taking the rule's next turn. The turn counter is
/// read and advanced under the rule's row lock, in the creating transaction, so concurrent
/// creates get consecutive turns and a rolled-back create gives its turn back.
pub(crate) async fn assign(
    tx: &mut Tx,
    config: &TenantConfig<'_>,
    lead: &LeadData,
) -> Result<Option<Uuid>> {
    for rule in config.rules(tx).await?.iter() {
        if !rule.data.matches(lead) {
            continue;
        }
        let activity = users::activity(tx, &rule.data.user_ids).await?;
        let active: Vec<Uuid> = rule
            .data
            .user_ids
            .iter()
            .zip(activity)
            .filter(|(_, active)| *active == Some(true))
            .map(|(id, _)| *id)
            .collect();
        if active.is_empty() {
            continue;
        }
        let turn: i64 = sqlx::query_scalar(
            "UPDATE lead_assignment_rules SET turns = turns + 1 WHERE id = $1 RETURNING turns - 1",
        )
        .bind(rule.id)
        .fetch_one(&mut *tx)
        .await?;
        return Ok(pick(&active, turn));
    }
    Ok(None)
}

/// Every named user must be an active user of the tenant.
async fn check_users(tx: &mut Tx, user_ids: &[Uuid]) -> Result<()> {
    let violations: Vec<FieldViolation> = users::activity(tx, user_ids)
        .await?
        .into_iter()
        .enumerate()
        .filter_map(|(i, active)| {
            let problem = match active {
                Some(true) => return None,
                Some(false) => "the user is deactivated",
                None => "no such user in this tenant",
            };
            Some(FieldViolation::new(format!("rule.user_ids[{i}]"), problem))
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations.into())
    }
}

async fn write(tx: &mut Tx, viewer: Viewer, rule: &Rule, insert: bool) -> Result<()> {
    let d = &rule.data;
    let sql = if insert {
        "INSERT INTO lead_assignment_rules (id, tenant_id, name, position, source, country_code,
             min_employees, max_employees, user_ids, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    } else {
        "UPDATE lead_assignment_rules SET name = $3, position = $4, source = $5,
             country_code = $6, min_employees = $7, max_employees = $8, user_ids = $9,
             updated_at = $11
         WHERE id = $1 AND tenant_id = $2 AND created_at = $10"
    };
    sqlx::query(sql)
        .bind(rule.id)
        .bind(viewer.tenant_id)
        .bind(&d.name)
        .bind(d.position)
        .bind(&d.source)
        .bind(&d.country_code)
        .bind(d.min_employees)
        .bind(d.max_employees)
        .bind(&d.user_ids)
        .bind(rule.created_at)
        .bind(rule.updated_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[async_trait]
impl AssignmentStore for PgStore {
    async fn list_assignment_rules(&self, viewer: Viewer) -> Result<Vec<Rule>> {
        let mut tx = self.tx(viewer).await?;
        let found = rules(&mut tx).await?;
        tx.commit().await?;
        Ok(found)
    }

    #[tracing::instrument(name = "crm.postgres.create_assignment_rule", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_assignment_rule", tenant_id = %viewer.tenant_id))]
    async fn create_assignment_rule(&self, viewer: Viewer, data: RuleData) -> Result<Rule> {
        let mut tx = self.tx(viewer).await?;
        check_users(&mut tx, &data.user_ids).await?;
        let at = now();
        let rule = Rule {
            id: Uuid::now_v7(),
            data,
            created_at: at,
            updated_at: at,
        };
        write(&mut tx, viewer, &rule, true).await?;
        publish(
            &mut tx,
            &[assignment_rule_changed(&rule, "created", viewer)?],
        )
        .await?;
        tx.commit().await?;
        Ok(rule)
    }

    #[tracing::instrument(name = "crm.postgres.update_assignment_rule", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "update_assignment_rule", tenant_id = %viewer.tenant_id))]
    async fn update_assignment_rule(
        &self,
        viewer: Viewer,
        id: Uuid,
        patch: RulePatch,
    ) -> Result<Rule> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM lead_assignment_rules WHERE id = $1 FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let before = row
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or(Error::NotFound("lead assignment rule"))?;
        let new_users = patch.user_ids.is_some();
        let data = before.data.apply(patch);
        data.check_range()
            .map_err(|e| Error::invalid("rule.max_employee_count", e))?;
        if new_users {
            check_users(&mut tx, &data.user_ids).await?;
        }
        if data == before.data {
            return Ok(before);
        }
        let rule = Rule {
            data,
            updated_at: now(),
            ..before
        };
        write(&mut tx, viewer, &rule, false).await?;
        publish(
            &mut tx,
            &[assignment_rule_changed(&rule, "updated", viewer)?],
        )
        .await?;
        tx.commit().await?;
        Ok(rule)
    }

    #[tracing::instrument(name = "crm.postgres.delete_assignment_rule", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "delete_assignment_rule", tenant_id = %viewer.tenant_id))]
    async fn delete_assignment_rule(&self, viewer: Viewer, id: Uuid) -> Result<()> {
        let mut tx = self.tx(viewer).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM lead_assignment_rules WHERE id = $1 RETURNING {COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let rule = row
            .as_ref()
            .map(from_row)
            .transpose()?
            .ok_or(Error::NotFound("lead assignment rule"))?;
        publish(
            &mut tx,
            &[assignment_rule_changed(&rule, "deleted", viewer)?],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
