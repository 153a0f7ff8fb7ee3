//! Who is calling and what they may do.
//!
//! The tenants service signs short-lived EdDSA access tokens ([`token::Signer`]); every service
//! verifies them from gRPC metadata ([`token::Verifier`]) in one interceptor
//! ([`context::Authenticator`]) that puts a [`Caller`] in the request extensions, and each RPC
//! checks one named permission ([`RequestContext::require`], [`Caller::require`]).
//!
//! Besides users, a named service may call with a service token the tenants service minted for
//! it ([`service`], [`Caller::Service`]): it acts in one tenant with exactly the permissions
//! configured for it, and is recorded as `service:<name>`.

pub mod context;
pub mod key_ring;
pub mod permissions;
pub mod service;
pub mod token;

pub use context::{Authenticator, Caller, RequestContext, ServiceContext, caller};
pub use permissions::{BuiltinRole, Permission};
pub use service::{Actor, ServiceName};

/// Why a caller was turned away. Messages stay generic: they must not help an attacker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required")]
    Missing,
    #[error("invalid or expired credentials")]
    Invalid,
    #[error("missing permission {0}")]
    Forbidden(&'static str),
    #[error("only the platform operator may do this")]
    OperatorOnly,
    #[error("the platform operator acts on tenants, not inside one")]
    TenantUserOnly,
    #[error("only a tenant's users may do this, not a service")]
    UserOnly,
    #[error("only a service may do this")]
    ServiceOnly,
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Missing | AuthError::Invalid => {
                tonic::Status::unauthenticated(error.to_string())
            }
            AuthError::Forbidden(_)
            | AuthError::OperatorOnly
            | AuthError::TenantUserOnly
            | AuthError::UserOnly
            | AuthError::ServiceOnly => tonic::Status::permission_denied(error.to_string()),
        }
    }
}
