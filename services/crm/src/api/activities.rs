//! ActivityService: tasks, calls, meetings, logged emails and notes on any visible record.

use std::sync::Arc;

use auth::permissions::{CRM_CASES_WRITE, CRM_RECORDS_READ};
use proto::crm as pb;
use tonic::{Request, Response, Status};

use super::{ListRequest, mask_paths, optional_id, parse_id, required_id, viewer};
use crate::convert::{
    activity_kind_from_pb, activity_to_pb, record_type_from_pb, timestamp_from_pb,
};
use crate::domain::Violations;
use crate::domain::activity::{
    ActivityData, ActivityPatch, MAX_BODY_LEN, MAX_SUBJECT_LEN, RecordRef,
};
use crate::domain::notification::check_remind_time;
use crate::domain::visibility::Viewer;
use crate::domain::{day, text};
use crate::error::{Error, Result};
use crate::store::activities::{ActivityStore, LISTING};

const UPDATABLE: &[&str] = &[
    "kind",
    "subject",
    "body",
    "related_to",
    "due_date",
    "remind_time",
    "owner_id",
];

pub struct ActivityApi {
    store: Arc<dyn ActivityStore>,
}

/// `related_to`; violations name `<field>.type` / `<field>.id`.
fn related_to(field: &str, r: Option<&pb::RecordRef>, v: &mut Violations) -> Option<RecordRef> {
    let Some(r) = r else {
        v.add(field, "is required");
        return None;
    };
    let record_type = v.check(&format!("{field}.type"), record_type_from_pb(r.r#type));
    let id = v.check(&format!("{field}.id"), required_id(&r.id));
    Some(RecordRef {
        record_type: record_type?,
        id: id?,
    })
}

/// A new reminder: a valid timestamp in the future (an update checks a changed one in the store,
/// so re-sending an unchanged past reminder with the rest of the activity is no error).
fn remind_time(
    t: Option<&prost_types::Timestamp>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let at = timestamp_from_pb(t).map_err(str::to_owned)?;
    check_remind_time(at, chrono::Utc::now()).map_err(|e| e.to_string())
}

fn optional_day(raw: &str) -> Result<Option<chrono::NaiveDate>, day::DayError> {
    if raw.is_empty() {
        Ok(None)
    } else {
        day::parse(raw).map(Some)
    }
}

impl ActivityApi {
    pub fn new(store: Arc<dyn ActivityStore>) -> Self {
        Self { store }
    }

    async fn create(&self, viewer: Viewer, r: pb::CreateActivityRequest) -> Result<pb::Activity> {
        let a = r
            .activity
            .ok_or_else(|| Error::invalid("activity", "is required"))?;
        let mut v = Violations::new();
        let kind = v.check("activity.kind", activity_kind_from_pb(a.kind));
        let subject = v.check(
            "activity.subject",
            text::required(&a.subject, MAX_SUBJECT_LEN),
        );
        let body = v.check("activity.body", text::optional(&a.body, MAX_BODY_LEN));
        let related = related_to("activity.related_to", a.related_to.as_ref(), &mut v);
        let due_date = v.check("activity.due_date", optional_day(&a.due_date));
        let remind_at = v.check("activity.remind_time", remind_time(a.remind_time.as_ref()));
        let owner = v.check("activity.owner_id", optional_id(&a.owner_id));
        v.finish()?;
        let (
            Some(kind),
            Some(subject),
            Some(body),
            Some(related_to),
            Some(due_date),
            Some(remind_at),
            Some(owner),
        ) = (kind, subject, body, related, due_date, remind_at, owner)
        else {
            return Err(Error::Internal("validated fields missing".to_owned()));
        };
        let activity = self
            .store
            .create_activity(
                viewer,
                ActivityData {
                    kind,
                    subject,
                    body,
                    related_to,
                    due_date,
                    remind_at,
                    owner_id: owner.unwrap_or(viewer.user_id),
                },
            )
            .await
            .map_err(|e| e.prefixed("activity."))?;
        Ok(activity_to_pb(activity))
    }

    async fn update(&self, viewer: Viewer, r: pb::UpdateActivityRequest) -> Result<pb::Activity> {
        let paths = mask_paths(r.update_mask, UPDATABLE)?;
        let a = r
            .activity
            .ok_or_else(|| Error::invalid("activity", "is required"))?;
        let id = parse_id("activity.id", &a.id)?;
        let mut v = Violations::new();
        let mut patch = ActivityPatch::default();
        for path in &paths {
            match path.as_str() {
                "kind" => patch.kind = v.check("activity.kind", activity_kind_from_pb(a.kind)),
                "subject" => {
                    patch.subject = v.check(
                        "activity.subject",
                        text::required(&a.subject, MAX_SUBJECT_LEN),
                    )
                }
                "body" => {
                    patch.body = v.check("activity.body", text::optional(&a.body, MAX_BODY_LEN))
                }
                "related_to" => {
                    patch.related_to =
                        related_to("activity.related_to", a.related_to.as_ref(), &mut v)
                }
                "due_date" => {
                    patch.due_date = v.check("activity.due_date", optional_day(&a.due_date))
                }
                "remind_time" => {
                    patch.remind_at = v.check(
                        "activity.remind_time",
                        timestamp_from_pb(a.remind_time.as_ref()),
                    )
                }
                "owner_id" => {
                    patch.owner_id = v.check("activity.owner_id", required_id(&a.owner_id))
                }
                _ => {}
            }
        }
        v.finish()?;
        let activity = self
            .store
            .update_activity(viewer, id, patch)
            .await
            .map_err(|e| e.prefixed("activity."))?
            .ok_or(Error::NotFound("activity"))?;
        Ok(activity_to_pb(activity))
    }

    async fn complete(&self, viewer: Viewer, id: &str, completed: bool) -> Result<pb::Activity> {
        let id = parse_id("id", id)?;
        let activity = self
            .store
            .complete_activity(viewer, id, completed)
            .await?
            .ok_or(Error::NotFound("activity"))?;
        Ok(activity_to_pb(activity))
    }
}

#[tonic::async_trait]
impl pb::activity_service_server::ActivityService for ActivityApi {
    #[tracing::instrument(skip_all)]
    async fn create_activity(
        &self,
        request: Request<pb::CreateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.create(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let activity = self
            .store
            .activity(viewer, id)
            .await?
            .ok_or(Error::NotFound("activity"))?;
        Ok(Response::new(activity_to_pb(activity)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let viewer = viewer(&request, CRM_RECORDS_READ)?;
        let r = request.into_inner();
        let list =
            ListRequest::parse(&LISTING, r.page_size, &r.page_token, &r.filter, &r.order_by)?;
        let page = self
            .store
            .list_activities(viewer, list.query.clone())
            .await?;
        Ok(Response::new(pb::ListActivitiesResponse {
            next_page_token: list.next_page_token(page.next),
            activities: page.items.into_iter().map(activity_to_pb).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_activity(
        &self,
        request: Request<pb::UpdateActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.update(viewer, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_activity(
        &self,
        request: Request<pb::DeleteActivityRequest>,
    ) -> Result<Response<()>, Status> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        let id = parse_id("id", &request.get_ref().id)?;
        if !self.store.delete_activity(viewer, id).await? {
            return Err(Error::NotFound("activity").into());
        }
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all)]
    async fn complete_activity(
        &self,
        request: Request<pb::CompleteActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.complete(viewer, &request.get_ref().id, true).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn uncomplete_activity(
        &self,
        request: Request<pb::UncompleteActivityRequest>,
    ) -> Result<Response<pb::Activity>, Status> {
        let viewer = viewer(&request, CRM_CASES_WRITE)?;
        Ok(Response::new(
            self.complete(viewer, &request.get_ref().id, false).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::store::activities::MockActivityStore;

    fn fields(error: Error) -> Vec<String> {
        match error {
            Error::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reminder_in_the_past_names_remind_time() {
        let mut store = MockActivityStore::new();
        store.expect_create_activity().never();
        let error = ActivityApi::new(Arc::new(store))
            .create(
                Viewer {
                    tenant_id: Uuid::now_v7(),
                    user_id: Uuid::now_v7(),
                    role: auth::BuiltinRole::SalesRep,
                },
                pb::CreateActivityRequest {
                    activity: Some(pb::Activity {
                        kind: pb::ActivityKind::Task as i32,
                        subject: "Call back".into(),
                        related_to: Some(pb::RecordRef {
                            r#type: pb::RecordType::Lead as i32,
                            id: Uuid::now_v7().to_string(),
                        }),
                        remind_time: Some(prost_types::Timestamp {
                            seconds: chrono::Utc::now().timestamp() - 60,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("in the past");
        assert_eq!(fields(error), ["activity.remind_time"]);
    }

    #[tokio::test]
    async fn bad_activities_name_every_field_without_touching_the_store() {
        let mut store = MockActivityStore::new();
        store.expect_create_activity().never();
        let error = ActivityApi::new(Arc::new(store))
            .create(
                Viewer {
                    tenant_id: Uuid::now_v7(),
                    user_id: Uuid::now_v7(),
                    role: auth::BuiltinRole::SalesRep,
                },
                pb::CreateActivityRequest {
                    activity: Some(pb::Activity {
                        kind: 99,
                        subject: "Call back".into(),
                        related_to: Some(pb::RecordRef {
                            r#type: 0,
                            id: "x".into(),
                        }),
                        due_date: "31.12.2026".into(),
                        remind_time: Some(prost_types::Timestamp {
                            seconds: 0,
                            nanos: -1,
                        }),
                        ..Default::default()
                    }),
                },
            )
            .await
            .expect_err("invalid");
        assert_eq!(
            fields(error),
            [
                "activity.kind",
                "activity.related_to.type",
                "activity.related_to.id",
                "activity.due_date",
                "activity.remind_time"
            ]
        );
    }
}
