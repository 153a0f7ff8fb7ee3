//! Persistence of the tenants service: the [`Store`] trait the application logic depends on and
//! its Postgres implementation. Every tenant-scoped statement runs in a transaction opened by
//! `db::begin_for_tenant`, so row-level security enforces the tenant even if a WHERE clause
//! forgot it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, Transaction, postgres::PgRow};
use uuid::Uuid;

use crate::domain::audit::{AuditEvent, AuditQuery};
use crate::domain::email::Email;
use crate::domain::exchange_rate::{ExchangeRate, NewExchangeRate};
use crate::domain::filter::{Condition, UserOrder};
use crate::domain::role::{CustomRole, NewRole, RolePatch};
use crate::domain::settings::TenantSettings;
use crate::domain::tenant::{NewTenant, Tenant, TenantPatch, TenantStatus};
use crate::domain::user::{Credentials, NewUser, User, UserPatch};
use crate::error::{Error, Result};
use crate::events;

mod exchange_rates;

/// A refresh token to store (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The token was current: it is now rotated and `next` stored in its family.
    Rotated { user: User },
    /// The token had already been rotated or revoked: its whole family is now revoked.
    Reused,
    /// Unknown or expired.
    Invalid,
}

/// One page request of ListUsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// The filter; `None` matches every user.
    pub conditions: Option<Condition>,
    pub order: UserOrder,
    /// Sort value (as text) and id of the last row of the previous page.
    pub after: Option<(String, Uuid)>,
    pub limit: i64,
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn provision(&self, tenant: NewTenant, admin: NewUser) -> Result<(Tenant, User)>;
    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>>;
    /// Whether a user's access token may still act: the tenant is active and the user is too.
    async fn caller_active(&self, tenant_id: Uuid, user_id: Uuid) -> Result<bool>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>>;
    async fn list_tenants(
        &self,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Tenant>>;
    async fn update_tenant(&self, id: Uuid, patch: TenantPatch) -> Result<Option<Tenant>>;
    async fn set_tenant_status(
        &self,
        id: Uuid,
        status: TenantStatus,
        reason: String,
    ) -> Result<Option<Tenant>>;

    async fn credentials(&self, tenant_id: Uuid, email: Email) -> Result<Option<Credentials>>;
    async fn credentials_by_id(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Credentials>>;
    /// Counts one more consecutive failure, locks until `lock_until(count)` if it says so, and
    /// returns the new count.
    async fn record_login_failure(&self, tenant_id: Uuid, user_id: Uuid) -> Result<u32>;
    async fn lock_user(&self, tenant_id: Uuid, user_id: Uuid, until: DateTime<Utc>) -> Result<()>;
    async fn record_login_success(&self, tenant_id: Uuid, token: NewRefreshToken) -> Result<()>;
    async fn custom_role_permissions(
        &self,
        tenant_id: Uuid,
        role_ids: Vec<Uuid>,
    ) -> Result<Vec<String>>;
    async fn rotate_refresh_token(
        &self,
        tenant_id: Uuid,
        presented_hash: Vec<u8>,
        next: NewRefreshToken,
    ) -> Result<RotateOutcome>;
    /// Revokes the family of the presented token; false when the token is unknown.
    async fn revoke_refresh_family(&self, tenant_id: Uuid, presented_hash: Vec<u8>)
    -> Result<bool>;
    /// Stores a new password hash and revokes every refresh token of the user.
    async fn set_password(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        password_hash: String,
    ) -> Result<()>;

    async fn create_user(&self, tenant_id: Uuid, user: NewUser) -> Result<User>;
    async fn user(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<User>>;
    async fn list_users(&self, tenant_id: Uuid, query: UserQuery) -> Result<Vec<User>>;
    /// Applies `patch`; refuses to leave the tenant without an active admin.
    async fn update_user(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: UserPatch,
    ) -> Result<Option<User>>;
    /// Deactivates and revokes the user's refresh tokens; refuses to remove the last admin.
    async fn deactivate_user(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<User>>;
    /// The chain of managers above `user_id`, nearest first.
    async fn management_chain(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Vec<Uuid>>;

    async fn create_role(&self, tenant_id: Uuid, role: NewRole) -> Result<CustomRole>;
    async fn role(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<CustomRole>>;
    async fn list_roles(
        &self,
        tenant_id: Uuid,
        after: Option<(String, Uuid)>,
        limit: i64,
    ) -> Result<Vec<CustomRole>>;
    async fn update_role(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: RolePatch,
    ) -> Result<Option<CustomRole>>;
    async fn delete_role(&self, tenant_id: Uuid, id: Uuid) -> Result<bool>;

    /// Sets (or replaces) a rate against the tenant's current currency and publishes it.
    async fn set_exchange_rate(
        &self,
        tenant_id: Uuid,
        rate: NewExchangeRate,
    ) -> Result<ExchangeRate>;
    /// Rates by currency, then effective date newest first, after the keyset `after`.
    async fn list_exchange_rates(
        &self,
        tenant_id: Uuid,
        currency_code: Option<String>,
        after: Option<(String, NaiveDate)>,
        limit: i64,
    ) -> Result<Vec<ExchangeRate>>;
    /// Deletes a rate and publishes it; false when there was none.
    async fn delete_exchange_rate(
        &self,
        tenant_id: Uuid,
        currency_code: String,
        effective_date: NaiveDate,
    ) -> Result<bool>;
    /// A page of the tenant's audit log, newest first.
    async fn list_audit_events(
        &self,
        tenant_id: Uuid,
        query: AuditQuery,
    ) -> Result<Vec<AuditEvent>>;
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

    async fn tx(&self, tenant_id: Uuid) -> Result<Transaction<'static, Postgres>> {
        let mut tx = db::begin_for_tenant(&self.pool, tenant_id).await?;
        set_audit_context(&mut tx).await?;
        Ok(tx)
    }
}

/// Hands the request's audit context (who, from where) to the audit triggers of this
/// transaction; requests that change nothing run without one and skip the round trip.
async fn set_audit_context(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
    let Some(context) = crate::audit::current() else {
        return Ok(());
    };
    sqlx::query(
        "SELECT set_config('audit.actor', $1, true), set_config('audit.ip', $2, true),
                set_config('audit.user_agent', $3, true)",
    )
    .bind(&context.actor)
    .bind(&context.ip)
    .bind(&context.user_agent)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn audit_event_from_row(row: &PgRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        actor: row.try_get("actor")?,
        details: row.try_get("details")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        occurred_at: row.try_get("occurred_at")?,
    })
}

const TENANT_COLUMNS: &str = "id, slug, display_name, plan, status, timezone, currency_code, \
     fiscal_year_start_month, locale, created_at, updated_at";

fn tenant_from_row(row: &PgRow) -> Result<Tenant> {
    let status: String = row.try_get("status")?;
    let month: i32 = row.try_get("fiscal_year_start_month")?;
    Ok(Tenant {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        display_name: row.try_get("display_name")?,
        plan: row.try_get("plan")?,
        status: TenantStatus::parse(&status)
            .ok_or_else(|| Error::Internal(format!("unknown tenant status {status}")))?,
        settings: TenantSettings {
            timezone: row.try_get("timezone")?,
            currency_code: row.try_get("currency_code")?,
            fiscal_year_start_month: u32::try_from(month).unwrap_or(1),
            locale: row.try_get("locale")?,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// User columns plus the aggregated custom role ids, for `SELECT ... FROM users u`.
const USER_SELECT: &str = "SELECT u.id, u.tenant_id, u.email, u.display_name, u.role, u.manager_id, \
     u.active, u.created_at, u.updated_at, u.last_login_at, u.password_hash, u.locked_until, \
     COALESCE((SELECT array_agg(r.role_id ORDER BY r.role_id) FROM user_custom_roles r \
               WHERE r.user_id = u.id), '{}') AS custom_role_ids \
     FROM users u";

fn user_from_row(row: &PgRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: auth::BuiltinRole::parse(&role)
            .ok_or_else(|| Error::Internal(format!("unknown role {role}")))?,
        custom_role_ids: row.try_get("custom_role_ids")?,
        manager_id: row.try_get("manager_id")?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_login_at: row.try_get("last_login_at")?,
    })
}

fn credentials_from_row(row: &PgRow) -> Result<Credentials> {
    Ok(Credentials {
        user: user_from_row(row)?,
        password_hash: row.try_get("password_hash")?,
        locked_until: row.try_get("locked_until")?,
    })
}

fn role_from_row(row: &PgRow) -> Result<CustomRole> {
    Ok(CustomRole {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        permissions: row.try_get("permissions")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Maps constraint violations of user writes to caller-facing errors.
fn user_write_error(error: sqlx::Error) -> Error {
    if db::unique_violation(&error) == Some("users_tenant_email_key") {
        return Error::AlreadyExists {
            field: "email",
            message: "a user with this email already exists".to_owned(),
        };
    }
    if let Some(constraint) = db::foreign_key_violation(&error) {
        if constraint == "users_manager_fkey" {
            return Error::invalid("manager_id", "no such user in this tenant");
        }
        if constraint == "user_custom_roles_role_fkey" {
            return Error::invalid("custom_role_ids", "no such custom role in this tenant");
        }
    }
    Error::Store(error)
}

async fn insert_user(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    user: &NewUser,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, display_name, role, manager_id, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(user.id)
    .bind(tenant_id)
    .bind(user.email.as_str())
    .bind(&user.display_name)
    .bind(user.role.as_str())
    .bind(user.manager_id)
    .bind(&user.password_hash)
    .execute(&mut **tx)
    .await
    .map_err(user_write_error)?;
    replace_custom_roles(tx, tenant_id, user.id, &user.custom_role_ids).await
}

async fn replace_custom_roles(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    user_id: Uuid,
    role_ids: &[Uuid],
) -> Result<()> {
    // Only the grants that change: each one is an audit event.
    sqlx::query("DELETE FROM user_custom_roles WHERE user_id = $1 AND role_id <> ALL($2)")
        .bind(user_id)
        .bind(role_ids)
        .execute(&mut **tx)
        .await?;
    if !role_ids.is_empty() {
        sqlx::query(
            "INSERT INTO user_custom_roles (tenant_id, user_id, role_id)
             SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(role_ids)
        .execute(&mut **tx)
        .await
        .map_err(user_write_error)?;
    }
    Ok(())
}

async fn fetch_user(tx: &mut Transaction<'static, Postgres>, id: Uuid) -> Result<Option<User>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{USER_SELECT} WHERE u.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Serialises admin-count checks of one tenant so two concurrent demotions cannot both pass.
async fn ensure_other_active_admin(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenants.admins.' || $1::text))")
        .bind(tenant_id)
        .execute(&mut **tx)
        .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE role = 'ROLE_ADMIN' AND active AND id <> $1",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    if others == 0 {
        return Err(Error::FailedPrecondition(
            "a tenant must keep at least one active admin".to_owned(),
        ));
    }
    Ok(())
}

async fn is_active_admin(tx: &mut Transaction<'static, Postgres>, user_id: Uuid) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND role = 'ROLE_ADMIN' AND active)",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?)
}

#[async_trait]
impl Store for PgStore {
    #[tracing::instrument(name = "tenants.postgres.provision", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "provision", slug = %tenant.slug))]
    async fn provision(&self, tenant: NewTenant, admin: NewUser) -> Result<(Tenant, User)> {
        // Cancel-safe: a request dropped while BEGIN is in flight must not leave its connection
        // inside a transaction in the pool.
        let mut tx = db::begin(&self.pool).await?;
        set_audit_context(&mut tx).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tenants (id, slug, display_name, plan, timezone, currency_code,
                                  fiscal_year_start_month, locale)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             RETURNING {TENANT_COLUMNS}"
        )))
        .bind(tenant.id)
        .bind(tenant.slug.as_str())
        .bind(&tenant.display_name)
        .bind(&tenant.plan)
        .bind(&tenant.settings.timezone)
        .bind(&tenant.settings.currency_code)
        .bind(tenant.settings.fiscal_year_start_month as i32)
        .bind(&tenant.settings.locale)
        .fetch_one(&mut *tx)
        .await
        .map_err(|error| match db::unique_violation(&error) {
            Some("tenants_slug_key") => Error::AlreadyExists {
                field: "tenant.slug",
                message: "a tenant with this slug already exists".to_owned(),
            },
            _ => Error::Store(error),
        })?;
        let created = tenant_from_row(&row)?;
        db::tenant_tx::set_tenant(&mut tx, tenant.id).await?;
        insert_user(&mut tx, tenant.id, &admin).await?;
        let user = fetch_user(&mut tx, admin.id)
            .await?
            .ok_or_else(|| Error::Internal("provisioned admin vanished".to_owned()))?;
        for event in events::tenant_provisioned(&created, &user)? {
            publish(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok((created, user))
    }

    async fn tenant(&self, id: Uuid) -> Result<Option<Tenant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    /// One round trip (`caller_is_active`, migration `…20261207000100`), like the tenant lookup
    /// it replaced: the function sets the tenant for row-level security before reading the user.
    #[tracing::instrument(name = "tenants.postgres.caller_active", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "caller_active", tenant_id = %tenant_id))]
    async fn caller_active(&self, tenant_id: Uuid, user_id: Uuid) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT caller_is_active($1, $2)")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1"
        )))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn list_tenants(
        &self,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Tenant>> {
        let (after_time, after_id) = after.unzip();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TENANT_COLUMNS} FROM tenants
             WHERE $1::timestamptz IS NULL OR (created_at, id) > ($1, $2)
             ORDER BY created_at, id
             LIMIT $3"
        )))
        .bind(after_time)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn update_tenant(&self, id: Uuid, patch: TenantPatch) -> Result<Option<Tenant>> {
        let changed = patch.changed_fields();
        let mut tx = self.tx(id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tenants SET
                display_name = COALESCE($2, display_name),
                plan = COALESCE($3, plan),
                timezone = COALESCE($4, timezone),
                currency_code = COALESCE($5, currency_code),
                fiscal_year_start_month = COALESCE($6, fiscal_year_start_month),
                locale = COALESCE($7, locale),
                updated_at = now()
             WHERE id = $1
             RETURNING {TENANT_COLUMNS}"
        )))
        .bind(id)
        .bind(patch.display_name)
        .bind(patch.plan)
        .bind(patch.timezone)
        .bind(patch.currency_code)
        .bind(patch.fiscal_year_start_month.map(|m| m as i32))
        .bind(patch.locale)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(tenant) = row.as_ref().map(tenant_from_row).transpose()? else {
            return Ok(None);
        };
        publish(&mut tx, events::tenant_updated(&tenant, changed)?).await?;
        tx.commit().await?;
        Ok(Some(tenant))
    }

    async fn set_tenant_status(
        &self,
        id: Uuid,
        status: TenantStatus,
        reason: String,
    ) -> Result<Option<Tenant>> {
        let mut tx = self.tx(id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tenants SET status = $2, status_reason = $3, updated_at = now()
             WHERE id = $1
             RETURNING {TENANT_COLUMNS}"
        )))
        .bind(id)
        .bind(status.as_str())
        .bind(&reason)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(tenant) = row.as_ref().map(tenant_from_row).transpose()? else {
            return Ok(None);
        };
        let event = match status {
            TenantStatus::Suspended => events::tenant_suspended(&tenant, reason)?,
            TenantStatus::Active => events::tenant_reactivated(&tenant)?,
        };
        publish(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Some(tenant))
    }

    async fn credentials(&self, tenant_id: Uuid, email: Email) -> Result<Option<Credentials>> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE u.email = $1"
        )))
        .bind(email.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(credentials_from_row).transpose()
    }

    async fn credentials_by_id(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Credentials>> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{USER_SELECT} WHERE u.id = $1"
        )))
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(credentials_from_row).transpose()
    }

    async fn record_login_failure(&self, tenant_id: Uuid, user_id: Uuid) -> Result<u32> {
        let mut tx = self.tx(tenant_id).await?;
        let count: i32 = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins",
        )
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u32::try_from(count).unwrap_or(0))
    }

    async fn lock_user(&self, tenant_id: Uuid, user_id: Uuid, until: DateTime<Utc>) -> Result<()> {
        let mut tx = self.tx(tenant_id).await?;
        sqlx::query("UPDATE users SET locked_until = $2 WHERE id = $1")
            .bind(user_id)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_login_success(&self, tenant_id: Uuid, token: NewRefreshToken) -> Result<()> {
        let mut tx = self.tx(tenant_id).await?;
        sqlx::query(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = now() WHERE id = $1",
        )
        .bind(token.user_id)
        .execute(&mut *tx)
        .await?;
        insert_refresh_token(&mut tx, tenant_id, &token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn custom_role_permissions(
        &self,
        tenant_id: Uuid,
        role_ids: Vec<Uuid>,
    ) -> Result<Vec<String>> {
        if role_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.tx(tenant_id).await?;
        let perms: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT unnest(permissions) FROM custom_roles WHERE id = ANY($1)",
        )
        .bind(&role_ids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(perms)
    }

    async fn rotate_refresh_token(
        &self,
        tenant_id: Uuid,
        presented_hash: Vec<u8>,
        next: NewRefreshToken,
    ) -> Result<RotateOutcome> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(
            "SELECT id, user_id, family_id, expires_at, rotated_at, revoked_at
             FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
        )
        .bind(&presented_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(RotateOutcome::Invalid);
        };
        let id: Uuid = row.try_get("id")?;
        let user_id: Uuid = row.try_get("user_id")?;
        let family_id: Uuid = row.try_get("family_id")?;
        let expires_at: DateTime<Utc> = row.try_get("expires_at")?;
        let rotated_at: Option<DateTime<Utc>> = row.try_get("rotated_at")?;
        let revoked_at: Option<DateTime<Utc>> = row.try_get("revoked_at")?;
        if rotated_at.is_some() || revoked_at.is_some() {
            // A used token came back: someone holds a copy. End the whole session.
            revoke_family(&mut tx, family_id).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Reused);
        }
        if expires_at <= Utc::now() {
            return Ok(RotateOutcome::Invalid);
        }
        let Some(user) = fetch_user(&mut tx, user_id).await?.filter(|u| u.active) else {
            revoke_family(&mut tx, family_id).await?;
            tx.commit().await?;
            return Ok(RotateOutcome::Invalid);
        };
        sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let next = NewRefreshToken {
            family_id,
            user_id,
            ..next
        };
        insert_refresh_token(&mut tx, tenant_id, &next).await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated { user })
    }

    async fn revoke_refresh_family(
        &self,
        tenant_id: Uuid,
        presented_hash: Vec<u8>,
    ) -> Result<bool> {
        let mut tx = self.tx(tenant_id).await?;
        let family: Option<Uuid> =
            sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(&presented_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(family) = family {
            revoke_family(&mut tx, family).await?;
        }
        tx.commit().await?;
        Ok(family.is_some())
    }

    async fn set_password(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        password_hash: String,
    ) -> Result<()> {
        let mut tx = self.tx(tenant_id).await?;
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(name = "tenants.postgres.create_user", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "create_user", tenant_id = %tenant_id))]
    async fn create_user(&self, tenant_id: Uuid, user: NewUser) -> Result<User> {
        let mut tx = self.tx(tenant_id).await?;
        insert_user(&mut tx, tenant_id, &user).await?;
        let created = fetch_user(&mut tx, user.id)
            .await?
            .ok_or_else(|| Error::Internal("created user vanished".to_owned()))?;
        publish(&mut tx, events::user_created(&created)?).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn user(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<User>> {
        let mut tx = self.tx(tenant_id).await?;
        let user = fetch_user(&mut tx, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    #[tracing::instrument(name = "tenants.postgres.list_users", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_users", tenant_id = %tenant_id))]
    async fn list_users(&self, tenant_id: Uuid, query: UserQuery) -> Result<Vec<User>> {
        let mut tx = self.tx(tenant_id).await?;
        let mut sql = QueryBuilder::<Postgres>::new(USER_SELECT);
        // Explicit even though RLS enforces it: it lets the planner use the tenant indexes.
        sql.push(" WHERE u.tenant_id = ").push_bind(tenant_id);
        if let Some(condition) = &query.conditions {
            sql.push(" AND ");
            filter::push_condition(&mut sql, condition);
        }
        let column = query.order.field.column();
        let (cmp, dir) = if query.order.descending {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let cast = if column == "created_at" {
            "::timestamptz"
        } else {
            "::text"
        };
        if let Some((value, id)) = &query.after {
            sql.push(format_args!(" AND (u.{column}, u.id) {cmp} ("))
                .push_bind(value.clone())
                .push(cast)
                .push(", ")
                .push_bind(*id)
                .push(")");
        }
        sql.push(format_args!(" ORDER BY u.{column} {dir}, u.id {dir}"));
        db::page::push_limit(&mut sql, query.limit);
        let rows = sql.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: UserPatch,
    ) -> Result<Option<User>> {
        let changed = patch.changed_fields();
        let mut tx = self.tx(tenant_id).await?;
        let demoting = patch.role.is_some_and(|r| r != auth::BuiltinRole::Admin);
        if demoting && is_active_admin(&mut tx, id).await? {
            ensure_other_active_admin(&mut tx, tenant_id, id).await?;
        }
        let (set_manager, manager) = match patch.manager_id {
            Some(m) => (true, m),
            None => (false, None),
        };
        let updated = sqlx::query(
            "UPDATE users SET
                email = COALESCE($2, email),
                display_name = COALESCE($3, display_name),
                role = COALESCE($4, role),
                manager_id = CASE WHEN $5 THEN $6 ELSE manager_id END,
                updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(patch.email.as_ref().map(Email::as_str))
        .bind(patch.display_name)
        .bind(patch.role.map(auth::BuiltinRole::as_str))
        .bind(set_manager)
        .bind(manager)
        .execute(&mut *tx)
        .await
        .map_err(user_write_error)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        if let Some(role_ids) = &patch.custom_role_ids {
            replace_custom_roles(&mut tx, tenant_id, id, role_ids).await?;
        }
        let user = fetch_user(&mut tx, id).await?;
        if let Some(user) = &user {
            publish(&mut tx, events::user_updated(user, changed)?).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn deactivate_user(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<User>> {
        let mut tx = self.tx(tenant_id).await?;
        if is_active_admin(&mut tx, id).await? {
            ensure_other_active_admin(&mut tx, tenant_id, id).await?;
        }
        let updated =
            sqlx::query("UPDATE users SET active = false, updated_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let user = fetch_user(&mut tx, id).await?;
        if let Some(user) = &user {
            publish(&mut tx, events::user_deactivated(user)?).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    async fn management_chain(&self, tenant_id: Uuid, user_id: Uuid) -> Result<Vec<Uuid>> {
        let mut tx = self.tx(tenant_id).await?;
        // Bounded depth: a cycle that slipped in cannot make this loop forever.
        let chain: Vec<Uuid> = sqlx::query_scalar(
            "WITH RECURSIVE chain(id, depth) AS (
                 SELECT manager_id, 1 FROM users WHERE id = $1 AND manager_id IS NOT NULL
                 UNION ALL
                 SELECT u.manager_id, c.depth + 1 FROM users u JOIN chain c ON u.id = c.id
                 WHERE u.manager_id IS NOT NULL AND c.depth < 64
             )
             SELECT id FROM chain ORDER BY depth",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(chain)
    }

    async fn create_role(&self, tenant_id: Uuid, role: NewRole) -> Result<CustomRole> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(
            "INSERT INTO custom_roles (id, tenant_id, name, description, permissions)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING id, name, description, permissions, created_at, updated_at",
        )
        .bind(role.id)
        .bind(tenant_id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(&role.permissions)
        .fetch_one(&mut *tx)
        .await
        .map_err(role_write_error)?;
        tx.commit().await?;
        role_from_row(&row)
    }

    async fn role(&self, tenant_id: Uuid, id: Uuid) -> Result<Option<CustomRole>> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(
            "SELECT id, name, description, permissions, created_at, updated_at
             FROM custom_roles WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn list_roles(
        &self,
        tenant_id: Uuid,
        after: Option<(String, Uuid)>,
        limit: i64,
    ) -> Result<Vec<CustomRole>> {
        let mut tx = self.tx(tenant_id).await?;
        let (after_name, after_id) = after.unzip();
        let rows = sqlx::query(
            "SELECT id, name, description, permissions, created_at, updated_at
             FROM custom_roles
             WHERE tenant_id = $1 AND ($2::text IS NULL OR (name, id) > ($2, $3))
             ORDER BY name, id
             LIMIT $4",
        )
        .bind(tenant_id)
        .bind(after_name)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(role_from_row).collect()
    }

    async fn update_role(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        patch: RolePatch,
    ) -> Result<Option<CustomRole>> {
        let mut tx = self.tx(tenant_id).await?;
        let row = sqlx::query(
            "UPDATE custom_roles SET
                name = COALESCE($2, name),
                description = COALESCE($3, description),
                permissions = COALESCE($4, permissions),
                updated_at = now()
             WHERE id = $1
             RETURNING id, name, description, permissions, created_at, updated_at",
        )
        .bind(id)
        .bind(patch.name)
        .bind(patch.description)
        .bind(patch.permissions)
        .fetch_optional(&mut *tx)
        .await
        .map_err(role_write_error)?;
        tx.commit().await?;
        row.as_ref().map(role_from_row).transpose()
    }

    async fn delete_role(&self, tenant_id: Uuid, id: Uuid) -> Result<bool> {
        let mut tx = self.tx(tenant_id).await?;
        let deleted = sqlx::query("DELETE FROM custom_roles WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    async fn set_exchange_rate(
        &self,
        tenant_id: Uuid,
        rate: NewExchangeRate,
    ) -> Result<ExchangeRate> {
        let mut tx = self.tx(tenant_id).await?;
        let saved = exchange_rates::set(&mut tx, tenant_id, &rate).await?;
        publish(&mut tx, events::exchange_rate_set(&saved)?).await?;
        tx.commit().await?;
        Ok(saved)
    }

    async fn list_exchange_rates(
        &self,
        tenant_id: Uuid,
        currency_code: Option<String>,
        after: Option<(String, NaiveDate)>,
        limit: i64,
    ) -> Result<Vec<ExchangeRate>> {
        let mut tx = self.tx(tenant_id).await?;
        let rates =
            exchange_rates::list(&mut tx, currency_code.as_deref(), after.as_ref(), limit).await?;
        tx.commit().await?;
        Ok(rates)
    }

    async fn delete_exchange_rate(
        &self,
        tenant_id: Uuid,
        currency_code: String,
        effective_date: NaiveDate,
    ) -> Result<bool> {
        let mut tx = self.tx(tenant_id).await?;
        let deleted = exchange_rates::delete(&mut tx, &currency_code, effective_date).await?;
        if deleted {
            publish(
                &mut tx,
                events::exchange_rate_deleted(tenant_id, &currency_code, effective_date)?,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    #[tracing::instrument(name = "tenants.postgres.list_audit_events", skip_all, fields(otel.kind = "client", db.system = "postgresql", db.operation.name = "list_audit_events", tenant_id = %tenant_id))]
    async fn list_audit_events(
        &self,
        tenant_id: Uuid,
        query: AuditQuery,
    ) -> Result<Vec<AuditEvent>> {
        let mut tx = self.tx(tenant_id).await?;
        let (before_at, before_id) = query.before.unzip();
        let rows = sqlx::query(
            "SELECT id, kind, user_id, actor, details::text AS details, ip, user_agent,
                    occurred_at
             FROM audit_events
             WHERE ($1::text IS NULL OR kind = $1)
               AND ($2::uuid IS NULL OR user_id = $2)
               AND ($3::timestamptz IS NULL OR occurred_at >= $3)
               AND ($4::timestamptz IS NULL OR occurred_at < $4)
               AND ($5::timestamptz IS NULL OR (occurred_at, id) < ($5, $6))
             ORDER BY occurred_at DESC, id DESC
             LIMIT $7",
        )
        .bind(query.kind)
        .bind(query.user_id)
        .bind(query.start)
        .bind(query.end)
        .bind(before_at)
        .bind(before_id)
        .bind(query.limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(audit_event_from_row).collect()
    }
}

fn role_write_error(error: sqlx::Error) -> Error {
    match db::unique_violation(&error) {
        Some("custom_roles_tenant_name_key") => Error::AlreadyExists {
            field: "role.name",
            message: "a role with this name already exists".to_owned(),
        },
        _ => Error::Store(error),
    }
}

async fn insert_refresh_token(
    tx: &mut Transaction<'static, Postgres>,
    tenant_id: Uuid,
    token: &NewRefreshToken,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, tenant_id, user_id, family_id, token_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.id)
    .bind(tenant_id)
    .bind(token.user_id)
    .bind(token.family_id)
    .bind(&token.token_hash)
    .bind(token.expires_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes an event to the outbox inside the caller's transaction: it exists iff the change commits.
async fn publish(tx: &mut Transaction<'static, Postgres>, event: ::events::NewEvent) -> Result<()> {
    ::events::outbox::enqueue(tx, &event).await?;
    Ok(())
}

async fn revoke_family(tx: &mut Transaction<'static, Postgres>, family_id: Uuid) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
