//! HistoryService: a record's field changes and its timeline, and restoring deleted records.

use std::sync::Arc;

use auth::Permission;
use auth::permissions::{
    CRM_FIELDS_WRITE, CRM_PIPELINES_WRITE, CRM_RECORDS_READ, CRM_RECORDS_WRITE, CRM_SETTINGS_WRITE,
};
use db::{PageSize, PageToken};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::viewer;
use crate::convert::{
    activity_to_pb, field_change_to_pb, history_kind_from_pb, record_type_from_pb,
    record_type_to_pb, stage_change_to_pb, timestamp_to_pb,
};
use crate::domain::Violations;
use crate::domain::activity::{RecordRef, RecordType};
use crate::domain::history::{HistoryAudience, HistoryKind, HistorySubject, TimelineItem};
use crate::error::{Error, Result};
use crate::listing::Cursor;
use crate::store::history::HistoryStore;

pub struct HistoryApi {
    store: Arc<dyn HistoryStore>,
}

/// A validated history or timeline request for a record of kind `K`.
struct RecordPageRequest<K> {
    kind: K,
    id: uuid::Uuid,
    page_size: u32,
    after: Option<Cursor>,
    pages: PageToken,
}

impl<K: Copy> RecordPageRequest<K> {
    /// Page tokens are bound to the listing and the record they were issued for.
    fn parse(
        listing: &str,
        kind_from_pb: impl Fn(i32) -> std::result::Result<K, &'static str>,
        kind_name: impl Fn(K) -> &'static str,
        raw_type: i32,
        raw_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Self> {
        let mut v = Violations::new();
        let kind = v.check("record_type", kind_from_pb(raw_type));
        let id = v.check("record_id", super::required_id(raw_id));
        let size = v.check("page_size", PageSize::parse(page_size));
        v.finish()?;
        let (Some(kind), Some(id), Some(size)) = (kind, id, size) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let pages = PageToken::for_query(&format!("{listing}|{}|{id}", kind_name(kind)));
        let after = pages
            .decode(page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        Ok(Self {
            kind,
            id,
            page_size: size.get(),
            after,
            pages,
        })
    }

    fn next_page_token(&self, next: Option<Cursor>) -> String {
        next.map(|cursor| self.pages.encode(&cursor))
            .unwrap_or_default()
    }
}

impl HistoryApi {
    pub fn new(store: Arc<dyn HistoryStore>) -> Self {
        Self { store }
    }
}

/// What reading a kind's history needs beyond reading CRM records: the configuration's history
/// is for who manages it.
fn audience_permission(audience: HistoryAudience) -> Option<Permission> {
    match audience {
        HistoryAudience::RecordReaders | HistoryAudience::Everyone => None,
        HistoryAudience::PipelineAdmins => Some(CRM_PIPELINES_WRITE),
        HistoryAudience::FieldAdmins => Some(CRM_FIELDS_WRITE),
        HistoryAudience::SettingsAdmins => Some(CRM_SETTINGS_WRITE),
    }
}

fn history_request(r: &pb::ListFieldHistoryRequest) -> Result<RecordPageRequest<HistoryKind>> {
    RecordPageRequest::parse(
        "history",
        history_kind_from_pb,
        HistoryKind::as_str,
        r.record_type,
        &r.record_id,
        r.page_size,
        &r.page_token,
    )
}

fn timeline_request(r: &pb::ListTimelineRequest) -> Result<RecordPageRequest<RecordType>> {
    RecordPageRequest::parse(
        "timeline",
        record_type_from_pb,
        RecordType::as_str,
        r.record_type,
        &r.record_id,
        r.page_size,
        &r.page_token,
    )
}

/// Undelete names one of the soft-deleted record types.
fn undelete_request(r: &pb::UndeleteRecordRequest) -> Result<RecordRef> {
    let mut v = Violations::new();
    let record_type = v.check("record_type", record_type_from_pb(r.record_type));
    let id = v.check("record_id", super::required_id(&r.record_id));
    v.finish()?;
    let (Some(record_type), Some(id)) = (record_type, id) else {
        return Err(Error::Internal("validated fields missing".to_owned()));
    };
    Ok(RecordRef { record_type, id })
}

#[tonic::async_trait]
impl pb::history_service_server::HistoryService for HistoryApi {
    #[tracing::instrument(skip_all)]
    async fn list_field_history(
        &self,
        request: Request<pb::ListFieldHistoryRequest>,
    ) -> Result<Response<pb::ListFieldHistoryResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let req = history_request(request.get_ref())?;
        if let Some(permission) = audience_permission(req.kind.audience()) {
            auth::caller(&request)
                .and_then(|caller| caller.require(permission))
                .map_err(Error::from)?;
        }
        let subject = HistorySubject {
            kind: req.kind,
            id: req.id,
        };
        let page = self
            .store
            .field_history(viewer, subject, req.after.clone(), req.page_size)
            .await?
            .ok_or(Error::NotFound("record"))?;
        Ok(Response::new(pb::ListFieldHistoryResponse {
            next_page_token: req.next_page_token(page.next),
            changes: page.items.into_iter().map(field_change_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let req = timeline_request(request.get_ref())?;
        let record = RecordRef {
            record_type: req.kind,
            id: req.id,
        };
        let page = self
            .store
            .timeline(viewer, record, req.after.clone(), req.page_size)
            .await?
            .ok_or(Error::NotFound("record"))?;
        let entries = page
            .items
            .into_iter()
            .map(|e| pb::TimelineEntry {
                time: Some(timestamp_to_pb(e.at)),
                entry: Some(match e.item {
                    TimelineItem::Activity(a) => {
                        pb::timeline_entry::Entry::Activity(activity_to_pb(a))
                    }
                    TimelineItem::FieldChange(c) => {
                        pb::timeline_entry::Entry::FieldChange(field_change_to_pb(c))
                    }
                    TimelineItem::StageChange(s) => {
                        pb::timeline_entry::Entry::StageChange(stage_change_to_pb(s))
                    }
                }),
            })
            .collect();
        Ok(Response::new(pb::ListTimelineResponse {
            next_page_token: req.next_page_token(page.next),
            entries,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn undelete_record(
        &self,
        request: Request<pb::UndeleteRecordRequest>,
    ) -> Result<Response<pb::UndeleteRecordResponse>, Status> {
        let record = undelete_request(request.get_ref())?;
        // Cases are deleted with the case permission, the sales records with the records one.
        let permission = match record.record_type {
            RecordType::Case => auth::permissions::CRM_CASES_WRITE,
            RecordType::Record(_) => CRM_RECORDS_WRITE,
        };
        let viewer = viewer(&request, permission)?;
        if !self.store.undelete_record(viewer, record).await? {
            return Err(Error::NotFound("deleted record").into());
        }
        Ok(Response::new(pb::UndeleteRecordResponse {
            record: Some(pb::RecordRef {
                r#type: record_type_to_pb(record.record_type) as i32,
                id: record.id.to_string(),
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_requests_name_bad_parameters_and_bind_tokens_to_the_record() {
        let parse = |listing: &str, t: i32, id: &str, size: i32, token: &str| {
            RecordPageRequest::parse(
                listing,
                history_kind_from_pb,
                HistoryKind::as_str,
                t,
                id,
                size,
                token,
            )
        };
        let error = parse("history", 0, "nope", -1, "").err().expect("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["record_type", "record_id", "page_size"]);

        let id = uuid::Uuid::now_v7();
        let first = parse("history", 1, &id.to_string(), 10, "").expect("ok");
        let token = first.next_page_token(Some(Cursor {
            key: crate::listing::KeyValue::Time(chrono::Utc::now()),
            id,
        }));
        assert!(parse("history", 1, &id.to_string(), 10, &token).is_ok());
        let other = uuid::Uuid::now_v7().to_string();
        assert!(parse("history", 1, &other, 10, &token).is_err());
        assert!(parse("timeline", 1, &id.to_string(), 10, &token).is_err());
        // A history-only kind is a record type for history, not for a timeline or an undelete.
        let quote = pb::RecordType::Quote as i32;
        assert_eq!(
            parse("history", quote, &id.to_string(), 10, "")
                .expect("quote history")
                .kind,
            HistoryKind::Quote
        );
        assert!(
            timeline_request(&pb::ListTimelineRequest {
                record_type: quote,
                record_id: id.to_string(),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            undelete_request(&pb::UndeleteRecordRequest {
                record_type: quote,
                record_id: id.to_string(),
            })
            .is_err()
        );
    }

    #[test]
    fn configuration_history_needs_the_permission_to_manage_it() {
        assert_eq!(
            audience_permission(HistoryKind::Settings.audience()),
            Some(CRM_SETTINGS_WRITE)
        );
        assert_eq!(
            audience_permission(HistoryKind::Stage.audience()),
            Some(CRM_PIPELINES_WRITE)
        );
        assert_eq!(audience_permission(HistoryKind::Product.audience()), None);
    }
}
