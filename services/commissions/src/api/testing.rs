//! Handler test helpers: requests from a tenant user of a given role, handlers on a
//! [`MockStore`], and what a refused call answered. A `MockStore::new()` without expectations
//! fails the test on any call, which is how "never reaches the store" is asserted.

use std::collections::HashSet;
use std::sync::Arc;

use auth::{BuiltinRole, Caller, RequestContext};
use chrono::NaiveDate;
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use super::Shared;
use crate::domain::Viewer;
use crate::domain::period::{Period, PeriodKind};
use crate::store::MockStore;

/// Adjustments above this need a second admin in the handler tests.
pub const APPROVAL_THRESHOLD: i64 = 100_000;

/// A fresh user of a fresh tenant.
pub fn viewer(role: BuiltinRole) -> Viewer {
    Viewer {
        tenant_id: Uuid::now_v7(),
        user_id: Uuid::now_v7(),
        role,
    }
}

/// `message` as `viewer` sends it, authenticated the way the interceptor leaves it.
pub fn request<T>(viewer: Viewer, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .extensions_mut()
        .insert(Caller::User(RequestContext {
            tenant_id: viewer.tenant_id,
            user_id: viewer.user_id,
            role: viewer.role,
            extra_permissions: HashSet::new(),
            token_id: Uuid::now_v7(),
            expires_at: i64::MAX,
        }));
    request
}

pub fn shared(store: MockStore) -> Arc<Shared> {
    Arc::new(Shared {
        store: Arc::new(store),
        approval_threshold: APPROVAL_THRESHOLD,
    })
}

/// The status of a call that must have failed.
pub fn refused<T: std::fmt::Debug>(result: Result<Response<T>, Status>) -> Status {
    result.expect_err("the call should have been refused")
}

/// The fields an INVALID_ARGUMENT status names, in order.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

pub fn day(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("test date")
}

pub fn quarter(start: &str) -> Period {
    Period {
        kind: PeriodKind::Quarter,
        start: day(start),
    }
}
