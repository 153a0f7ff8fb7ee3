//! Custom roles and the permission catalogue.

use std::sync::Arc;

use auth::permissions::{self, ROLES_READ, ROLES_WRITE};
use db::{PageSize, PageToken};
use proto::tenants as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert;
use super::{Shared, mask_paths, parse_id};
use crate::domain::Violations;
use crate::domain::role::{
    MAX_DESCRIPTION_LEN, MAX_NAME_LEN, NewRole, RolePatch, parse_permissions,
};
use crate::domain::tenant::parse_display_name;
use crate::error::{Error, Result};

const UPDATABLE: &[&str] = &["name", "description", "permissions"];

pub struct RoleApi {
    shared: Arc<Shared>,
}

impl RoleApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

fn check_permissions(v: &mut Violations, raw: &[String]) -> Option<Vec<String>> {
    match parse_permissions(raw) {
        Ok(p) => Some(p),
        Err((index, name)) => {
            v.add(
                format!("role.permissions[{index}]"),
                format!("unknown permission {name:?}"),
            );
            None
        }
    }
}

fn check_description(v: &mut Violations, raw: &str) -> Option<String> {
    if raw.chars().count() > MAX_DESCRIPTION_LEN {
        v.add(
            "role.description",
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        );
        None
    } else {
        Some(raw.trim().to_owned())
    }
}

#[tonic::async_trait]
impl pb::role_service_server::RoleService for RoleApi {
    async fn list_permissions(
        &self,
        request: Request<pb::ListPermissionsRequest>,
    ) -> Result<Response<pb::ListPermissionsResponse>, Status> {
        self.shared.user_ctx(&request, None).await?;
        let permissions = permissions::ALL
            .iter()
            .map(|p| pb::Permission {
                name: p.name.to_owned(),
                description: p.description.to_owned(),
                built_in_roles: p
                    .built_in_roles
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect(),
            })
            .collect();
        Ok(Response::new(pb::ListPermissionsResponse { permissions }))
    }

    async fn create_role(
        &self,
        request: Request<pb::CreateRoleRequest>,
    ) -> Result<Response<pb::CustomRole>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let tenant_id = self
                .shared
                .user_ctx(&request, Some(ROLES_WRITE))
                .await?
                .tenant_id;
            let role = request.into_inner().role.unwrap_or_default();
            let mut v = Violations::new();
            let name = v.check("role.name", parse_display_name(&role.name, MAX_NAME_LEN));
            let description = check_description(&mut v, &role.description);
            let perms = check_permissions(&mut v, &role.permissions);
            v.finish().map_err(Error::from)?;
            let (Some(name), Some(description), Some(permissions)) = (name, description, perms)
            else {
                return Err(Error::Internal("validated fields missing".to_owned()).into());
            };
            let created = self
                .shared
                .store
                .create_role(
                    tenant_id,
                    NewRole {
                        id: Uuid::now_v7(),
                        name,
                        description,
                        permissions,
                    },
                )
                .await?;
            Ok(Response::new(convert::custom_role(created)))
        })
        .await
    }

    async fn get_role(
        &self,
        request: Request<pb::GetRoleRequest>,
    ) -> Result<Response<pb::CustomRole>, Status> {
        let tenant_id = self
            .shared
            .user_ctx(&request, Some(ROLES_READ))
            .await?
            .tenant_id;
        let id = parse_id("id", &request.get_ref().id)?;
        let role = self
            .shared
            .store
            .role(tenant_id, id)
            .await?
            .ok_or(Error::NotFound("role"))?;
        Ok(Response::new(convert::custom_role(role)))
    }

    async fn list_roles(
        &self,
        request: Request<pb::ListRolesRequest>,
    ) -> Result<Response<pb::ListRolesResponse>, Status> {
        let tenant_id = self
            .shared
            .user_ctx(&request, Some(ROLES_READ))
            .await?
            .tenant_id;
        let r = request.into_inner();
        let page_size =
            PageSize::parse(r.page_size).map_err(|e| Error::invalid("page_size", e.to_string()))?;
        let pages = PageToken::for_query("roles");
        let after: Option<(String, Uuid)> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let mut roles = self
            .shared
            .store
            .list_roles(tenant_id, after, page_size.fetch_limit())
            .await?;
        let mut next_page_token = String::new();
        if roles.len() > page_size.get() as usize {
            roles.truncate(page_size.get() as usize);
            if let Some(last) = roles.last() {
                next_page_token = pages.encode(&(last.name.clone(), last.id));
            }
        }
        Ok(Response::new(pb::ListRolesResponse {
            roles: roles.into_iter().map(convert::custom_role).collect(),
            next_page_token,
        }))
    }

    async fn update_role(
        &self,
        request: Request<pb::UpdateRoleRequest>,
    ) -> Result<Response<pb::CustomRole>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let tenant_id = self
                .shared
                .user_ctx(&request, Some(ROLES_WRITE))
                .await?
                .tenant_id;
            let r = request.into_inner();
            let paths = mask_paths(r.update_mask, UPDATABLE)?;
            let role = r
                .role
                .ok_or_else(|| Error::invalid("role", "is required"))?;
            let id = parse_id("role.id", &role.id)?;
            let mut v = Violations::new();
            let mut patch = RolePatch::default();
            for path in &paths {
                match path.as_str() {
                    "name" => {
                        patch.name =
                            v.check("role.name", parse_display_name(&role.name, MAX_NAME_LEN))
                    }
                    "description" => {
                        patch.description = check_description(&mut v, &role.description)
                    }
                    "permissions" => {
                        patch.permissions = check_permissions(&mut v, &role.permissions)
                    }
                    _ => {}
                }
            }
            v.finish().map_err(Error::from)?;
            let updated = self
                .shared
                .store
                .update_role(tenant_id, id, patch)
                .await?
                .ok_or(Error::NotFound("role"))?;
            Ok(Response::new(convert::custom_role(updated)))
        })
        .await
    }

    async fn delete_role(
        &self,
        request: Request<pb::DeleteRoleRequest>,
    ) -> Result<Response<()>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let tenant_id = self
                .shared
                .user_ctx(&request, Some(ROLES_WRITE))
                .await?
                .tenant_id;
            let id = parse_id("id", &request.get_ref().id)?;
            if !self.shared.store.delete_role(tenant_id, id).await? {
                return Err(Error::NotFound("role").into());
            }
            Ok(Response::new(()))
        })
        .await
    }
}
