//! Shared fixtures: clients with tokens, a team of users in the projection, direct database
//! access to the test schema, CRM deal events published to the real exchange.

use std::time::Duration;

use auth::BuiltinRole;
use chrono::NaiveDate;
use commissions::testing::TestCommissions;
use prost::Message;
use proto::commissions as pb;
use proto::crm as crm_pb;
use proto::events::Envelope;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

/// Generous: the suite runs on 2 cores next to other test binaries.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// One user's clients, with their token attached to every call.
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

    pub fn plans(&self) -> pb::plan_service_client::PlanServiceClient<Channel> {
        pb::plan_service_client::PlanServiceClient::new(self.channel.clone())
    }

    pub fn adjustments(&self) -> pb::adjustment_service_client::AdjustmentServiceClient<Channel> {
        pb::adjustment_service_client::AdjustmentServiceClient::new(self.channel.clone())
    }

    pub fn commissions(&self) -> pb::commission_service_client::CommissionServiceClient<Channel> {
        pb::commission_service_client::CommissionServiceClient::new(self.channel.clone())
    }

    /// Lines of `participant`'s quarterly statement starting `start`.
    pub async fn lines(&self, participant: Uuid, start: &str) -> Result<Vec<pb::Line>, Status> {
        Ok(self
            .commissions()
            .list_lines(self.req(pb::ListLinesRequest {
                participant_id: participant.to_string(),
                period: pb::PeriodKind::Quarter as i32,
                period_start: start.to_owned(),
                ..Default::default()
            }))
            .await?
            .into_inner()
            .lines)
    }
}

/// Admin, a manager, a rep reporting to the manager and a rep reporting to nobody in the team.
pub struct Team {
    pub tenant_id: Uuid,
    pub admin: As,
    pub manager: As,
    pub rep: As,
    pub other_rep: As,
}

pub async fn team(service: &TestCommissions, db: &Db) -> Team {
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
    let channel = Channel::from_shared(service.url())
        .expect("valid uri")
        .connect()
        .await
        .expect("service reachable");
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

/// Another user of the team's tenant, projected with `role` and reporting to nobody.
pub async fn another(service: &TestCommissions, db: &Db, team: &Team, role: BuiltinRole) -> As {
    report_to(service, db, team, None, role).await
}

/// Another user of the team's tenant, projected with `role` and reporting to `manager`.
pub async fn report_to(
    service: &TestCommissions,
    db: &Db,
    team: &Team,
    manager: Option<Uuid>,
    role: BuiltinRole,
) -> As {
    let user_id = Uuid::now_v7();
    db.project_user(team.tenant_id, user_id, manager, role)
        .await;
    As {
        token: service.token(team.tenant_id, user_id, role),
        user_id,
        channel: team.admin.channel.clone(),
    }
}

/// The test schema, as its owner (row-level security does not apply).
pub struct Db {
    pub pool: PgPool,
}

impl Db {
    pub async fn connect(service: &TestCommissions) -> Self {
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
            "INSERT INTO commission_users (tenant_id, user_id, manager_id, role, active, source_time)
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

    /// Event types in the outbox for `tenant_id`, in order.
    pub async fn outbox_types(&self, tenant_id: Uuid) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM outbox WHERE tenant_id = $1 ORDER BY seq")
            .bind(tenant_id)
            .fetch_all(&self.pool)
            .await
            .expect("outbox readable")
    }

    /// The payloads of `tenant_id`'s outbox events of `event_type`, in order.
    pub async fn outbox_payloads<M: prost::Message + Default>(
        &self,
        tenant_id: Uuid,
        event_type: &str,
    ) -> Vec<M> {
        let envelopes: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT envelope FROM outbox WHERE tenant_id = $1 AND event_type = $2 ORDER BY seq",
        )
        .bind(tenant_id)
        .bind(event_type)
        .fetch_all(&self.pool)
        .await
        .expect("outbox readable");
        envelopes
            .iter()
            .map(|bytes| {
                let envelope = Envelope::decode(bytes.as_slice()).expect("envelope");
                let any = envelope.payload.expect("payload");
                M::decode(any.value.as_slice()).expect("payload decodes")
            })
            .collect()
    }

    pub async fn audit_count(&self, tenant_id: Uuid, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE tenant_id = $1 AND action = $2")
            .bind(tenant_id)
            .bind(action)
            .fetch_one(&self.pool)
            .await
            .expect("audit readable")
    }
}

/// Declares the service's consumer queue and bindings now (the service does it too, in the
/// background), so events published right after are not missed.
pub async fn declare_consumer_queue(service: &TestCommissions, db: &Db) {
    events::Consumer::new(
        db.pool.clone(),
        service.settings.amqp.url.clone(),
        events::ConsumerConfig {
            exchange: service.settings.amqp.exchange.clone(),
            ..events::ConsumerConfig::new(
                service.settings.amqp.queue.clone(),
                commissions::events::BINDINGS.iter().copied(),
            )
        },
        commissions::events::CommissionsHandler,
    )
    .declare()
    .await
    .expect("queue declared");
}

/// A flat-rate quarterly plan in USD for `participants`, effective from 2025.
pub fn flat_plan(participants: &[Uuid], rate_millionths: i64) -> pb::PlanVersion {
    pb::PlanVersion {
        effective_from: "2025-01-01".into(),
        participant_ids: participants.iter().map(Uuid::to_string).collect(),
        currency_code: "USD".into(),
        period: pb::PeriodKind::Quarter as i32,
        flat_rate_millionths: rate_millionths,
        ..Default::default()
    }
}

pub async fn create_plan(admin: &As, name: &str, version: pb::PlanVersion) -> pb::Plan {
    admin
        .plans()
        .create_plan(admin.req(pb::CreatePlanRequest {
            name: name.to_owned(),
            version: Some(version),
        }))
        .await
        .expect("plan created")
        .into_inner()
}

/// `crm.opportunity.won` as the CRM's relay publishes it.
pub fn won(
    tenant_id: Uuid,
    deal_id: Uuid,
    units: i64,
    splits: &[(Uuid, i32)],
    close_date: NaiveDate,
) -> Envelope {
    won_with_products(tenant_id, deal_id, units, splits, close_date, vec![])
}

/// A USD product line of a won deal's accepted quote, net amount in cents.
pub fn closed_product(product_id: Uuid, sku: &str, net_cents: i64) -> crm_pb::ClosedProduct {
    crm_pb::ClosedProduct {
        product_id: product_id.to_string(),
        sku: sku.to_owned(),
        name: format!("Product {sku}"),
        quantity: 1,
        net_amount: Some(proto::google::r#type::Money {
            currency_code: "USD".into(),
            units: net_cents / 100,
            nanos: i32::try_from(net_cents % 100).expect("cents") * 10_000_000,
        }),
    }
}

/// [`won`] with the products of an accepted quote.
pub fn won_with_products(
    tenant_id: Uuid,
    deal_id: Uuid,
    units: i64,
    splits: &[(Uuid, i32)],
    close_date: NaiveDate,
    products: Vec<crm_pb::ClosedProduct>,
) -> Envelope {
    won_in(
        "USD", tenant_id, deal_id, units, splits, close_date, products,
    )
}

/// [`won_with_products`] of a deal in `currency`.
pub fn won_in(
    currency: &str,
    tenant_id: Uuid,
    deal_id: Uuid,
    units: i64,
    splits: &[(Uuid, i32)],
    close_date: NaiveDate,
    products: Vec<crm_pb::ClosedProduct>,
) -> Envelope {
    let payload = crm_pb::OpportunityClosed {
        opportunity: Some(crm_pb::Opportunity {
            id: deal_id.to_string(),
            ..Default::default()
        }),
        amount: Some(proto::google::r#type::Money {
            currency_code: currency.into(),
            units,
            nanos: 0,
        }),
        owner_id: splits[0].0.to_string(),
        splits: splits
            .iter()
            .map(|(user, percent)| crm_pb::CreditSplit {
                user_id: user.to_string(),
                percent: *percent,
            })
            .collect(),
        pipeline_id: Uuid::now_v7().to_string(),
        close_date: close_date.format("%Y-%m-%d").to_string(),
        products,
        ..Default::default()
    };
    events::NewEvent::new(
        "crm.opportunity.won",
        tenant_id,
        "opportunity",
        deal_id,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

/// `crm.opportunity.reopened` of a won deal.
pub fn reopened(tenant_id: Uuid, deal_id: Uuid) -> Envelope {
    let payload = crm_pb::OpportunityReopened {
        opportunity: Some(crm_pb::Opportunity {
            id: deal_id.to_string(),
            ..Default::default()
        }),
        previous_state: "won".into(),
        actor_id: Uuid::now_v7().to_string(),
    };
    events::NewEvent::new(
        "crm.opportunity.reopened",
        tenant_id,
        "opportunity",
        deal_id,
        &payload,
    )
    .expect("event")
    .to_envelope()
}

/// Publishes envelopes to the events exchange in order, as another service's relay would.
pub async fn publish(service: &TestCommissions, envelopes: &[&Envelope]) {
    let messages: Vec<(&str, Vec<u8>)> = envelopes
        .iter()
        .map(|e| (e.event_type.as_str(), e.encode_to_vec()))
        .collect();
    testkit::amqp::publish(&service.settings.amqp.exchange, &messages).await;
}

/// Polls `who`'s view of `participant`'s quarter until `ready` holds for its lines.
pub async fn lines_until(
    who: &As,
    participant: Uuid,
    start: &str,
    ready: impl Fn(&[pb::Line]) -> bool,
) -> Vec<pb::Line> {
    testkit::poll_until(DEADLINE, || async {
        let lines = who.lines(participant, start).await.ok()?;
        ready(&lines).then_some(lines)
    })
    .await
    .unwrap_or_else(|| panic!("lines of {participant} for {start} did not appear in time"))
}

/// Asserts the status code and that the field violations name exactly `fields`.
pub fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let named: Vec<&str> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| v.field.as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(named, fields, "{status:?}");
}

pub fn day(raw: &str) -> NaiveDate {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("date")
}
