//! gRPC handlers: identify the caller, parse the request into domain values (`crate::convert`), call
//! the store, render the result (`crate::convert`). Handlers hold the store as a trait object, so
//! each is unit-tested on `MockStore`.

pub mod adjustments;
pub mod browse;
pub mod commissions;
pub mod plans;
#[cfg(test)]
mod testing;

use std::sync::Arc;

use tonic::Request;
use uuid::Uuid;

use crate::convert::id_from_pb;
use crate::domain::Viewer;
use crate::error::Result;
use crate::store::Store;

/// What every handler shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    /// Adjustments above this (absolute, minor units) wait for another admin's approval.
    pub approval_threshold: i64,
}

/// The calling tenant user. Commissions are deal data: reading them needs `crm.deals.read`
/// (admins, managers, sales reps); what they see is decided by visibility, and changes need the
/// admin role (each handler checks it with [`Viewer::require_admin`] before reading anything).
pub fn viewer<T>(request: &Request<T>) -> Result<Viewer> {
    let ctx = auth::caller(request)?.user()?;
    ctx.require(auth::permissions::CRM_DEALS_READ)?;
    Ok(Viewer {
        tenant_id: ctx.tenant_id,
        user_id: ctx.user_id,
        role: ctx.role,
    })
}

/// The participant named, or the caller when empty.
pub fn participant_or_self(viewer: &Viewer, raw: &str) -> Result<Uuid> {
    if raw.is_empty() {
        Ok(viewer.user_id)
    } else {
        id_from_pb("participant_id", raw)
    }
}
