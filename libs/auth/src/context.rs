//! The caller of a gRPC request, established once by an interceptor from the `authorization`
//! metadata and read by handlers from the request extensions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::AuthError;
use crate::permissions::{self, BuiltinRole, Permission};
use crate::service::{Actor, ServiceName};
use crate::token::{Claims, ServiceClaims, Verified, Verifier};

/// A verified tenant user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: BuiltinRole,
    /// Extra permissions from custom roles.
    pub extra_permissions: HashSet<String>,
    pub token_id: Uuid,
    pub expires_at: i64,
}

impl RequestContext {
    pub fn from_claims(claims: Claims) -> Result<Self, AuthError> {
        let role = BuiltinRole::parse(&claims.role).ok_or(AuthError::Invalid)?;
        Ok(Self {
            tenant_id: claims.tid,
            user_id: claims.sub,
            role,
            extra_permissions: claims.perms.into_iter().collect(),
            token_id: claims.jti,
            expires_at: claims.exp,
        })
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.role.grants(permission) || self.extra_permissions.contains(permission.name)
    }

    /// Fails with PERMISSION_DENIED naming the missing permission.
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(permission.name))
        }
    }

    /// Every permission this caller holds, for display.
    pub fn permissions(&self) -> Vec<&'static str> {
        permissions::ALL
            .iter()
            .filter(|p| self.has(**p))
            .map(|p| p.name)
            .collect()
    }
}

/// A verified service acting in one tenant (see [`crate::service`]). It holds exactly the
/// permissions its token lists: no role adds to them, and no permission check passes on a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceContext {
    pub tenant_id: Uuid,
    pub service: ServiceName,
    pub permissions: HashSet<String>,
    pub token_id: Uuid,
    pub expires_at: i64,
}

impl ServiceContext {
    pub fn from_claims(claims: ServiceClaims) -> Result<Self, AuthError> {
        let service = ServiceName::from_subject(&claims.sub).ok_or(AuthError::Invalid)?;
        Ok(Self {
            tenant_id: claims.tid,
            service,
            permissions: claims.perms.into_iter().collect(),
            token_id: claims.jti,
            expires_at: claims.exp,
        })
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission.name)
    }

    /// Fails with PERMISSION_DENIED naming the missing permission.
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AuthError::Forbidden(permission.name))
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform operator (bearer token from configuration).
    Operator,
    /// A user of one tenant.
    User(RequestContext),
    /// A service acting in one tenant on behalf of no user.
    Service(ServiceContext),
}

impl Caller {
    /// The tenant user; operators and services are refused (PERMISSION_DENIED), so an RPC that
    /// asks for a user never serves a service by accident.
    pub fn user(&self) -> Result<&RequestContext, AuthError> {
        match self {
            Caller::User(ctx) => Ok(ctx),
            Caller::Operator => Err(AuthError::TenantUserOnly),
            Caller::Service(_) => Err(AuthError::UserOnly),
        }
    }

    pub fn service(&self) -> Result<&ServiceContext, AuthError> {
        match self {
            Caller::Service(ctx) => Ok(ctx),
            Caller::Operator => Err(AuthError::TenantUserOnly),
            Caller::User(_) => Err(AuthError::ServiceOnly),
        }
    }

    pub fn require_operator(&self) -> Result<(), AuthError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::User(_) | Caller::Service(_) => Err(AuthError::OperatorOnly),
        }
    }

    /// The tenant a user or service acts in; none for the operator.
    pub fn tenant_id(&self) -> Option<Uuid> {
        match self {
            Caller::Operator => None,
            Caller::User(ctx) => Some(ctx.tenant_id),
            Caller::Service(ctx) => Some(ctx.tenant_id),
        }
    }

    /// Who acts, as recorded in history; none for the operator.
    pub fn actor(&self) -> Option<Actor> {
        match self {
            Caller::Operator => None,
            Caller::User(ctx) => Some(Actor::User(ctx.user_id)),
            Caller::Service(ctx) => Some(Actor::Service(ctx.service)),
        }
    }

    /// Whether a tenant's user (by role or custom role) or service (by its own list) holds
    /// `permission`. The operator holds no tenant permission.
    pub fn has(&self, permission: Permission) -> bool {
        match self {
            Caller::Operator => false,
            Caller::User(ctx) => ctx.has(permission),
            Caller::Service(ctx) => ctx.has(permission),
        }
    }

    /// Fails with PERMISSION_DENIED naming the missing permission (the operator is refused as
    /// acting on tenants, not inside one).
    pub fn require(&self, permission: Permission) -> Result<(), AuthError> {
        match self {
            Caller::Operator => Err(AuthError::TenantUserOnly),
            Caller::User(ctx) => ctx.require(permission),
            Caller::Service(ctx) => ctx.require(permission),
        }
    }

    fn expires_at(&self) -> Option<i64> {
        match self {
            Caller::Operator => None,
            Caller::User(ctx) => Some(ctx.expires_at),
            Caller::Service(ctx) => Some(ctx.expires_at),
        }
    }
}

/// The caller the interceptor attached, or UNAUTHENTICATED when the request carried no
/// credentials.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Caller, AuthError> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or(AuthError::Missing)
}

/// Interceptor that authenticates every request carrying `authorization: Bearer …`. Requests
/// without credentials pass through without a [`Caller`] (login needs none); handlers that need
/// one call [`caller`]. Bad credentials are refused here, before any handler runs.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<RwLock<Verifier>>,
    operator_token: Option<Arc<str>>,
    /// Tokens already verified (users' and services'). An Ed25519 check is a tenth of a record
    /// read's CPU, and a client sends the same token with every request until it expires.
    verified: Arc<Mutex<HashMap<String, Caller>>>,
}

/// Bound on remembered tokens; reaching it clears them (a burst of distinct tokens costs a
/// verification each, never unbounded memory).
const VERIFIED_CAPACITY: usize = 4096;

impl Authenticator {
    pub fn new(verifier: Verifier, operator_token: Option<String>) -> Self {
        Self {
            verifier: Arc::new(RwLock::new(verifier)),
            operator_token: operator_token.filter(|t| !t.is_empty()).map(Arc::from),
            verified: Arc::default(),
        }
    }

    /// Replaces the key set (after a JWKS refresh). Tokens verified with the old set are
    /// verified again, so a withdrawn key stops working at once.
    pub fn set_verifier(&self, verifier: Verifier) {
        if let Ok(mut guard) = self.verifier.write() {
            *guard = verifier;
        }
        if let Ok(mut verified) = self.verified.lock() {
            verified.clear();
        }
    }

    pub fn authenticate(&self, bearer: &str) -> Result<Caller, AuthError> {
        if let Some(expected) = &self.operator_token
            && bool::from(expected.as_bytes().ct_eq(bearer.as_bytes()))
        {
            return Ok(Caller::Operator);
        }
        if let Some(caller) = self.cached(bearer) {
            return Ok(caller);
        }
        let verified = self
            .verifier
            .read()
            .map_err(|_| AuthError::Invalid)?
            .verify_any(bearer)?;
        let caller = match verified {
            Verified::User(claims) => Caller::User(RequestContext::from_claims(claims)?),
            Verified::Service(claims) => Caller::Service(ServiceContext::from_claims(claims)?),
        };
        if let Ok(mut remembered) = self.verified.lock() {
            if remembered.len() >= VERIFIED_CAPACITY {
                remembered.clear();
            }
            remembered.insert(bearer.to_owned(), caller.clone());
        }
        Ok(caller)
    }

    /// A remembered token, while it has not expired (no leeway: the cache is never more lenient
    /// than a fresh verification).
    fn cached(&self, bearer: &str) -> Option<Caller> {
        let verified = self.verified.lock().ok()?;
        let caller = verified.get(bearer)?;
        caller
            .expires_at()
            .is_some_and(|at| at > chrono::Utc::now().timestamp())
            .then(|| caller.clone())
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(value) = request.metadata().get("authorization") else {
            return Ok(request);
        };
        let value = value.to_str().map_err(|_| AuthError::Invalid)?;
        let bearer = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Invalid)?
            .trim();
        let caller = self.authenticate(bearer)?;
        if let Some(tenant_id) = caller.tenant_id() {
            // The server span of the call (runtime's gRPC trace layer) declares this field.
            tracing::Span::current().record("tenant.id", tracing::field::display(tenant_id));
        }
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{AUDIENCE, ISSUER, Signer};
    use tonic::service::Interceptor;

    fn setup() -> (Signer, Authenticator) {
        let signer = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        let verifier = Verifier::from_jwks(&[signer.jwk().clone()]).expect("jwks");
        (
            signer,
            Authenticator::new(verifier, Some("op-secret".into())),
        )
    }

    fn token(signer: &Signer, role: &str, perms: Vec<String>) -> String {
        let now = chrono::Utc::now().timestamp();
        signer
            .sign(&Claims {
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                sub: Uuid::now_v7(),
                tid: Uuid::now_v7(),
                role: role.into(),
                perms,
                iat: now,
                exp: now + 60,
                jti: Uuid::now_v7(),
            })
            .expect("sign")
    }

    fn request(auth: &str) -> tonic::Request<()> {
        let mut request = tonic::Request::new(());
        request
            .metadata_mut()
            .insert("authorization", auth.parse().expect("ascii"));
        request
    }

    #[test]
    fn operator_token_makes_an_operator() {
        let (_, mut authn) = setup();
        let request = authn.call(request("Bearer op-secret")).expect("accepted");
        assert_eq!(caller(&request), Ok(&Caller::Operator));
    }

    #[test]
    fn user_token_makes_a_user_with_role_permissions() {
        let (signer, mut authn) = setup();
        let t = token(&signer, "ROLE_SALES_REP", vec!["users.read".into()]);
        let request = authn
            .call(request(&format!("Bearer {t}")))
            .expect("accepted");
        let ctx = caller(&request).expect("caller").user().expect("user");
        assert!(ctx.has(permissions::TENANT_READ));
        assert!(ctx.has(permissions::USERS_READ), "granted by custom role");
        assert_eq!(
            ctx.require(permissions::USERS_WRITE),
            Err(AuthError::Forbidden("users.write"))
        );
    }

    #[test]
    fn bad_credentials_are_refused_before_the_handler() {
        let (_, mut authn) = setup();
        for bad in ["Bearer nope", "Basic abc", "Bearer op-secretx"] {
            let status = authn.call(request(bad)).expect_err("refused");
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad}");
        }
    }

    #[test]
    fn missing_credentials_pass_without_a_caller() {
        let (_, mut authn) = setup();
        let request = authn.call(tonic::Request::new(())).expect("passes");
        assert_eq!(caller(&request), Err(AuthError::Missing));
    }

    #[test]
    fn a_verified_token_is_remembered_until_the_keys_change() {
        let (signer, authn) = setup();
        let t = token(&signer, "ROLE_ADMIN", vec![]);
        let first = authn.authenticate(&t).expect("verified");
        assert_eq!(authn.authenticate(&t).expect("remembered"), first);
        assert!(authn.cached(&t).is_some());
        // Another key set: the token's key is gone, so the remembered answer must be too.
        let other = Signer::from_pem(&Signer::generate_pem().expect("pem")).expect("key");
        authn.set_verifier(Verifier::from_jwks(&[other.jwk().clone()]).expect("jwks"));
        assert!(authn.cached(&t).is_none());
        assert_eq!(authn.authenticate(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let (signer, authn) = setup();
        let t = token(&signer, "ROLE_ADMIN", vec![]);
        let Caller::User(mut context) = authn.authenticate(&t).expect("verified") else {
            panic!("a user token makes a user");
        };
        // As if the token's lifetime ran out while it sat in the cache.
        context.expires_at = chrono::Utc::now().timestamp() - 1;
        authn
            .verified
            .lock()
            .expect("lock")
            .insert(t.clone(), Caller::User(context));
        assert!(authn.cached(&t).is_none());
    }

    fn service_token(signer: &Signer, name: &str, perms: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        signer
            .sign(&ServiceClaims {
                iss: ISSUER.into(),
                aud: AUDIENCE.into(),
                sub: format!("service:{name}"),
                kind: crate::token::SERVICE_KIND.into(),
                tid: Uuid::now_v7(),
                perms: perms.iter().map(|p| (*p).to_owned()).collect(),
                iat: now,
                exp: now + 60,
                jti: Uuid::now_v7(),
            })
            .expect("sign")
    }

    #[test]
    fn service_token_makes_a_service_holding_only_its_listed_permissions() {
        let (signer, mut authn) = setup();
        let t = service_token(&signer, "engagement", &["crm.cases.write"]);
        let request = authn
            .call(request(&format!("Bearer {t}")))
            .expect("accepted");
        let caller = caller(&request).expect("caller");
        let service = caller.service().expect("a service");
        assert_eq!(service.service.as_str(), "engagement");
        assert!(caller.has(permissions::CRM_CASES_WRITE));
        // Not even what every user's role grants: a service has no role.
        assert!(!caller.has(permissions::TENANT_READ));
        assert_eq!(
            caller.require(permissions::CRM_RECORDS_WRITE),
            Err(AuthError::Forbidden("crm.records.write"))
        );
        assert_eq!(
            caller.actor().map(|a| a.to_string()),
            Some("service:engagement".to_owned())
        );
        assert_eq!(caller.tenant_id(), Some(service.tenant_id));
    }

    #[test]
    fn a_service_is_never_a_user_and_a_user_never_a_service() {
        let (signer, authn) = setup();
        let service = authn
            .authenticate(&service_token(&signer, "telephony", &["crm.records.read"]))
            .expect("verified");
        assert_eq!(service.user(), Err(AuthError::UserOnly));
        assert_eq!(service.require_operator(), Err(AuthError::OperatorOnly));
        let user = authn
            .authenticate(&token(&signer, "ROLE_ADMIN", vec![]))
            .expect("verified");
        assert_eq!(user.service(), Err(AuthError::ServiceOnly));
        assert_eq!(Caller::Operator.service(), Err(AuthError::TenantUserOnly));
        assert!(!Caller::Operator.has(permissions::TENANT_READ));
    }

    #[test]
    fn a_remembered_service_token_stays_a_service() {
        let (signer, authn) = setup();
        let t = service_token(&signer, "automation", &[]);
        let first = authn.authenticate(&t).expect("verified");
        assert!(matches!(authn.cached(&t), Some(Caller::Service(_))));
        assert_eq!(authn.authenticate(&t).expect("remembered"), first);
    }
}
