//! HistoryService: a record's field changes and its timeline.

use std::sync::Arc;

use auth::permissions::CRM_RECORDS_READ;
use db::{PageSize, PageToken};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::activities::{activity_to_proto, record_type};
use super::convert::{stage_change, timestamp};
use super::viewer;
use crate::domain::Violations;
use crate::domain::activity::RecordRef;
use crate::domain::history::{FieldChange, TimelineItem};
use crate::error::{Error, Result};
use crate::listing::Cursor;
use crate::store::history::HistoryStore;

pub struct HistoryApi {
    store: Arc<dyn HistoryStore>,
}

/// A validated history or timeline request.
struct RecordPageRequest {
    record: RecordRef,
    page_size: u32,
    after: Option<Cursor>,
    pages: PageToken,
}

impl RecordPageRequest {
    /// Page tokens are bound to the listing and the record they were issued for.
    fn parse(
        listing: &str,
        raw_type: i32,
        raw_id: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<Self> {
        let mut v = Violations::new();
        let record_type = v.check("record_type", record_type(raw_type));
        let id = v.check("record_id", super::required_id(raw_id));
        let size = v.check("page_size", PageSize::parse(page_size));
        v.finish()?;
        let (Some(record_type), Some(id), Some(size)) = (record_type, id, size) else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let pages = PageToken::for_query(&format!("{listing}|{}|{id}", record_type.as_str()));
        let after = pages
            .decode(page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        Ok(Self {
            record: RecordRef { record_type, id },
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

fn change_to_proto(c: FieldChange) -> pb::FieldChange {
    pb::FieldChange {
        id: c.id.to_string(),
        field: c.field,
        old_value: c.old_value,
        new_value: c.new_value,
        actor_id: c.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        actor: c
            .actor_id
            .map(|a| auth::Actor::from_id(a).to_string())
            .unwrap_or_default(),
        change_time: Some(timestamp(c.changed_at)),
    }
}

impl HistoryApi {
    pub fn new(store: Arc<dyn HistoryStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl pb::history_service_server::HistoryService for HistoryApi {
    #[tracing::instrument(skip_all)]
    async fn list_field_history(
        &self,
        request: Request<pb::ListFieldHistoryRequest>,
    ) -> Result<Response<pb::ListFieldHistoryResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let req = RecordPageRequest::parse(
            "history",
            r.record_type,
            &r.record_id,
            r.page_size,
            &r.page_token,
        )?;
        let page = self
            .store
            .field_history(viewer, req.record, req.after.clone(), req.page_size)
            .await?
            .ok_or(Error::NotFound("record"))?;
        Ok(Response::new(pb::ListFieldHistoryResponse {
            next_page_token: req.next_page_token(page.next),
            changes: page.items.into_iter().map(change_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_timeline(
        &self,
        request: Request<pb::ListTimelineRequest>,
    ) -> Result<Response<pb::ListTimelineResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let req = RecordPageRequest::parse(
            "timeline",
            r.record_type,
            &r.record_id,
            r.page_size,
            &r.page_token,
        )?;
        let page = self
            .store
            .timeline(viewer, req.record, req.after.clone(), req.page_size)
            .await?
            .ok_or(Error::NotFound("record"))?;
        let entries = page
            .items
            .into_iter()
            .map(|e| pb::TimelineEntry {
                time: Some(timestamp(e.at)),
                entry: Some(match e.item {
                    TimelineItem::Activity(a) => {
                        pb::timeline_entry::Entry::Activity(activity_to_proto(a))
                    }
                    TimelineItem::FieldChange(c) => {
                        pb::timeline_entry::Entry::FieldChange(change_to_proto(c))
                    }
                    TimelineItem::StageChange(s) => {
                        pb::timeline_entry::Entry::StageChange(stage_change(s))
                    }
                }),
            })
            .collect();
        Ok(Response::new(pb::ListTimelineResponse {
            next_page_token: req.next_page_token(page.next),
            entries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_requests_name_bad_parameters_and_bind_tokens_to_the_record() {
        let error = RecordPageRequest::parse("history", 0, "nope", -1, "")
            .err()
            .expect("invalid");
        let Error::InvalidArgument(violations) = error else {
            panic!("expected InvalidArgument");
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["record_type", "record_id", "page_size"]);

        let id = uuid::Uuid::now_v7();
        let first = RecordPageRequest::parse("history", 1, &id.to_string(), 10, "").expect("ok");
        let token = first.next_page_token(Some(Cursor {
            key: crate::listing::KeyValue::Time(chrono::Utc::now()),
            id,
        }));
        assert!(RecordPageRequest::parse("history", 1, &id.to_string(), 10, &token).is_ok());
        let other = uuid::Uuid::now_v7().to_string();
        assert!(RecordPageRequest::parse("history", 1, &other, 10, &token).is_err());
        assert!(RecordPageRequest::parse("timeline", 1, &id.to_string(), 10, &token).is_err());
    }
}
