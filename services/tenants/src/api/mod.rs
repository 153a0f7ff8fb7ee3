//! gRPC handlers: parse proto requests into domain values, check the caller, call the store,
//! map results back. The only place that knows both proto and domain types.

pub mod auth_service;
pub mod convert;
pub mod exchange_rate_service;
pub mod role_service;
pub mod tenant_service;
pub mod user_service;

use std::sync::Arc;
use std::time::Duration;

use auth::token::{Jwk, Signer};
use auth::{Permission, RequestContext};
use tonic::Request;
use uuid::Uuid;

use crate::domain::password::Password;
use crate::domain::service_account::ServiceAccounts;
use crate::error::{Error, Result};
use crate::hashing::HashingPool;
use crate::store::Store;

/// Token lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct TokenLifetimes {
    pub access: Duration,
    pub refresh: Duration,
    /// Service tokens (IssueServiceToken).
    pub service: Duration,
}

/// What every handler shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub hasher: HashingPool,
    pub signer: Signer,
    /// Public keys published by GetJwks: the signer's plus any still verifying older tokens.
    pub jwks: Vec<Jwk>,
    pub lifetimes: TokenLifetimes,
    /// Who may ask for service tokens, and with which permissions.
    pub service_accounts: ServiceAccounts,
}

impl Shared {
    /// The calling tenant user, holding `permission` (if any), active in a tenant that is
    /// active. Services and the operator are refused.
    pub async fn user_ctx<'r, T>(
        &self,
        request: &'r Request<T>,
        permission: Option<Permission>,
    ) -> Result<&'r RequestContext> {
        let ctx = auth::caller(request)?.user()?;
        if let Some(permission) = permission {
            ctx.require(permission)?;
        }
        self.ensure_caller_active(ctx.tenant_id, ctx.user_id)
            .await?;
        Ok(ctx)
    }

    /// A suspended tenant's and a deactivated user's tokens stop working at once, not when they
    /// expire: one lookup answers both.
    async fn ensure_caller_active(&self, tenant_id: Uuid, user_id: Uuid) -> Result<()> {
        if self.store.caller_active(tenant_id, user_id).await? {
            Ok(())
        } else {
            Err(auth::AuthError::Invalid.into())
        }
    }

    /// Argon2 is CPU-bound: it runs on the hashing threads, not on the async workers.
    pub async fn hash_password(&self, password: Password) -> Result<String> {
        self.hasher
            .run(move |hasher| hasher.hash(&password))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(Error::from)
    }

    pub async fn verify_password(&self, candidate: String, hash: Option<String>) -> Result<bool> {
        self.hasher
            .run(move |hasher| match hash {
                Some(hash) => hasher.verify(&candidate, &hash),
                None => hasher.verify_decoy(&candidate),
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }
}

/// Parses a resource id; a malformed id names the field.
pub fn parse_id(field: &str, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        return Err(Error::invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| Error::invalid(field, "must be a UUID"))
}

/// The field-mask paths, refusing an empty mask (AIP-134: say what to change).
pub fn mask_paths(mask: Option<prost_types::FieldMask>, allowed: &[&str]) -> Result<Vec<String>> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::invalid(
            "update_mask",
            "is required and must name the fields to update",
        ));
    }
    if paths.iter().any(|p| p == "*") {
        return Ok(allowed.iter().map(|p| (*p).to_owned()).collect());
    }
    let mut violations = Vec::new();
    for path in &paths {
        if !allowed.contains(&path.as_str()) {
            violations.push(crate::domain::FieldViolation::new(
                "update_mask",
                format!("cannot update {path:?}; updatable: {}", allowed.join(", ")),
            ));
        }
    }
    if violations.is_empty() {
        Ok(paths)
    } else {
        Err(violations.into())
    }
}
