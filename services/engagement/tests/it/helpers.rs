//! Shared fixtures: clients with tokens, a team of users and CRM records in the projections,
//! direct database access to the test schema, CRM events published to the test exchange.

use std::time::Duration;

use auth::BuiltinRole;
use chrono::{DateTime, Utc};
use engagement::testing::TestEngagement;
use prost::Message;
use proto::engagement as pb;
use proto::events::Envelope;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

/// Generous: the suite runs on 2 cores next to other test binaries.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// One user's client, with their token attached to every call.
pub struct As {
    pub token: String,
    pub user_id: Uuid,
    channel: Channel,
}

impl As {
    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", self.token)
                .parse()
                .expect("ascii token"),
        );
        request
    }

    pub fn api(&self) -> pb::engagement_service_client::EngagementServiceClient<Channel> {
        pb::engagement_service_client::EngagementServiceClient::new(self.channel.clone())
    }

    pub async fn record(
        &self,
        events: Vec<pb::EngagementEvent>,
    ) -> Result<Vec<pb::EngagementEvent>, Status> {
        Ok(self
            .api()
            .batch_create_engagement_events(
                self.req(pb::BatchCreateEngagementEventsRequest { events }),
            )
            .await?
            .into_inner()
            .events)
    }

    pub async fn contact(&self, id: Uuid) -> Result<pb::Engagement, Status> {
        Ok(self
            .api()
            .get_contact_engagement(self.req(pb::GetContactEngagementRequest {
                contact_id: id.to_string(),
            }))
            .await?
            .into_inner())
    }

    pub async fn account(&self, id: Uuid) -> Result<pb::Engagement, Status> {
        Ok(self
            .api()
            .get_account_engagement(self.req(pb::GetAccountEngagementRequest {
                account_id: id.to_string(),
            }))
            .await?
            .into_inner())
    }

    pub async fn lead(&self, id: Uuid) -> Result<pb::Engagement, Status> {
        Ok(self
            .api()
            .get_lead_engagement(self.req(pb::GetLeadEngagementRequest {
                lead_id: id.to_string(),
            }))
            .await?
            .into_inner())
    }
}

/// Admin, a manager, a rep reporting to the manager and a rep reporting to the admin.
pub struct Team {
    pub tenant_id: Uuid,
    pub admin: As,
    pub manager: As,
    pub rep: As,
    pub other_rep: As,
}

pub async fn team(service: &TestEngagement, db: &Db) -> Team {
    let tenant_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let roles = [
        (ids[0], None, BuiltinRole::Admin),
        (ids[1], Some(ids[0]), BuiltinRole::Manager),
        (ids[2], Some(ids[1]), BuiltinRole::SalesRep),
        (ids[3], Some(ids[0]), BuiltinRole::SalesRep),
    ];
    for (user_id, manager_id, role) in roles {
        db.project_user(tenant_id, user_id, manager_id, role).await;
    }
    let channel = service.channel().await;
    let user = |(user_id, _, role): (Uuid, Option<Uuid>, BuiltinRole)| As {
        token: service.token(tenant_id, user_id, role),
        user_id,
        channel: channel.clone(),
    };
    Team {
        tenant_id,
        admin: user(roles[0]),
        manager: user(roles[1]),
        rep: user(roles[2]),
        other_rep: user(roles[3]),
    }
}

/// A user of `tenant_id` with `role` (not in the projection: visibility of their own records
/// does not need it).
pub async fn user(service: &TestEngagement, tenant_id: Uuid, role: BuiltinRole) -> As {
    let user_id = Uuid::now_v7();
    As {
        token: service.token(tenant_id, user_id, role),
        user_id,
        channel: service.channel().await,
    }
}

/// The test schema, as its owner (row-level security does not apply).
pub struct Db {
    pub pool: PgPool,
}

impl Db {
    pub async fn connect(service: &TestEngagement) -> Self {
        let options: PgConnectOptions = testkit::database_url().parse().expect("database url");
        let options = options.options([("search_path", service.schema.name.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect to the test schema");
        Self { pool }
    }

    pub async fn project_user(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        manager_id: Option<Uuid>,
        role: BuiltinRole,
    ) {
        sqlx::query(
            "INSERT INTO engagement_users (tenant_id, user_id, manager_id, role, active, source_time)
             VALUES ($1, $2, $3, $4, true, now())",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(manager_id)
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .expect("user projected");
    }

    /// A CRM record as the projection would hold it after the CRM's event.
    pub async fn project_record(
        &self,
        tenant_id: Uuid,
        record_type: &str,
        owner_id: Uuid,
        account_id: Option<Uuid>,
    ) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO engagement_records (tenant_id, record_type, record_id, owner_id, account_id, source_time)
             VALUES ($1, $2, $3, $4, $5, now())",
        )
        .bind(tenant_id)
        .bind(record_type)
        .bind(id)
        .bind(owner_id)
        .bind(account_id)
        .execute(&self.pool)
        .await
        .expect("record projected");
        id
    }

    /// An opportunity of `account` as the projection would hold it.
    pub async fn project_deal(&self, tenant_id: Uuid, account: Uuid, units: i64, open: bool) {
        sqlx::query(
            "INSERT INTO engagement_records (tenant_id, record_type, record_id, account_id,
                 is_open, currency_code, amount_units, amount_nanos, source_time)
             VALUES ($1, 'opportunity', $2, $3, $4, 'USD', $5, 0, now())",
        )
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(account)
        .bind(open)
        .bind(units)
        .execute(&self.pool)
        .await
        .expect("deal projected");
    }

    pub async fn set_time_zone(&self, tenant_id: Uuid, zone: &str) {
        sqlx::query(
            "INSERT INTO engagement_tenants (tenant_id, time_zone, source_time) VALUES ($1, $2, now())",
        )
        .bind(tenant_id)
        .bind(zone)
        .execute(&self.pool)
        .await
        .expect("time zone set");
    }

    pub async fn touch_count(&self, tenant_id: Uuid) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM engagement_events WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await
            .expect("events readable")
    }

    /// Event types in the outbox for `tenant_id`, in order.
    pub async fn outbox_types(&self, tenant_id: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM outbox WHERE tenant_id = $1 ORDER BY seq")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .expect("outbox readable")
    }
}

pub fn ts(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).expect("nanos"),
    }
}

/// A touch of `kind` on a contact at `at`.
pub fn on_contact(
    request_id: &str,
    kind: pb::EngagementKind,
    contact: Uuid,
    at: DateTime<Utc>,
) -> pb::EngagementEvent {
    pb::EngagementEvent {
        request_id: request_id.to_owned(),
        kind: kind as i32,
        contact_id: contact.to_string(),
        occur_time: Some(ts(at)),
        source: "newsletter".into(),
        campaign: "winter-2026".into(),
        ..Default::default()
    }
}

/// The fields an INVALID_ARGUMENT status names, in order.
pub fn bad_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Publishes `envelope` on the service's exchange under its event type.
pub async fn publish(service: &TestEngagement, envelopes: &[Envelope]) {
    let messages: Vec<(&str, Vec<u8>)> = envelopes
        .iter()
        .map(|e| (e.event_type.as_str(), e.encode_to_vec()))
        .collect();
    testkit::amqp::publish(&service.settings.amqp.exchange, &messages).await;
}

/// Declares the service's consumer queue and bindings now (the service does it too, in the
/// background), so events published right after are not missed.
pub async fn declare_consumer_queue(service: &TestEngagement, db: &Db) {
    events::Consumer::new(
        db.pool.clone(),
        service.settings.amqp.url.clone(),
        events::ConsumerConfig {
            exchange: service.settings.amqp.exchange.clone(),
            ..events::ConsumerConfig::new(
                service.settings.amqp.queue.clone(),
                engagement::events::bindings(),
            )
        },
        engagement::events::EngagementHandler,
    )
    .declare()
    .await
    .expect("queue declared");
}
