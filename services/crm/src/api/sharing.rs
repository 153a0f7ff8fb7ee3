//! SharingService: share an account, contact, lead or opportunity with one user, list and revoke
//! its shares.

use std::sync::Arc;

use auth::Permission;
use auth::permissions::{CRM_DEALS_READ, CRM_RECORDS_READ, CRM_RECORDS_WRITE};
use proto::crm as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{required_id, viewer};
use crate::convert::{share_access_from_pb, share_to_pb};
use crate::domain::Violations;
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::store::sharing::SharingStore;

pub struct SharingApi {
    store: Arc<dyn SharingStore>,
}

impl SharingApi {
    pub fn new(store: Arc<dyn SharingStore>) -> Self {
        Self { store }
    }
}

/// The record a request names through its `record` oneof (over REST, the path).
fn record(raw: Option<(RecordKind, &str)>, v: &mut Violations) -> Option<(RecordKind, Uuid)> {
    let Some((kind, raw_id)) = raw else {
        v.add(
            "record",
            "one of account_id, contact_id, lead_id or opportunity_id is required",
        );
        return None;
    };
    let field = format!("{}_id", kind.name());
    v.check(&field, required_id(raw_id)).map(|id| (kind, id))
}

macro_rules! record_of {
    ($oneof:path, $value:expr) => {{
        use $oneof as R;
        match $value {
            Some(R::AccountId(id)) => Some((RecordKind::Account, id.as_str())),
            Some(R::ContactId(id)) => Some((RecordKind::Contact, id.as_str())),
            Some(R::LeadId(id)) => Some((RecordKind::Lead, id.as_str())),
            Some(R::OpportunityId(id)) => Some((RecordKind::Opportunity, id.as_str())),
            None => None,
        }
    }};
}

/// Reading shares needs the read permission of the record's kind, as reading the record does.
fn read_permission(kind: Option<RecordKind>) -> Permission {
    match kind {
        Some(RecordKind::Lead | RecordKind::Opportunity) => CRM_DEALS_READ,
        _ => CRM_RECORDS_READ,
    }
}

impl SharingApi {
    async fn share(&self, viewer: Viewer, r: pb::ShareRecordRequest) -> Result<pb::RecordShare> {
        let mut v = Violations::new();
        let target = record(
            record_of!(pb::share_record_request::Record, &r.record),
            &mut v,
        );
        let (user_id, level) = match &r.share {
            Some(share) => (
                v.check("share.user_id", required_id(&share.user_id)),
                v.check("share.access", share_access_from_pb(share.access)),
            ),
            None => {
                v.add("share", "is required");
                (None, None)
            }
        };
        v.finish()?;
        let (Some((kind, id)), Some(user_id), Some(level)) = (target, user_id, level) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let share = self
            .store
            .share(viewer, kind, id, user_id, level)
            .await
            .map_err(|e| e.prefixed("share."))?;
        Ok(share_to_pb(share))
    }

    async fn list(
        &self,
        viewer: Viewer,
        r: pb::ListRecordSharesRequest,
    ) -> Result<pb::ListRecordSharesResponse> {
        let mut v = Violations::new();
        let target = record(
            record_of!(pb::list_record_shares_request::Record, &r.record),
            &mut v,
        );
        v.finish()?;
        let Some((kind, id)) = target else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let shares = self.store.shares(viewer, kind, id).await?;
        Ok(pb::ListRecordSharesResponse {
            shares: shares.into_iter().map(share_to_pb).collect(),
        })
    }

    async fn unshare(&self, viewer: Viewer, r: pb::UnshareRecordRequest) -> Result<()> {
        let mut v = Violations::new();
        let target = record(
            record_of!(pb::unshare_record_request::Record, &r.record),
            &mut v,
        );
        let user_id = v.check("user_id", required_id(&r.user_id));
        v.finish()?;
        let (Some((kind, id)), Some(user_id)) = (target, user_id) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        self.store.unshare(viewer, kind, id, user_id).await
    }
}

#[tonic::async_trait]
impl pb::sharing_service_server::SharingService for SharingApi {
    #[tracing::instrument(skip_all)]
    async fn share_record(
        &self,
        request: Request<pb::ShareRecordRequest>,
    ) -> Result<Response<pb::RecordShare>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.share(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_record_shares(
        &self,
        request: Request<pb::ListRecordSharesRequest>,
    ) -> Result<Response<pb::ListRecordSharesResponse>, Status> {
        let kind = record_of!(
            pb::list_record_shares_request::Record,
            &request.get_ref().record
        )
        .map(|(kind, _)| kind);
        let viewer = viewer(&request, read_permission(kind))?;
        Ok(Response::new(
            self.list(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn unshare_record(
        &self,
        request: Request<pb::UnshareRecordRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        self.unshare(viewer, request.into_inner()).await?;
        Ok(Response::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sharing::ShareAccess;
    use crate::store::sharing::MockSharingStore;

    fn viewer() -> Viewer {
        Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        }
    }

    fn api(store: MockSharingStore) -> SharingApi {
        SharingApi::new(Arc::new(store))
    }

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_share_requests_name_every_field_and_never_reach_the_store() {
        let mut store = MockSharingStore::new();
        store.expect_share().never();
        store.expect_unshare().never();
        store.expect_shares().never();
        let api = api(store);
        let error = api
            .share(
                viewer(),
                pb::ShareRecordRequest {
                    record: Some(pb::share_record_request::Record::LeadId("x".into())),
                    share: Some(pb::RecordShare {
                        user_id: "nope".into(),
                        access: 7,
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["lead_id", "share.user_id", "share.access"]);
        let error = api
            .share(
                viewer(),
                pb::ShareRecordRequest {
                    record: None,
                    share: Some(pb::RecordShare {
                        user_id: Uuid::now_v7().to_string(),
                        access: pb::ShareAccess::Unspecified as i32,
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["record", "share.access"]);
        let error = api
            .share(
                viewer(),
                pb::ShareRecordRequest {
                    record: Some(pb::share_record_request::Record::AccountId(
                        Uuid::now_v7().to_string(),
                    )),
                    share: None,
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["share"]);
        let error = api
            .unshare(
                viewer(),
                pb::UnshareRecordRequest {
                    record: Some(pb::unshare_record_request::Record::OpportunityId(
                        String::new(),
                    )),
                    user_id: "1".into(),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["opportunity_id", "user_id"]);
        let error = api
            .list(viewer(), pb::ListRecordSharesRequest { record: None })
            .await
            .expect_err("invalid");
        assert_eq!(fields(error), ["record"]);
    }

    #[tokio::test]
    async fn shares_reach_the_store_typed_and_store_violations_name_the_body_field() {
        let (lead, user) = (Uuid::now_v7(), Uuid::now_v7());
        let mut store = MockSharingStore::new();
        store
            .expect_share()
            .withf(move |_, kind, id, u, access| {
                *kind == RecordKind::Lead
                    && *id == lead
                    && *u == user
                    && *access == ShareAccess::Edit
            })
            .returning(|_, _, _, _, _| Err(Error::invalid("user_id", "the user is deactivated")));
        let error = api(store)
            .share(
                viewer(),
                pb::ShareRecordRequest {
                    record: Some(pb::share_record_request::Record::LeadId(lead.to_string())),
                    share: Some(pb::RecordShare {
                        user_id: user.to_string(),
                        access: pb::ShareAccess::Edit as i32,
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("refused by the store");
        assert_eq!(fields(error), ["share.user_id"]);
    }

    #[test]
    fn listing_shares_needs_the_read_permission_of_the_kind() {
        assert_eq!(read_permission(Some(RecordKind::Lead)), CRM_DEALS_READ);
        assert_eq!(
            read_permission(Some(RecordKind::Opportunity)),
            CRM_DEALS_READ
        );
        assert_eq!(read_permission(Some(RecordKind::Contact)), CRM_RECORDS_READ);
        assert_eq!(read_permission(None), CRM_RECORDS_READ);
    }
}
