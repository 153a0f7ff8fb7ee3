//! gRPC handlers: identify the caller, parse the request into domain values (`crate::convert`),
//! call the store, render the result (`crate::convert`). Handlers hold the store as a trait
//! object, so each is unit-tested on `MockStore`.

use std::sync::Arc;

use auth::Permission;
use proto::engagement as pb;
use tonic::{Request, Response, Status};

use crate::convert::{
    cell_to_pb, disengaged_account_to_pb, engagement_to_pb, heatmap_query_from_pb, id_from_pb,
    link_to_pb, model_from_pb, model_to_pb, new_touch_from_pb, report_query_from_pb,
    sankey_query_from_pb, step_to_pb, touch_to_pb,
};
use crate::domain::report::ReportKey;
use crate::domain::sankey::step_rates;
use crate::domain::touch::MAX_BATCH;
use crate::domain::{RecordRef, RecordType, Viewer, Violations};
use crate::error::Error;
use crate::store::Store;

/// The calling tenant user, holding `permission`.
pub fn viewer<T>(request: &Request<T>, permission: Permission) -> Result<Viewer, Error> {
    let ctx = auth::caller(request)?.user()?;
    ctx.require(permission)?;
    Ok(Viewer {
        tenant_id: ctx.tenant_id,
        user_id: ctx.user_id,
        role: ctx.role,
    })
}

pub struct EngagementApi {
    store: Arc<dyn Store>,
}

impl EngagementApi {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    async fn engagement(
        &self,
        viewer: Viewer,
        record_type: RecordType,
        field: &str,
        raw: &str,
    ) -> Result<Response<pb::Engagement>, Status> {
        let id = id_from_pb(field, raw)?;
        let engagement = self
            .store
            .engagement(viewer, RecordRef { record_type, id })
            .await?;
        Ok(Response::new(engagement_to_pb(engagement)))
    }
}

/// The proto field naming a record of `record_type` in a batch event.
fn record_field(record_type: RecordType) -> &'static str {
    match record_type {
        RecordType::Lead => "lead_id",
        RecordType::Contact => "contact_id",
        RecordType::Account => "account_id",
    }
}

#[tonic::async_trait]
impl pb::engagement_service_server::EngagementService for EngagementApi {
    #[tracing::instrument(skip_all, fields(events = request.get_ref().events.len()))]
    async fn batch_create_engagement_events(
        &self,
        request: Request<pb::BatchCreateEngagementEventsRequest>,
    ) -> Result<Response<pb::BatchCreateEngagementEventsResponse>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_WRITE)?;
        let raw = &request.get_ref().events;
        if raw.is_empty() {
            return Err(Error::invalid("events", "at least one event is required").into());
        }
        if raw.len() > MAX_BATCH {
            return Err(
                Error::invalid("events", format!("at most {MAX_BATCH} events per batch")).into(),
            );
        }
        let now = chrono::Utc::now();
        let mut v = Violations::new();
        let touches: Vec<_> = raw
            .iter()
            .enumerate()
            .map(|(i, event)| new_touch_from_pb(&mut v, &format!("events[{i}]"), event, now))
            .collect();
        v.finish().map_err(Error::InvalidArgument)?;
        let touches = touches
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::Internal("validated event missing".to_owned()))?;
        let recorded = match self.store.record_touches(viewer, touches.clone()).await? {
            Ok(recorded) => recorded,
            // Unknown, deleted, another tenant's or invisible: all look the same.
            Err(unreachable) => {
                let mut v = Violations::new();
                for u in unreachable {
                    let record_type = touches[u.0].record.record_type;
                    v.add(
                        format!("events[{}].{}", u.0, record_field(record_type)),
                        format!("no such {} visible to the caller", record_type.as_str()),
                    );
                }
                return Err(Error::InvalidArgument(v.finish().err().unwrap_or_default()).into());
            }
        };
        Ok(Response::new(pb::BatchCreateEngagementEventsResponse {
            events: recorded.into_iter().map(touch_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_contact_engagement(
        &self,
        request: Request<pb::GetContactEngagementRequest>,
    ) -> Result<Response<pb::Engagement>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let raw = &request.get_ref().contact_id;
        self.engagement(viewer, RecordType::Contact, "contact_id", raw)
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn get_lead_engagement(
        &self,
        request: Request<pb::GetLeadEngagementRequest>,
    ) -> Result<Response<pb::Engagement>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let raw = &request.get_ref().lead_id;
        self.engagement(viewer, RecordType::Lead, "lead_id", raw)
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn get_account_engagement(
        &self,
        request: Request<pb::GetAccountEngagementRequest>,
    ) -> Result<Response<pb::Engagement>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let raw = &request.get_ref().account_id;
        self.engagement(viewer, RecordType::Account, "account_id", raw)
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn get_engagement_heatmap(
        &self,
        request: Request<pb::GetEngagementHeatmapRequest>,
    ) -> Result<Response<pb::EngagementHeatmap>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let query = heatmap_query_from_pb(request.get_ref())?;
        let (cells, time_zone) = self.store.heatmap(viewer, query).await?;
        Ok(Response::new(pb::EngagementHeatmap {
            cells: cells.into_iter().map(cell_to_pb).collect(),
            time_zone,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_disengaged_accounts(
        &self,
        request: Request<pb::ListDisengagedAccountsRequest>,
    ) -> Result<Response<pb::ListDisengagedAccountsResponse>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let raw = request.get_ref();
        let query = report_query_from_pb(raw)?;
        let page_size = db::PageSize::parse(raw.page_size)
            .map_err(|e| Error::invalid("page_size", e.to_string()))?;
        // The token belongs to the filters it was issued for.
        let tokens = db::PageToken::for_query(&format!(
            "engagement.disengaged_accounts|{:?}|{}",
            query.owner_id, query.inactive_days
        ));
        let after: Option<ReportKey> = tokens
            .decode(&raw.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()))?;
        let (accounts, next) = self
            .store
            .disengaged_accounts(viewer, query, after, page_size.get())
            .await?;
        Ok(Response::new(pb::ListDisengagedAccountsResponse {
            accounts: accounts.into_iter().map(disengaged_account_to_pb).collect(),
            next_page_token: next.map(|key| tokens.encode(&key)).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_engagement_sankey(
        &self,
        request: Request<pb::GetEngagementSankeyRequest>,
    ) -> Result<Response<pb::EngagementSankey>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let query = sankey_query_from_pb(request.get_ref())?;
        let links = self.store.sankey(viewer, query).await?;
        let steps = step_rates(&links);
        Ok(Response::new(pb::EngagementSankey {
            links: links.into_iter().map(link_to_pb).collect(),
            steps: steps.into_iter().map(step_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_scoring_model(
        &self,
        request: Request<pb::GetScoringModelRequest>,
    ) -> Result<Response<pb::ScoringModel>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_READ)?;
        let stored = self.store.scoring_model(viewer).await?;
        Ok(Response::new(model_to_pb(&stored.model, stored.updated_at)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_scoring_model(
        &self,
        request: Request<pb::UpdateScoringModelRequest>,
    ) -> Result<Response<pb::ScoringModel>, Status> {
        let viewer = viewer(&request, auth::permissions::ENGAGEMENT_MODEL_WRITE)?;
        let raw = request
            .get_ref()
            .scoring_model
            .as_ref()
            .ok_or_else(|| Error::invalid("scoring_model", "is required"))?;
        let model = model_from_pb(raw)?;
        let stored = self.store.set_scoring_model(viewer, model).await?;
        Ok(Response::new(model_to_pb(&stored.model, stored.updated_at)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use auth::{BuiltinRole, Caller, RequestContext};
    use pb::engagement_service_server::EngagementService;
    use tonic::Code;
    use tonic_types::StatusExt;
    use uuid::Uuid;

    use super::*;
    use crate::convert::timestamp_to_pb;
    use crate::store::{MockStore, Unreachable};

    fn request<T>(role: BuiltinRole, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .extensions_mut()
            .insert(Caller::User(RequestContext {
                tenant_id: Uuid::now_v7(),
                user_id: Uuid::now_v7(),
                role,
                extra_permissions: HashSet::new(),
                token_id: Uuid::now_v7(),
                expires_at: i64::MAX,
            }));
        request
    }

    fn event(i: usize) -> pb::EngagementEvent {
        pb::EngagementEvent {
            request_id: format!("r-{i}"),
            kind: pb::EngagementKind::EmailOpened as i32,
            contact_id: Uuid::now_v7().to_string(),
            occur_time: Some(timestamp_to_pb(chrono::Utc::now())),
            ..Default::default()
        }
    }

    fn bad_fields(status: &Status) -> Vec<String> {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default()
    }

    fn batch(events: Vec<pb::EngagementEvent>) -> pb::BatchCreateEngagementEventsRequest {
        pb::BatchCreateEngagementEventsRequest { events }
    }

    #[tokio::test]
    async fn a_batch_over_500_never_reaches_the_store() {
        // A MockStore without expectations fails the test on any call.
        let api = EngagementApi::new(Arc::new(MockStore::new()));
        let events = (0..501).map(event).collect();
        let status = api
            .batch_create_engagement_events(request(BuiltinRole::SalesRep, batch(events)))
            .await
            .expect_err("refused");
        assert_eq!(bad_fields(&status), ["events"]);
    }

    #[tokio::test]
    async fn one_bad_event_rejects_the_whole_batch_naming_it() {
        let api = EngagementApi::new(Arc::new(MockStore::new()));
        let mut bad = event(1);
        bad.kind = 0;
        let status = api
            .batch_create_engagement_events(request(
                BuiltinRole::SalesRep,
                batch(vec![event(0), bad]),
            ))
            .await
            .expect_err("refused");
        assert_eq!(bad_fields(&status), ["events[1].kind"]);
    }

    #[tokio::test]
    async fn an_invisible_record_is_named_by_its_field() {
        let mut store = MockStore::new();
        store
            .expect_record_touches()
            .returning(|_, _| Ok(Err(vec![Unreachable(1)])));
        let api = EngagementApi::new(Arc::new(store));
        let status = api
            .batch_create_engagement_events(request(
                BuiltinRole::SalesRep,
                batch(vec![event(0), event(1)]),
            ))
            .await
            .expect_err("refused");
        assert_eq!(bad_fields(&status), ["events[1].contact_id"]);
    }

    #[tokio::test]
    async fn support_cannot_read_scores_and_reps_cannot_change_the_model() {
        let api = EngagementApi::new(Arc::new(MockStore::new()));
        let status = api
            .get_contact_engagement(request(
                BuiltinRole::Support,
                pb::GetContactEngagementRequest {
                    contact_id: Uuid::now_v7().to_string(),
                },
            ))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied);
        let status = api
            .update_scoring_model(request(
                BuiltinRole::SalesRep,
                pb::UpdateScoringModelRequest::default(),
            ))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::PermissionDenied);
    }
}
