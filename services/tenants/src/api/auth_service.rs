//! Login, refresh-token rotation, logout, the public key set, and service tokens.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use proto::tenants as pb;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::Shared;
use crate::domain::Violations;
use crate::domain::email::Email;
use crate::domain::lockout;
use crate::domain::slug::Slug;
use crate::domain::tenant::TenantStatus;
use crate::domain::user::{User, extra_permissions};
use crate::error::{Error, Result};
use crate::store::{NewRefreshToken, RotateOutcome};

const REFRESH_PREFIX: &str = "rt1";
const TOKEN_TYPE: &str = "Bearer";

pub struct AuthApi {
    shared: Arc<Shared>,
}

impl AuthApi {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn login(&self, r: pb::LoginRequest) -> Result<pb::LoginResponse> {
        let mut v = Violations::new();
        let slug = v.check("tenant_slug", Slug::parse(&r.tenant_slug));
        let email = v.check("email", Email::parse(&r.email));
        if r.password.is_empty() {
            v.add("password", "is required");
        }
        v.finish()?;
        let (Some(slug), Some(email)) = (slug, email) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let store = &self.shared.store;

        let tenant = store
            .tenant_by_slug(slug.as_str())
            .await?
            .filter(|t| t.status == TenantStatus::Active);
        let credentials = match &tenant {
            Some(t) => store.credentials(t.id, email).await?,
            None => None,
        };
        let now = Utc::now();
        let Some(credentials) = credentials
            .filter(|c| c.user.active && c.locked_until.is_none_or(|until| until <= now))
        else {
            // Same work and the same answer whether the tenant, the user or the lock was the reason.
            self.shared.verify_password(r.password, None).await?;
            return Err(auth::AuthError::Invalid.into());
        };
        let user = credentials.user;
        if !self
            .shared
            .verify_password(r.password, Some(credentials.password_hash))
            .await?
        {
            let failures = store.record_login_failure(user.tenant_id, user.id).await?;
            if let Some(lock) = lockout::lock_for(failures) {
                let until = now + chrono::Duration::from_std(lock).unwrap_or_default();
                store.lock_user(user.tenant_id, user.id, until).await?;
                tracing::warn!(tenant_id = %user.tenant_id, user_id = %user.id, failures, "account locked after failed logins");
            }
            return Err(auth::AuthError::Invalid.into());
        }

        let (refresh_token, record) =
            self.new_refresh_token(user.tenant_id, user.id, Uuid::now_v7());
        store.record_login_success(user.tenant_id, record).await?;
        let access_token = self.access_token(&user).await?;
        tracing::info!(tenant_id = %user.tenant_id, user_id = %user.id, "login");
        Ok(pb::LoginResponse {
            access_token,
            refresh_token,
            expires_in: self.expires_in(),
            token_type: TOKEN_TYPE.to_owned(),
        })
    }

    async fn refresh(&self, r: pb::RefreshRequest) -> Result<pb::RefreshResponse> {
        if r.refresh_token.is_empty() {
            return Err(Error::invalid("refresh_token", "is required"));
        }
        let tenant_id = parse_refresh_token(&r.refresh_token).ok_or(auth::AuthError::Invalid)?;
        let active = self
            .shared
            .store
            .tenant(tenant_id)
            .await?
            .is_some_and(|t| t.status == TenantStatus::Active);
        if !active {
            return Err(auth::AuthError::Invalid.into());
        }
        // The family and user are the presented token's; the store fills them in.
        let (refresh_token, next) = self.new_refresh_token(tenant_id, Uuid::nil(), Uuid::nil());
        let outcome = self
            .shared
            .store
            .rotate_refresh_token(tenant_id, hash_token(&r.refresh_token), next)
            .await?;
        match outcome {
            RotateOutcome::Rotated { user } => Ok(pb::RefreshResponse {
                access_token: self.access_token(&user).await?,
                refresh_token,
                expires_in: self.expires_in(),
                token_type: TOKEN_TYPE.to_owned(),
            }),
            RotateOutcome::Reused => {
                tracing::warn!(%tenant_id, "rotated refresh token presented again; session revoked");
                Err(auth::AuthError::Invalid.into())
            }
            RotateOutcome::Invalid => Err(auth::AuthError::Invalid.into()),
        }
    }

    async fn logout(&self, r: pb::LogoutRequest) -> Result<()> {
        if r.refresh_token.is_empty() {
            return Err(Error::invalid("refresh_token", "is required"));
        }
        // Logging out an unknown or already revoked token is a no-op, not an error.
        if let Some(tenant_id) = parse_refresh_token(&r.refresh_token) {
            self.shared
                .store
                .revoke_refresh_family(tenant_id, hash_token(&r.refresh_token))
                .await?;
        }
        Ok(())
    }

    /// A service token for a configured service in an active tenant (see `domain::service_account`
    /// and `auth::service`).
    async fn issue_service_token(
        &self,
        r: pb::IssueServiceTokenRequest,
    ) -> Result<pb::IssueServiceTokenResponse> {
        let mut v = Violations::new();
        if r.service.is_empty() {
            v.add("service", "is required");
        }
        if r.service_secret.is_empty() {
            v.add("service_secret", "is required");
        }
        let tenant_id = v.check(
            "tenant_id",
            if r.tenant_id.is_empty() {
                Err("is required")
            } else {
                Uuid::parse_str(&r.tenant_id).map_err(|_| "must be a UUID")
            },
        );
        v.finish()?;
        let Some(tenant_id) = tenant_id else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let Some(account) = self
            .shared
            .service_accounts
            .authenticate(&r.service, &r.service_secret)
        else {
            tracing::warn!(service = %r.service, "service token refused: unknown service or wrong secret");
            return Err(auth::AuthError::Invalid.into());
        };
        // The secret is verified: from here on the service may learn why it is refused.
        let tenant = self
            .shared
            .store
            .tenant(tenant_id)
            .await?
            .ok_or(Error::NotFound("tenant"))?;
        if tenant.status != TenantStatus::Active {
            return Err(Error::FailedPrecondition(
                "the tenant is suspended".to_owned(),
            ));
        }
        let lifetime = i64::try_from(self.shared.lifetimes.service.as_secs()).unwrap_or(i64::MAX);
        let permissions: Vec<String> = account
            .permissions
            .iter()
            .map(|p| p.name.to_owned())
            .collect();
        let now = Utc::now().timestamp();
        let claims = auth::token::ServiceClaims {
            iss: auth::token::ISSUER.to_owned(),
            aud: auth::token::AUDIENCE.to_owned(),
            sub: account.name.subject(),
            kind: auth::token::SERVICE_KIND.to_owned(),
            tid: tenant_id,
            perms: permissions.clone(),
            iat: now,
            exp: now.saturating_add(lifetime),
            jti: Uuid::now_v7(),
        };
        let access_token = self.shared.signer.sign(&claims)?;
        tracing::info!(service = %account.name, %tenant_id, "service token issued");
        Ok(pb::IssueServiceTokenResponse {
            access_token,
            expires_in: lifetime,
            token_type: TOKEN_TYPE.to_owned(),
            permissions,
        })
    }

    fn expires_in(&self) -> i64 {
        i64::try_from(self.shared.lifetimes.access.as_secs()).unwrap_or(i64::MAX)
    }

    async fn access_token(&self, user: &User) -> Result<String> {
        let custom = self
            .shared
            .store
            .custom_role_permissions(user.tenant_id, user.custom_role_ids.clone())
            .await?;
        let now = Utc::now().timestamp();
        let claims = auth::token::Claims {
            iss: auth::token::ISSUER.to_owned(),
            aud: auth::token::AUDIENCE.to_owned(),
            sub: user.id,
            tid: user.tenant_id,
            role: user.role.as_str().to_owned(),
            perms: extra_permissions(user.role, &custom),
            iat: now,
            exp: now + self.expires_in(),
            jti: Uuid::now_v7(),
        };
        Ok(self.shared.signer.sign(&claims)?)
    }

    fn new_refresh_token(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        family_id: Uuid,
    ) -> (String, NewRefreshToken) {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!(
            "{REFRESH_PREFIX}.{}.{}",
            tenant_id.simple(),
            URL_SAFE_NO_PAD.encode(secret)
        );
        let record = NewRefreshToken {
            id: Uuid::now_v7(),
            family_id,
            user_id,
            token_hash: hash_token(&token),
            expires_at: Utc::now()
                + chrono::Duration::from_std(self.shared.lifetimes.refresh).unwrap_or_default(),
        };
        (token, record)
    }
}

/// Refresh tokens name their tenant so the lookup can run under that tenant's RLS.
fn parse_refresh_token(token: &str) -> Option<Uuid> {
    let mut parts = token.split('.');
    let (Some(REFRESH_PREFIX), Some(tenant), Some(secret), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if secret.len() != 43 {
        return None;
    }
    Uuid::parse_str(tenant).ok()
}

fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[tonic::async_trait]
impl pb::auth_service_server::AuthService for AuthApi {
    #[tracing::instrument(skip_all, fields(tenant_slug = %request.get_ref().tenant_slug))]
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        // Logins and failed logins are audit events, with the client's address and agent.
        let context = crate::audit::context_of(&request);
        Ok(Response::new(
            crate::audit::scope(context, AuthApi::login(self, request.into_inner())).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Ok(Response::new(
            AuthApi::refresh(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn logout(&self, request: Request<pb::LogoutRequest>) -> Result<Response<()>, Status> {
        AuthApi::logout(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all, fields(service = %request.get_ref().service))]
    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        Ok(Response::new(
            AuthApi::issue_service_token(self, request.into_inner()).await?,
        ))
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        let keys = self
            .shared
            .jwks
            .iter()
            .map(|k| pb::Jwk {
                kid: k.kid.clone(),
                kty: k.kty.clone(),
                crv: k.crv.clone(),
                x: k.x.clone(),
                alg: k.alg.clone(),
                r#use: k.use_.clone(),
            })
            .collect();
        Ok(Response::new(pb::GetJwksResponse { keys }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::TokenLifetimes;
    use crate::domain::password::{HashParams, Password, PasswordHasher};
    use crate::domain::service_account::{ServiceAccountSpec, ServiceAccounts};
    use crate::domain::settings::TenantSettings;
    use crate::domain::tenant::Tenant;
    use crate::domain::user::Credentials;
    use crate::store::MockStore;

    const PASSWORD: &str = "correct horse 42";

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .expect("params")
    }

    fn tenant(status: TenantStatus) -> Tenant {
        Tenant {
            id: Uuid::now_v7(),
            slug: "acme".into(),
            display_name: "Acme".into(),
            plan: "starter".into(),
            status,
            settings: TenantSettings::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn credentials(tenant_id: Uuid, locked_until: Option<chrono::DateTime<Utc>>) -> Credentials {
        let hash = hasher()
            .hash(&Password::parse(PASSWORD).expect("valid"))
            .expect("hash");
        Credentials {
            user: User {
                id: Uuid::now_v7(),
                tenant_id,
                email: "ann@acme.test".into(),
                display_name: "Ann".into(),
                role: auth::BuiltinRole::Admin,
                custom_role_ids: vec![],
                manager_id: None,
                active: true,
                created_at: Utc::now(),
                updated_at: Utc::now(),
                last_login_at: None,
            },
            password_hash: hash,
            locked_until,
        }
    }

    fn api(store: MockStore) -> AuthApi {
        api_with_services(store, ServiceAccounts::default())
    }

    const ENGAGEMENT_SECRET: &str = "engagement-secret-0123456789abcdef";

    fn engagement() -> ServiceAccounts {
        let specs = std::collections::HashMap::from([(
            "engagement".to_owned(),
            ServiceAccountSpec {
                secret: ENGAGEMENT_SECRET.to_owned(),
                permissions: vec!["crm.cases.write".to_owned(), "crm.deals.read".to_owned()],
            },
        )]);
        ServiceAccounts::parse(&specs).expect("valid accounts")
    }

    fn api_with_services(store: MockStore, service_accounts: ServiceAccounts) -> AuthApi {
        let signer = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        let jwks = vec![signer.jwk().clone()];
        AuthApi::new(Arc::new(Shared {
            store: Arc::new(store),
            hasher: crate::hashing::HashingPool::start(hasher(), 1).expect("hashing thread"),
            signer,
            jwks,
            lifetimes: TokenLifetimes {
                access: Duration::from_secs(900),
                refresh: Duration::from_secs(86400),
                service: Duration::from_secs(300),
            },
            service_accounts,
        }))
    }

    fn service_request(
        service: &str,
        secret: &str,
        tenant_id: Uuid,
    ) -> pb::IssueServiceTokenRequest {
        pb::IssueServiceTokenRequest {
            service: service.into(),
            service_secret: secret.into(),
            tenant_id: tenant_id.to_string(),
        }
    }

    #[tokio::test]
    async fn a_service_token_carries_the_service_the_tenant_and_only_its_permissions() {
        let t = tenant(TenantStatus::Active);
        let tenant_id = t.id;
        let mut store = MockStore::new();
        store
            .expect_tenant()
            .withf(move |id| *id == tenant_id)
            .returning(move |_| Ok(Some(t.clone())));
        let api = api_with_services(store, engagement());
        let issued = api
            .issue_service_token(service_request("engagement", ENGAGEMENT_SECRET, tenant_id))
            .await
            .expect("issued");
        assert_eq!(issued.expires_in, 300);
        assert_eq!(issued.permissions, ["crm.cases.write", "crm.deals.read"]);
        let verifier = auth::token::Verifier::from_jwks(&api.shared.jwks).expect("jwks");
        let auth::token::Verified::Service(claims) = verifier
            .verify_any(&issued.access_token)
            .expect("valid token")
        else {
            panic!("a service token must verify as a service");
        };
        assert_eq!(claims.sub, "service:engagement");
        assert_eq!(claims.tid, tenant_id);
        assert_eq!(claims.perms, issued.permissions);
        // Never usable where a user token is expected (the gateway's check).
        assert!(verifier.verify(&issued.access_token).is_err());
    }

    #[tokio::test]
    async fn an_unknown_service_and_a_wrong_secret_look_the_same() {
        let mut store = MockStore::new();
        store.expect_tenant().never();
        let api = api_with_services(store, engagement());
        let tenant_id = Uuid::now_v7();
        let unknown = api
            .issue_service_token(service_request("telephony", ENGAGEMENT_SECRET, tenant_id))
            .await
            .expect_err("unknown service");
        let wrong = api
            .issue_service_token(service_request("engagement", "not-the-secret", tenant_id))
            .await
            .expect_err("wrong secret");
        let (a, b) = (Status::from(unknown), Status::from(wrong));
        assert_eq!((a.code(), a.message()), (b.code(), b.message()));
        assert_eq!(a.code(), tonic::Code::Unauthenticated);
    }

    #[tokio::test]
    async fn a_suspended_tenant_gets_no_service_token() {
        let t = tenant(TenantStatus::Suspended);
        let tenant_id = t.id;
        let mut store = MockStore::new();
        store
            .expect_tenant()
            .returning(move |_| Ok(Some(t.clone())));
        let err = api_with_services(store, engagement())
            .issue_service_token(service_request("engagement", ENGAGEMENT_SECRET, tenant_id))
            .await
            .expect_err("suspended");
        assert_eq!(Status::from(err).code(), tonic::Code::FailedPrecondition);
    }

    #[tokio::test]
    async fn a_malformed_service_token_request_names_the_fields() {
        let err = api_with_services(MockStore::new(), engagement())
            .issue_service_token(pb::IssueServiceTokenRequest {
                service: String::new(),
                service_secret: String::new(),
                tenant_id: "nope".into(),
            })
            .await
            .expect_err("invalid");
        let Error::InvalidArgument(violations) = err else {
            panic!("expected InvalidArgument, got {err:?}")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["service", "service_secret", "tenant_id"]);
    }

    use auth::token::Signer;

    fn login_request(password: &str) -> pb::LoginRequest {
        pb::LoginRequest {
            tenant_slug: "acme".into(),
            email: "Ann@Acme.test".into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn correct_password_issues_a_verifiable_token_pair() {
        let t = tenant(TenantStatus::Active);
        let creds = credentials(t.id, None);
        let user_id = creds.user.id;
        let mut store = MockStore::new();
        store
            .expect_tenant_by_slug()
            .returning(move |_| Ok(Some(t.clone())));
        store
            .expect_credentials()
            .withf(|_, email| email.as_str() == "ann@acme.test")
            .returning(move |_, _| Ok(Some(creds.clone())));
        store
            .expect_record_login_success()
            .withf(move |_, token| token.user_id == user_id)
            .times(1)
            .returning(|_, _| Ok(()));
        store
            .expect_custom_role_permissions()
            .returning(|_, _| Ok(vec![]));
        let api = api(store);
        let response = api
            .login(login_request(PASSWORD))
            .await
            .expect("login succeeds");
        let verifier = auth::token::Verifier::from_jwks(&api.shared.jwks).expect("jwks");
        let claims = verifier
            .verify(&response.access_token)
            .expect("token verifies");
        assert_eq!(claims.sub, user_id);
        assert_eq!(response.expires_in, 900);
        assert!(parse_refresh_token(&response.refresh_token).is_some());
    }

    #[tokio::test]
    async fn wrong_password_is_generic_and_counts_a_failure() {
        let t = tenant(TenantStatus::Active);
        let creds = credentials(t.id, None);
        let mut store = MockStore::new();
        store
            .expect_tenant_by_slug()
            .returning(move |_| Ok(Some(t.clone())));
        store
            .expect_credentials()
            .returning(move |_, _| Ok(Some(creds.clone())));
        store
            .expect_record_login_failure()
            .times(1)
            .returning(|_, _| Ok(1));
        store.expect_lock_user().never();
        let err = api(store)
            .login(login_request("wrong horse 42"))
            .await
            .expect_err("refused");
        assert_eq!(Status::from(err).code(), tonic::Code::Unauthenticated);
    }

    #[tokio::test]
    async fn fifth_failure_locks_the_account() {
        let t = tenant(TenantStatus::Active);
        let creds = credentials(t.id, None);
        let mut store = MockStore::new();
        store
            .expect_tenant_by_slug()
            .returning(move |_| Ok(Some(t.clone())));
        store
            .expect_credentials()
            .returning(move |_, _| Ok(Some(creds.clone())));
        store
            .expect_record_login_failure()
            .returning(|_, _| Ok(lockout::FREE_ATTEMPTS));
        store
            .expect_lock_user()
            .withf(|_, _, until| *until > Utc::now() + chrono::Duration::seconds(25))
            .times(1)
            .returning(|_, _, _| Ok(()));
        let err = api(store)
            .login(login_request("wrong horse 42"))
            .await
            .expect_err("refused");
        assert_eq!(Status::from(err).code(), tonic::Code::Unauthenticated);
    }

    #[tokio::test]
    async fn locked_account_refuses_even_the_right_password() {
        let t = tenant(TenantStatus::Active);
        let creds = credentials(t.id, Some(Utc::now() + chrono::Duration::seconds(60)));
        let mut store = MockStore::new();
        store
            .expect_tenant_by_slug()
            .returning(move |_| Ok(Some(t.clone())));
        store
            .expect_credentials()
            .returning(move |_, _| Ok(Some(creds.clone())));
        store.expect_record_login_success().never();
        let err = api(store)
            .login(login_request(PASSWORD))
            .await
            .expect_err("refused");
        assert_eq!(Status::from(err).code(), tonic::Code::Unauthenticated);
    }

    #[tokio::test]
    async fn unknown_tenant_and_suspended_tenant_look_the_same() {
        let mut store = MockStore::new();
        store.expect_tenant_by_slug().returning(|_| Ok(None));
        let unknown = api(store)
            .login(login_request(PASSWORD))
            .await
            .expect_err("refused");

        let t = tenant(TenantStatus::Suspended);
        let mut store = MockStore::new();
        store
            .expect_tenant_by_slug()
            .returning(move |_| Ok(Some(t.clone())));
        store.expect_credentials().never();
        let suspended = api(store)
            .login(login_request(PASSWORD))
            .await
            .expect_err("refused");

        let (a, b) = (Status::from(unknown), Status::from(suspended));
        assert_eq!((a.code(), a.message()), (b.code(), b.message()));
        assert_eq!(a.code(), tonic::Code::Unauthenticated);
    }

    #[tokio::test]
    async fn malformed_login_names_the_fields() {
        let store = MockStore::new();
        let err = api(store)
            .login(pb::LoginRequest {
                tenant_slug: "A".into(),
                email: "nope".into(),
                password: String::new(),
            })
            .await
            .expect_err("invalid");
        let Error::InvalidArgument(violations) = err else {
            panic!("expected InvalidArgument, got {err:?}")
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["tenant_slug", "email", "password"]);
    }

    #[tokio::test]
    async fn reused_refresh_token_is_refused() {
        let t = tenant(TenantStatus::Active);
        let token = format!("rt1.{}.{}", t.id.simple(), "a".repeat(43));
        let mut store = MockStore::new();
        store
            .expect_tenant()
            .returning(move |_| Ok(Some(t.clone())));
        store
            .expect_rotate_refresh_token()
            .returning(|_, _, _| Ok(RotateOutcome::Reused));
        let err = api(store)
            .refresh(pb::RefreshRequest {
                refresh_token: token,
            })
            .await
            .expect_err("refused");
        assert_eq!(Status::from(err).code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn refresh_tokens_must_have_the_expected_shape() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_refresh_token(&format!("rt1.{}.{}", id.simple(), "b".repeat(43))),
            Some(id)
        );
        assert_eq!(parse_refresh_token("rt1.zzz.abc"), None);
        assert_eq!(
            parse_refresh_token(&format!("rt2.{}.{}", id.simple(), "b".repeat(43))),
            None
        );
        assert_eq!(parse_refresh_token(""), None);
    }
}
