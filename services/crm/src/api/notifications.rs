//! NotificationService: the caller's own feed, its unread count, marking read, and a live stream.

use std::pin::Pin;
use std::sync::Arc;

use auth::permissions::CRM_RECORDS_READ;
use db::{PageSize, PageToken};
use futures::Stream;
use proto::crm as pb;
use tokio::sync::broadcast;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::viewer;
use crate::convert::notification_to_pb;
use crate::domain::Violations;
use crate::domain::notification::{MAX_MARK_IDS, MarkRead};
use crate::domain::visibility::Viewer;
use crate::error::{Error, Result};
use crate::notifications::hub::{Created, NotificationHub};
use crate::store::notifications::{FeedQuery, NotificationStore};

pub struct NotificationApi {
    store: Arc<dyn NotificationStore>,
    hub: NotificationHub,
}

/// Page tokens of the feed: the unread filter is part of the query.
fn page_token(unread_only: bool) -> PageToken {
    PageToken::for_query(if unread_only {
        "notifications|unread"
    } else {
        "notifications|all"
    })
}

impl NotificationApi {
    pub fn new(store: Arc<dyn NotificationStore>, hub: NotificationHub) -> Self {
        Self { store, hub }
    }

    async fn list(
        &self,
        viewer: Viewer,
        r: pb::ListNotificationsRequest,
    ) -> Result<pb::ListNotificationsResponse> {
        let size =
            PageSize::parse(r.page_size).map_err(|e| Error::invalid("page_size", e.to_string()));
        let tokens = page_token(r.unread_only);
        let before = tokens
            .decode::<Uuid>(&r.page_token)
            .map_err(|e| Error::invalid("page_token", e.to_string()));
        let (size, before) = match (size, before) {
            (Ok(size), Ok(before)) => (size, before),
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let page = self
            .store
            .list_notifications(
                viewer,
                FeedQuery {
                    limit: size.get(),
                    before,
                    unread_only: r.unread_only,
                },
            )
            .await?;
        let next_page_token = match page.items.last() {
            Some(last) if page.more => tokens.encode(&last.id),
            _ => String::new(),
        };
        Ok(pb::ListNotificationsResponse {
            notifications: page.items.into_iter().map(notification_to_pb).collect(),
            next_page_token,
            unread_count: page.unread_count,
        })
    }

    async fn mark_read(
        &self,
        viewer: Viewer,
        r: pb::MarkNotificationsReadRequest,
    ) -> Result<pb::MarkNotificationsReadResponse> {
        let which = parse_mark_read(&r)?;
        let (marked_count, unread_count) =
            self.store.mark_notifications_read(viewer, which).await?;
        Ok(pb::MarkNotificationsReadResponse {
            marked_count,
            unread_count,
        })
    }
}

fn parse_mark_read(r: &pb::MarkNotificationsReadRequest) -> Result<MarkRead> {
    match (r.all, r.ids.is_empty()) {
        (true, true) => return Ok(MarkRead::All),
        (true, false) => return Err(Error::invalid("ids", "give either ids or all, not both")),
        (false, true) => return Err(Error::invalid("ids", "is required unless all is set")),
        (false, false) => {}
    }
    if r.ids.len() > MAX_MARK_IDS {
        return Err(Error::invalid(
            "ids",
            format!("at most {MAX_MARK_IDS} ids at once"),
        ));
    }
    let mut v = Violations::new();
    let ids: Vec<Uuid> = r
        .ids
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            v.check(
                &format!("ids[{i}]"),
                Uuid::parse_str(raw).map_err(|_| "must be a UUID"),
            )
        })
        .collect();
    v.finish()?;
    Ok(MarkRead::Ids(ids))
}

type NotificationStream =
    Pin<Box<dyn Stream<Item = Result<pb::StreamNotificationsResponse, Status>> + Send>>;

/// The viewer's new notifications as the hub announces them. Dropping the stream (the client
/// went away) drops the subscription; nothing else runs for it.
fn stream(
    store: Arc<dyn NotificationStore>,
    viewer: Viewer,
    receiver: broadcast::Receiver<Created>,
) -> NotificationStream {
    Box::pin(futures::stream::unfold(receiver, move |mut receiver| {
        let store = store.clone();
        async move {
            loop {
                let created = match receiver.recv().await {
                    Ok(created) => created,
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        // The list still has them; the stream goes on with the newest.
                        tracing::warn!(skipped, "notification stream fell behind");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if created.tenant_id != viewer.tenant_id || created.user_id != viewer.user_id {
                    continue;
                }
                let item = match store.notification(viewer, created.id).await {
                    Ok(Some((notification, unread_count))) => Ok(pb::StreamNotificationsResponse {
                        notification: Some(notification_to_pb(notification)),
                        unread_count,
                    }),
                    // Gone again (cannot happen today: notifications are never deleted).
                    Ok(None) => continue,
                    Err(error) => Err(Status::from(error)),
                };
                return Some((item, receiver));
            }
        }
    }))
}

#[tonic::async_trait]
impl pb::notification_service_server::NotificationService for NotificationApi {
    type StreamNotificationsStream = NotificationStream;

    #[tracing::instrument(skip_all)]
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        Ok(Response::new(
            self.list(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Result<Response<pb::MarkNotificationsReadResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        Ok(Response::new(
            self.mark_read(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn stream_notifications(
        &self,
        request: Request<pb::StreamNotificationsRequest>,
    ) -> Result<Response<Self::StreamNotificationsStream>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        // Subscribed before answering: whatever is created once the client has the response
        // headers reaches it.
        let receiver = self.hub.subscribe();
        Ok(Response::new(stream(self.store.clone(), viewer, receiver)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::notifications::MockNotificationStore;

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn mark_read_needs_ids_or_all_and_names_bad_ids() {
        let mut store = MockNotificationStore::new();
        store.expect_mark_notifications_read().never();
        let api = NotificationApi::new(Arc::new(store), NotificationHub::default());
        let viewer = Viewer {
            tenant_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            role: auth::BuiltinRole::SalesRep,
        };
        let none = api
            .mark_read(viewer, pb::MarkNotificationsReadRequest::default())
            .await
            .expect_err("neither ids nor all");
        assert_eq!(fields(none), ["ids"]);
        let bad = api
            .mark_read(
                viewer,
                pb::MarkNotificationsReadRequest {
                    ids: vec![Uuid::now_v7().to_string(), "nope".into()],
                    all: false,
                },
            )
            .await
            .expect_err("bad id");
        assert_eq!(fields(bad), ["ids[1]"]);
    }
}
