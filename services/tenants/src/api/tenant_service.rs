//! Tenant provisioning and lifecycle (platform operator) and tenant settings (tenant admin).

use std::sync::Arc;

use auth::Caller;
use auth::permissions::{TENANT_READ, TENANT_UPDATE};
use chrono::{DateTime, Utc};
use db::{PageSize, PageToken};
use proto::tenants as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{self};
use super::{Shared, mask_paths, parse_id};
use crate::domain::Violations;
use crate::domain::audit::{self, AuditQuery};
use crate::domain::email::Email;
use crate::domain::password::Password;
use crate::domain::settings::{self, TenantSettings};
use crate::domain::slug::Slug;
use crate::domain::tenant::{
    self as tenant_rules, NewTenant, TenantPatch, TenantStatus, parse_display_name, parse_plan,
};
use crate::domain::user::{self as user_rules, NewUser};
use crate::error::{Error, Result};

const UPDATABLE: &[&str] = &[
    "display_name",
    "plan",
    "settings",
    "settings.timezone",
    "settings.currency_code",
    "settings.fiscal_year_start_month",
    "settings.locale",
];

pub struct TenantApi {
    shared: Arc<Shared>,
}

impl TenantApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn provision(
        &self,
        r: pb::ProvisionTenantRequest,
    ) -> Result<pb::ProvisionTenantResponse> {
        let mut v = Violations::new();
        let tenant = r.tenant.unwrap_or_default();
        let admin = r.admin.unwrap_or_default();
        let slug = v.check("tenant.slug", Slug::parse(&tenant.slug));
        let display_name = v.check(
            "tenant.display_name",
            parse_display_name(&tenant.display_name, tenant_rules::MAX_DISPLAY_NAME_LEN),
        );
        let plan = v.check("tenant.plan", parse_plan(&tenant.plan));
        let settings = parse_settings(&mut v, tenant.settings.as_ref());
        let email = v.check("admin.email", Email::parse(&admin.email));
        let password = v.check("admin.password", Password::parse(&admin.password));
        let admin_name = v.check(
            "admin.display_name",
            parse_display_name(&admin.display_name, user_rules::MAX_DISPLAY_NAME_LEN),
        );
        v.finish()?;
        let (
            Some(slug),
            Some(display_name),
            Some(plan),
            Some(email),
            Some(password),
            Some(admin_name),
        ) = (slug, display_name, plan, email, password, admin_name)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let password_hash = self.shared.hash_password(password).await?;
        let new_tenant = NewTenant {
            id: Uuid::now_v7(),
            slug,
            display_name,
            plan,
            settings,
        };
        let new_admin = NewUser {
            id: Uuid::now_v7(),
            email,
            display_name: admin_name,
            role: auth::BuiltinRole::Admin,
            manager_id: None,
            custom_role_ids: vec![],
            password_hash,
        };
        let (tenant, admin) = self.shared.store.provision(new_tenant, new_admin).await?;
        tracing::info!(tenant_id = %tenant.id, slug = %tenant.slug, "tenant provisioned");
        Ok(pb::ProvisionTenantResponse {
            tenant: Some(convert::tenant(tenant)),
            admin: Some(convert::user(admin)),
        })
    }

    async fn update(&self, caller: &Caller, r: pb::UpdateTenantRequest) -> Result<pb::Tenant> {
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let tenant = r
            .tenant
            .ok_or_else(|| Error::invalid("tenant", "is required"))?;
        let id = parse_id("tenant.id", &tenant.id)?;
        let operator = matches!(caller, Caller::Operator);
        if !operator && caller.user()?.tenant_id != id {
            return Err(Error::NotFound("tenant"));
        }
        let wanted = |p: &str| {
            paths
                .iter()
                .any(|x| x == p || (x == "settings" && p.starts_with("settings.")))
        };
        let mut v = Violations::new();
        let mut patch = TenantPatch::default();
        let s = tenant.settings.clone().unwrap_or_default();
        if wanted("display_name") {
            patch.display_name = v.check(
                "tenant.display_name",
                parse_display_name(&tenant.display_name, tenant_rules::MAX_DISPLAY_NAME_LEN),
            );
        }
        if wanted("plan") {
            if operator {
                patch.plan = v.check("tenant.plan", parse_plan(&tenant.plan));
            } else {
                return Err(auth::AuthError::OperatorOnly.into());
            }
        }
        if wanted("settings.timezone") {
            patch.timezone = v.check(
                "tenant.settings.timezone",
                settings::parse_timezone(&s.timezone),
            );
        }
        if wanted("settings.currency_code") {
            patch.currency_code = v.check(
                "tenant.settings.currency_code",
                settings::parse_currency(&s.currency_code),
            );
        }
        if wanted("settings.fiscal_year_start_month") {
            patch.fiscal_year_start_month = v.check(
                "tenant.settings.fiscal_year_start_month",
                settings::parse_fiscal_month(s.fiscal_year_start_month),
            );
        }
        if wanted("settings.locale") {
            patch.locale = v.check("tenant.settings.locale", settings::parse_locale(&s.locale));
        }
        v.finish()?;
        let updated = self
            .shared
            .store
            .update_tenant(id, patch)
            .await?
            .ok_or(Error::NotFound("tenant"))?;
        Ok(convert::tenant(updated))
    }

    async fn set_status(
        &self,
        id: &str,
        status: TenantStatus,
        reason: String,
    ) -> Result<pb::Tenant> {
        let id = parse_id("id", id)?;
        let tenant = self
            .shared
            .store
            .set_tenant_status(id, status, reason)
            .await?
            .ok_or(Error::NotFound("tenant"))?;
        tracing::info!(tenant_id = %id, status = status.as_str(), "tenant status changed");
        Ok(convert::tenant(tenant))
    }

    /// Operators act on any tenant; admins only on their own, checked with `permission`.
    async fn authorize<T>(
        &self,
        request: &Request<T>,
        permission: auth::Permission,
    ) -> Result<Caller> {
        let caller = auth::caller(request)?.clone();
        // Anyone but the operator must be an active user of an active tenant holding
        // `permission`; a service is refused here.
        if !matches!(caller, Caller::Operator) {
            self.shared.user_ctx(request, Some(permission)).await?;
        }
        Ok(caller)
    }
}

/// Empty fields take the defaults; given ones must be valid.
fn parse_settings(v: &mut Violations, raw: Option<&pb::TenantSettings>) -> TenantSettings {
    let defaults = TenantSettings::default();
    let Some(raw) = raw else { return defaults };
    TenantSettings {
        timezone: non_empty(&raw.timezone)
            .and_then(|tz| v.check("tenant.settings.timezone", settings::parse_timezone(tz)))
            .unwrap_or(defaults.timezone),
        currency_code: non_empty(&raw.currency_code)
            .and_then(|c| v.check("tenant.settings.currency_code", settings::parse_currency(c)))
            .unwrap_or(defaults.currency_code),
        fiscal_year_start_month: if raw.fiscal_year_start_month == 0 {
            defaults.fiscal_year_start_month
        } else {
            v.check(
                "tenant.settings.fiscal_year_start_month",
                settings::parse_fiscal_month(raw.fiscal_year_start_month),
            )
            .unwrap_or(defaults.fiscal_year_start_month)
        },
        locale: non_empty(&raw.locale)
            .and_then(|l| v.check("tenant.settings.locale", settings::parse_locale(l)))
            .unwrap_or(defaults.locale),
    }
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A validated ListAuditEvents request and the page tokens it issues (bound to its filter).
struct AuditRequest {
    query: AuditQuery,
    page_size: PageSize,
    pages: PageToken,
}

fn time_from_pb(
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> std::result::Result<Option<DateTime<Utc>>, String> {
    t.map(|t| {
        let nanos = u32::try_from(t.nanos).map_err(|_| format!("{field} is not a valid time"))?;
        DateTime::from_timestamp(t.seconds, nanos).ok_or_else(|| format!("{field} is out of range"))
    })
    .transpose()
}

fn audit_request(r: &pb::ListAuditEventsRequest) -> Result<AuditRequest> {
    let mut v = Violations::new();
    let kind = (!r.kind.is_empty()).then(|| r.kind.clone());
    if let Some(kind) = &kind
        && !audit::KINDS.contains(&kind.as_str())
    {
        v.add(
            "kind",
            format!("must be one of {}", audit::KINDS.join(", ")),
        );
    }
    let user_id = if r.user_id.is_empty() {
        None
    } else {
        v.check(
            "user_id",
            Uuid::parse_str(&r.user_id).map_err(|_| "must be a UUID"),
        )
    };
    let start = v
        .check(
            "start_time",
            time_from_pb("start_time", r.start_time.as_ref()),
        )
        .flatten();
    let end = v
        .check("end_time", time_from_pb("end_time", r.end_time.as_ref()))
        .flatten();
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        v.add("end_time", "must be after start_time");
    }
    let page_size = v.check("page_size", PageSize::parse(r.page_size));
    v.finish()?;
    let Some(page_size) = page_size else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    let pages = PageToken::for_query(&format!(
        "audit|{}|{}|{:?}|{:?}",
        r.kind, r.user_id, start, end
    ));
    let before: Option<(DateTime<Utc>, Uuid)> = pages
        .decode(&r.page_token)
        .map_err(|e| Error::invalid("page_token", e.to_string()))?;
    Ok(AuditRequest {
        query: AuditQuery {
            kind,
            user_id,
            start,
            end,
            before,
            limit: page_size.fetch_limit(),
        },
        page_size,
        pages,
    })
}

#[tonic::async_trait]
impl pb::tenant_service_server::TenantService for TenantApi {
    #[tracing::instrument(skip_all)]
    async fn provision_tenant(
        &self,
        request: Request<pb::ProvisionTenantRequest>,
    ) -> Result<Response<pb::ProvisionTenantResponse>, Status> {
        auth::caller(&request)?.require_operator()?;
        let context = crate::audit::context_of(&request);
        Ok(Response::new(
            crate::audit::scope(context, self.provision(request.into_inner())).await?,
        ))
    }

    async fn get_tenant(
        &self,
        request: Request<pb::GetTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let caller = self.authorize(&request, TENANT_READ).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        if let Caller::User(ctx) = &caller
            && ctx.tenant_id != id
        {
            return Err(Error::NotFound("tenant").into());
        }
        let tenant = self
            .shared
            .store
            .tenant(id)
            .await?
            .ok_or(Error::NotFound("tenant"))?;
        Ok(Response::new(convert::tenant(tenant)))
    }

    async fn list_tenants(
        &self,
        request: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        auth::caller(&request)?.require_operator()?;
        let r = request.into_inner();
        let page_size =
            PageSize::parse(r.page_size).map_err(|e| Error::invalid("page_size", e.to_string()))?;
        let pages = PageToken::for_query("tenants");
        let after: Option<(DateTime<Utc>, Uuid)> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let mut tenants = self
            .shared
            .store
            .list_tenants(after, page_size.fetch_limit())
            .await?;
        let mut next_page_token = String::new();
        if tenants.len() > page_size.get() as usize {
            tenants.truncate(page_size.get() as usize);
            if let Some(last) = tenants.last() {
                next_page_token = pages.encode(&(last.created_at, last.id));
            }
        }
        Ok(Response::new(pb::ListTenantsResponse {
            tenants: tenants.into_iter().map(convert::tenant).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_tenant(
        &self,
        request: Request<pb::UpdateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let caller = self.authorize(&request, TENANT_UPDATE).await?;
        let context = crate::audit::context_of(&request);
        Ok(Response::new(
            crate::audit::scope(context, self.update(&caller, request.into_inner())).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn suspend_tenant(
        &self,
        request: Request<pb::SuspendTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        auth::caller(&request)?.require_operator()?;
        let context = crate::audit::context_of(&request);
        let r = request.into_inner();
        Ok(Response::new(
            crate::audit::scope(
                context,
                self.set_status(&r.id, TenantStatus::Suspended, r.reason),
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn reactivate_tenant(
        &self,
        request: Request<pb::ReactivateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        auth::caller(&request)?.require_operator()?;
        let context = crate::audit::context_of(&request);
        let r = request.into_inner();
        Ok(Response::new(
            crate::audit::scope(
                context,
                self.set_status(&r.id, TenantStatus::Active, String::new()),
            )
            .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        // Logins with addresses are the admins' to read, not every user's.
        let ctx = self.shared.user_ctx(&request, Some(TENANT_UPDATE)).await?;
        let tenant_id = ctx.tenant_id;
        let req = audit_request(request.get_ref())?;
        let mut events = self
            .shared
            .store
            .list_audit_events(tenant_id, req.query)
            .await?;
        let mut next_page_token = String::new();
        if events.len() > req.page_size.get() as usize {
            events.truncate(req.page_size.get() as usize);
            if let Some(last) = events.last() {
                next_page_token = req.pages.encode(&(last.occurred_at, last.id));
            }
        }
        Ok(Response::new(pb::ListAuditEventsResponse {
            events: events.into_iter().map(convert::audit_event).collect(),
            next_page_token,
        }))
    }
}
