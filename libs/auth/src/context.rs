//! The caller of a gRPC request, established once by an interceptor from the `authorization`
//! metadata and read by handlers from the request extensions.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::AuthError;
use crate::permissions::{self, BuiltinRole, Permission};
use crate::token::{Claims, Verifier};

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

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The platform operator (bearer token from configuration).
    Operator,
    /// A user of one tenant.
    User(RequestContext),
}

impl Caller {
    pub fn user(&self) -> Result<&RequestContext, AuthError> {
        match self {
            Caller::User(ctx) => Ok(ctx),
            Caller::Operator => Err(AuthError::TenantUserOnly),
        }
    }

    pub fn require_operator(&self) -> Result<(), AuthError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::User(_) => Err(AuthError::OperatorOnly),
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
}

impl Authenticator {
    pub fn new(verifier: Verifier, operator_token: Option<String>) -> Self {
        Self {
            verifier: Arc::new(RwLock::new(verifier)),
            operator_token: operator_token.filter(|t| !t.is_empty()).map(Arc::from),
        }
    }

    /// Replaces the key set (after a JWKS refresh).
    pub fn set_verifier(&self, verifier: Verifier) {
        if let Ok(mut guard) = self.verifier.write() {
            *guard = verifier;
        }
    }

    pub fn authenticate(&self, bearer: &str) -> Result<Caller, AuthError> {
        if let Some(expected) = &self.operator_token
            && bool::from(expected.as_bytes().ct_eq(bearer.as_bytes()))
        {
            return Ok(Caller::Operator);
        }
        let claims = self
            .verifier
            .read()
            .map_err(|_| AuthError::Invalid)?
            .verify(bearer)?;
        Ok(Caller::User(RequestContext::from_claims(claims)?))
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
}
