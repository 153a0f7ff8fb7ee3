//! DuplicateService, and the duplicate check of account, contact and lead creation.

use std::sync::Arc;

use auth::permissions::CRM_RECORDS_WRITE;
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::accounts::AccountApi;
use super::contacts::ContactApi;
use super::leads::LeadApi;
use super::{required_id, viewer};
use crate::convert;
use crate::domain::Violations;
use crate::domain::duplicates::Probe;
use crate::domain::merge::parse_fields_from_loser;
use crate::domain::record::Record;
use crate::domain::visibility::{RecordKind, Viewer};
use crate::error::{Error, Result};
use crate::store::duplicates::DuplicateStore;
use crate::store::merge::MergeStore;

pub struct DuplicateApi {
    duplicates: Arc<dyn DuplicateStore>,
    merges: Arc<dyn MergeStore>,
}

impl DuplicateApi {
    pub fn new(duplicates: Arc<dyn DuplicateStore>, merges: Arc<dyn MergeStore>) -> Self {
        Self { duplicates, merges }
    }

    async fn find(
        &self,
        viewer: Viewer,
        r: pb::FindDuplicatesRequest,
    ) -> Result<pb::FindDuplicatesResponse> {
        use pb::find_duplicates_request::Record;
        let probe = match r.record {
            Some(Record::Account(a)) => Probe::account(
                &AccountApi::parse_create(viewer, a).map_err(|e| e.prefixed("account."))?,
            ),
            Some(Record::Contact(c)) => Probe::contact(
                &ContactApi::parse_create(viewer, c).map_err(|e| e.prefixed("contact."))?,
            ),
            Some(Record::Lead(l)) => {
                Probe::lead(&LeadApi::parse_create(viewer, l).map_err(|e| e.prefixed("lead."))?)
            }
            None => {
                return Err(Error::invalid(
                    "record",
                    "name the account, contact or lead to check",
                ));
            }
        };
        let found = self.duplicates.find_duplicates(viewer, probe).await?;
        Ok(pb::FindDuplicatesResponse {
            candidates: found
                .candidates
                .into_iter()
                .map(convert::duplicate_candidate_to_pb)
                .collect(),
            hidden_count: i32::try_from(found.hidden).unwrap_or(i32::MAX),
        })
    }

    /// Validates a merge request and runs it; every bad field is named at once.
    async fn merge(
        &self,
        viewer: Viewer,
        kind: RecordKind,
        survivor_id: &str,
        loser_id: &str,
        fields_from_loser: &[String],
    ) -> Result<Record> {
        let mut v = Violations::new();
        let survivor = v.check("survivor_id", required_id(survivor_id));
        let loser = v.check("loser_id", required_id(loser_id));
        let fields = v.check(
            "fields_from_loser",
            parse_fields_from_loser(kind, fields_from_loser),
        );
        v.finish()?;
        let (Some(survivor), Some(loser), Some(fields)) = (survivor, loser, fields) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        self.merges
            .merge(viewer, kind, survivor, loser, fields)
            .await
    }
}

fn unexpected(record: Record) -> Status {
    Error::Internal(format!("merge returned another kind: {record:?}")).into()
}

#[tonic::async_trait]
impl pb::duplicate_service_server::DuplicateService for DuplicateApi {
    #[tracing::instrument(skip_all)]
    async fn find_duplicates(
        &self,
        request: Request<pb::FindDuplicatesRequest>,
    ) -> Result<Response<pb::FindDuplicatesResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        Ok(Response::new(
            self.find(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn merge_accounts(
        &self,
        request: Request<pb::MergeAccountsRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        let merged = self
            .merge(
                viewer,
                RecordKind::Account,
                &r.survivor_id,
                &r.loser_id,
                &r.fields_from_loser,
            )
            .await?;
        match merged {
            Record::Account(a) => Ok(Response::new(convert::account_to_pb(a))),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn merge_contacts(
        &self,
        request: Request<pb::MergeContactsRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        let merged = self
            .merge(
                viewer,
                RecordKind::Contact,
                &r.survivor_id,
                &r.loser_id,
                &r.fields_from_loser,
            )
            .await?;
        match merged {
            Record::Contact(c) => Ok(Response::new(convert::contact_to_pb(c))),
            other => Err(unexpected(other)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn merge_leads(
        &self,
        request: Request<pb::MergeLeadsRequest>,
    ) -> Result<Response<pb::Lead>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_WRITE)?;
        let r = request.into_inner();
        let merged = self
            .merge(
                viewer,
                RecordKind::Lead,
                &r.survivor_id,
                &r.loser_id,
                &r.fields_from_loser,
            )
            .await?;
        match merged {
            Record::Lead(l) => Ok(Response::new(convert::lead_to_pb(l))),
            other => Err(unexpected(other)),
        }
    }
}
