//! User management within the caller's tenant.

use std::sync::Arc;

use auth::permissions::{USERS_READ, USERS_WRITE};
use db::{PageSize, PageToken};
use proto::tenants as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{self, parse_role};
use super::{Shared, mask_paths, parse_id};
use crate::domain::Violations;
use crate::domain::email::Email;
use crate::domain::filter::{OrderField, parse_filter, parse_order};
use crate::domain::password::Password;
use crate::domain::tenant::parse_display_name;
use crate::domain::user::{MAX_DISPLAY_NAME_LEN, NewUser, UserPatch, creates_management_cycle};
use crate::error::{Error, Result};
use crate::store::UserQuery;

const UPDATABLE: &[&str] = &[
    "display_name",
    "email",
    "role",
    "manager_id",
    "custom_role_ids",
];

pub struct UserApi {
    shared: Arc<Shared>,
}

impl UserApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn create(&self, tenant_id: Uuid, r: pb::CreateUserRequest) -> Result<pb::User> {
        let mut v = Violations::new();
        let email = v.check("email", Email::parse(&r.email));
        let password = v.check("password", Password::parse(&r.password));
        let display_name = v.check(
            "display_name",
            parse_display_name(&r.display_name, MAX_DISPLAY_NAME_LEN),
        );
        let role = v.check("role", parse_role(r.role));
        let manager_id = v.check("manager_id", optional_id(&r.manager_id)).flatten();
        let custom_role_ids = v.check("custom_role_ids", ids(&r.custom_role_ids));
        v.finish()?;
        let (Some(email), Some(password), Some(display_name), Some(role), Some(custom_role_ids)) =
            (email, password, display_name, role, custom_role_ids)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        if let Some(manager) = manager_id {
            self.ensure_manager(tenant_id, manager).await?;
        }
        let password_hash = self.shared.hash_password(password).await?;
        let user = self
            .shared
            .store
            .create_user(
                tenant_id,
                NewUser {
                    id: Uuid::now_v7(),
                    email,
                    display_name,
                    role,
                    manager_id,
                    custom_role_ids,
                    password_hash,
                },
            )
            .await?;
        tracing::info!(%tenant_id, user_id = %user.id, "user created");
        Ok(convert::user(user))
    }

    async fn ensure_manager(&self, tenant_id: Uuid, manager: Uuid) -> Result<()> {
        match self.shared.store.user(tenant_id, manager).await? {
            Some(m) if m.active => Ok(()),
            Some(_) => Err(Error::invalid("manager_id", "is deactivated")),
            None => Err(Error::invalid("manager_id", "no such user in this tenant")),
        }
    }

    async fn list(
        &self,
        tenant_id: Uuid,
        r: pb::ListUsersRequest,
    ) -> Result<pb::ListUsersResponse> {
        let mut v = Violations::new();
        let page_size = v.check("page_size", PageSize::parse(r.page_size));
        let conditions = v.check("filter", parse_filter(&r.filter));
        let order = v.check("order_by", parse_order(&r.order_by));
        v.finish()?;
        let (Some(page_size), Some(conditions), Some(order)) = (page_size, conditions, order)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let pages =
            PageToken::for_query(&format!("users|{}|{}", r.filter.trim(), r.order_by.trim()));
        let after: Option<(String, Uuid)> = pages
            .decode(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let mut users = self
            .shared
            .store
            .list_users(
                tenant_id,
                UserQuery {
                    conditions,
                    order,
                    after,
                    limit: page_size.fetch_limit(),
                },
            )
            .await?;
        let next_page_token = if users.len() > page_size.get() as usize {
            users.truncate(page_size.get() as usize);
            users.last().map(|last| {
                let key = match order.field {
                    OrderField::CreateTime => last
                        .created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    OrderField::Email => last.email.clone(),
                    OrderField::DisplayName => last.display_name.clone(),
                };
                pages.encode(&(key, last.id))
            })
        } else {
            None
        };
        Ok(pb::ListUsersResponse {
            users: users.into_iter().map(convert::user).collect(),
            next_page_token: next_page_token.unwrap_or_default(),
        })
    }

    async fn update(&self, tenant_id: Uuid, r: pb::UpdateUserRequest) -> Result<pb::User> {
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let user = r
            .user
            .ok_or_else(|| Error::invalid("user", "is required"))?;
        let id = parse_id("user.id", &user.id)?;
        let mut v = Violations::new();
        let mut patch = UserPatch::default();
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    patch.display_name = v.check(
                        "user.display_name",
                        parse_display_name(&user.display_name, MAX_DISPLAY_NAME_LEN),
                    );
                }
                "email" => patch.email = v.check("user.email", Email::parse(&user.email)),
                "role" => patch.role = v.check("user.role", parse_role(user.role)),
                "manager_id" => {
                    patch.manager_id = v.check("user.manager_id", optional_id(&user.manager_id))
                }
                "custom_role_ids" => {
                    patch.custom_role_ids =
                        v.check("user.custom_role_ids", ids(&user.custom_role_ids))
                }
                _ => {}
            }
        }
        v.finish()?;
        if let Some(Some(manager)) = patch.manager_id {
            self.ensure_manager(tenant_id, manager).await.map_err(|_| {
                Error::invalid("user.manager_id", "no such active user in this tenant")
            })?;
            let chain = self
                .shared
                .store
                .management_chain(tenant_id, manager)
                .await?;
            if creates_management_cycle(id, manager, &chain) {
                return Err(Error::invalid(
                    "user.manager_id",
                    "would make the user manage themselves",
                ));
            }
        }
        let updated = self
            .shared
            .store
            .update_user(tenant_id, id, patch)
            .await?
            .ok_or(Error::NotFound("user"))?;
        Ok(convert::user(updated))
    }
}

fn optional_id(raw: &str) -> Result<Option<Uuid>, &'static str> {
    if raw.is_empty() {
        Ok(None)
    } else {
        Uuid::parse_str(raw).map(Some).map_err(|_| "must be a UUID")
    }
}

fn ids(raw: &[String]) -> Result<Vec<Uuid>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| Uuid::parse_str(s).map_err(|_| format!("entry {i} is not a UUID")))
        .collect()
}

#[tonic::async_trait]
impl pb::user_service_server::UserService for UserApi {
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let ctx = self.shared.user_ctx(&request, Some(USERS_WRITE)).await?;
            let tenant_id = ctx.tenant_id;
            Ok(Response::new(
                self.create(tenant_id, request.into_inner()).await?,
            ))
        })
        .await
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let ctx = self.shared.user_ctx(&request, None).await?;
        let id = parse_id("id", &request.get_ref().id)?;
        // Everyone may read themselves; reading others needs users.read.
        if id != ctx.user_id {
            ctx.require(USERS_READ)?;
        }
        let user = self
            .shared
            .store
            .user(ctx.tenant_id, id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        Ok(Response::new(convert::user(user)))
    }

    async fn get_current_user(
        &self,
        request: Request<pb::GetCurrentUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let ctx = self.shared.user_ctx(&request, None).await?;
        let user = self
            .shared
            .store
            .user(ctx.tenant_id, ctx.user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        Ok(Response::new(convert::user(user)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let ctx = self.shared.user_ctx(&request, Some(USERS_READ)).await?;
        let tenant_id = ctx.tenant_id;
        Ok(Response::new(
            self.list(tenant_id, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let ctx = self.shared.user_ctx(&request, Some(USERS_WRITE)).await?;
            let tenant_id = ctx.tenant_id;
            Ok(Response::new(
                self.update(tenant_id, request.into_inner()).await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn deactivate_user(
        &self,
        request: Request<pb::DeactivateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let ctx = self.shared.user_ctx(&request, Some(USERS_WRITE)).await?;
            let id = parse_id("id", &request.get_ref().id)?;
            let user = self
                .shared
                .store
                .deactivate_user(ctx.tenant_id, id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            tracing::info!(tenant_id = %ctx.tenant_id, user_id = %id, "user deactivated");
            Ok(Response::new(convert::user(user)))
        })
        .await
    }

    #[tracing::instrument(skip_all)]
    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<()>, Status> {
        let context = crate::audit::context_of(&request);
        crate::audit::rpc(context, async move {
            let ctx = self.shared.user_ctx(&request, None).await?;
            let (tenant_id, user_id) = (ctx.tenant_id, ctx.user_id);
            let r = request.into_inner();
            let mut v = Violations::new();
            if r.old_password.is_empty() {
                v.add("old_password", "is required");
            }
            let new_password = v.check("new_password", Password::parse(&r.new_password));
            if !r.old_password.is_empty() && r.old_password == r.new_password {
                v.add("new_password", "must differ from the old password");
            }
            v.finish().map_err(Error::from)?;
            let Some(new_password) = new_password else {
                return Err(Error::Internal("validated fields missing".to_owned()).into());
            };
            let credentials = self
                .shared
                .store
                .credentials_by_id(tenant_id, user_id)
                .await?
                .ok_or(auth::AuthError::Invalid)?;
            if !self
                .shared
                .verify_password(r.old_password, Some(credentials.password_hash))
                .await?
            {
                return Err(
                    Error::invalid("old_password", "does not match the current password").into(),
                );
            }
            let hash = self.shared.hash_password(new_password).await?;
            self.shared
                .store
                .set_password(tenant_id, user_id, hash)
                .await?;
            tracing::info!(%tenant_id, %user_id, "password changed");
            Ok(Response::new(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use auth::token::Signer;

    use super::*;
    use crate::api::TokenLifetimes;
    use crate::domain::password::{HashParams, PasswordHasher};
    use crate::store::MockStore;

    fn api(store: MockStore) -> UserApi {
        let signer = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        UserApi::new(Arc::new(Shared {
            store: Arc::new(store),
            hasher: crate::hashing::HashingPool::start(
                PasswordHasher::new(HashParams {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                })
                .expect("params"),
                1,
            )
            .expect("hashing thread"),
            jwks: vec![signer.jwk().clone()],
            signer,
            lifetimes: TokenLifetimes {
                access: Duration::from_secs(60),
                refresh: Duration::from_secs(60),
                service: Duration::from_secs(60),
            },
            service_accounts: Default::default(),
        }))
    }

    fn violations(err: Error) -> Vec<String> {
        match err {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn create_rejects_every_bad_field_at_once_without_touching_the_store() {
        let mut store = MockStore::new();
        store.expect_create_user().never();
        let err = api(store)
            .create(
                Uuid::now_v7(),
                pb::CreateUserRequest {
                    email: "not-an-email".into(),
                    password: "short".into(),
                    display_name: " ".into(),
                    role: 42,
                    manager_id: "nope".into(),
                    custom_role_ids: vec!["x".into()],
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            violations(err),
            [
                "email",
                "password",
                "display_name",
                "role",
                "manager_id",
                "custom_role_ids"
            ]
        );
    }

    #[tokio::test]
    async fn list_validates_page_size_filter_and_order() {
        let mut store = MockStore::new();
        store.expect_list_users().never();
        let err = api(store)
            .list(
                Uuid::now_v7(),
                pb::ListUsersRequest {
                    page_size: 5000,
                    page_token: String::new(),
                    filter: "shoe_size = 9".into(),
                    order_by: "password".into(),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(violations(err), ["page_size", "filter", "order_by"]);
    }

    #[tokio::test]
    async fn update_requires_a_valid_mask() {
        let store = MockStore::new();
        let api = api(store);
        let user = Some(pb::User {
            id: Uuid::now_v7().to_string(),
            ..Default::default()
        });
        let err = api
            .update(
                Uuid::now_v7(),
                pb::UpdateUserRequest {
                    user: user.clone(),
                    update_mask: None,
                },
            )
            .await
            .expect_err("no mask");
        assert_eq!(violations(err), ["update_mask"]);
        let err = api
            .update(
                Uuid::now_v7(),
                pb::UpdateUserRequest {
                    user,
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["password_hash".into()],
                    }),
                },
            )
            .await
            .expect_err("bad path");
        assert_eq!(violations(err), ["update_mask"]);
    }

    #[tokio::test]
    async fn a_user_cannot_become_their_own_managers_manager() {
        let (tenant, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut store = MockStore::new();
        store.expect_user().returning(move |t, id| {
            Ok(Some(crate::domain::user::User {
                id,
                tenant_id: t,
                email: "m@acme.test".into(),
                display_name: "M".into(),
                role: auth::BuiltinRole::Manager,
                custom_role_ids: vec![],
                manager_id: None,
                active: true,
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
                last_login_at: None,
            }))
        });
        // b already reports to a.
        store
            .expect_management_chain()
            .returning(move |_, _| Ok(vec![a]));
        store.expect_update_user().never();
        let err = api(store)
            .update(
                tenant,
                pb::UpdateUserRequest {
                    user: Some(pb::User {
                        id: a.to_string(),
                        manager_id: b.to_string(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["manager_id".into()],
                    }),
                },
            )
            .await
            .expect_err("cycle");
        assert_eq!(violations(err), ["user.manager_id"]);
    }
}
