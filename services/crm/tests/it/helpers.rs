//! Shared fixtures: clients with tokens, a team of users in the projection, direct database
//! access to the test schema, and a tap on the events exchange.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::BuiltinRole;
use crm::testing::TestCrm;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use prost::Message;
use proto::crm as pb;
use proto::events::Envelope;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

/// Generous: the suite runs on 2 cores next to other test binaries.
pub const DEADLINE: Duration = Duration::from_secs(30);
pub const EXCHANGE: &str = "salescompass.events";

pub use testkit::amqp::amqp_url;

/// A request carrying `authorization: Bearer <token>`.
pub fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

/// One user's clients, with their token attached to every call.
pub struct As {
    pub token: String,
    pub user_id: Uuid,
    channel: Channel,
}

impl As {
    pub fn req<T>(&self, message: T) -> Request<T> {
        authed(&self.token, message)
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn accounts(&self) -> pb::account_service_client::AccountServiceClient<Channel> {
        pb::account_service_client::AccountServiceClient::new(self.channel.clone())
    }

    pub fn contacts(&self) -> pb::contact_service_client::ContactServiceClient<Channel> {
        pb::contact_service_client::ContactServiceClient::new(self.channel.clone())
    }

    pub fn leads(&self) -> pb::lead_service_client::LeadServiceClient<Channel> {
        pb::lead_service_client::LeadServiceClient::new(self.channel.clone())
    }

    pub fn pipelines(&self) -> pb::pipeline_service_client::PipelineServiceClient<Channel> {
        pb::pipeline_service_client::PipelineServiceClient::new(self.channel.clone())
    }

    pub fn opportunities(
        &self,
    ) -> pb::opportunity_service_client::OpportunityServiceClient<Channel> {
        pb::opportunity_service_client::OpportunityServiceClient::new(self.channel.clone())
    }

    pub fn settings(&self) -> pb::crm_settings_service_client::CrmSettingsServiceClient<Channel> {
        pb::crm_settings_service_client::CrmSettingsServiceClient::new(self.channel.clone())
    }

    pub async fn create_account(&self, name: &str) -> pb::Account {
        self.accounts()
            .create_account(self.req(pb::CreateAccountRequest {
                force: true,
                account: Some(pb::Account {
                    name: name.to_owned(),
                    ..Default::default()
                }),
            }))
            .await
            .expect("account created")
            .into_inner()
    }

    pub async fn create_contact(&self, last_name: &str) -> pb::Contact {
        self.contacts()
            .create_contact(self.req(pb::CreateContactRequest {
                force: true,
                contact: Some(pb::Contact {
                    last_name: last_name.to_owned(),
                    ..Default::default()
                }),
            }))
            .await
            .expect("contact created")
            .into_inner()
    }

    pub async fn create_lead(&self, last_name: &str, company: &str) -> pb::Lead {
        self.leads()
            .create_lead(self.req(pb::CreateLeadRequest {
                first_name: "Ada".to_owned(),
                last_name: last_name.to_owned(),
                email: format!(
                    "{}@{}.test",
                    last_name.to_lowercase(),
                    Uuid::now_v7().simple()
                ),
                company: company.to_owned(),
                force: true,
                ..Default::default()
            }))
            .await
            .expect("lead created")
            .into_inner()
    }

    pub async fn create_opportunity(&self, name: &str) -> pb::Opportunity {
        self.opportunities()
            .create_opportunity(self.req(pb::CreateOpportunityRequest {
                opportunity: Some(pb::Opportunity {
                    name: name.to_owned(),
                    amount: Some(usd(5_000)),
                    ..Default::default()
                }),
            }))
            .await
            .expect("opportunity created")
            .into_inner()
    }

    pub async fn default_pipeline(&self) -> pb::Pipeline {
        self.pipelines()
            .list_pipelines(self.req(pb::ListPipelinesRequest {}))
            .await
            .expect("pipelines listed")
            .into_inner()
            .pipelines
            .into_iter()
            .find(|p| p.is_default)
            .expect("a default pipeline")
    }
}

pub fn usd(units: i64) -> proto::google::r#type::Money {
    proto::google::r#type::Money {
        currency_code: "USD".to_owned(),
        units,
        nanos: 0,
    }
}

/// A user of `tenant_id` acting on `crm`.
pub async fn user(crm: &TestCrm, tenant_id: Uuid, user_id: Uuid, role: BuiltinRole) -> As {
    As {
        token: crm.token(tenant_id, user_id, role),
        user_id,
        channel: crm.channel().await,
    }
}

/// Service `name` acting in `tenant_id` on `crm` with exactly `permissions`, with a service token
/// as the tenants service mints them (IssueServiceToken); `user_id` is the service's actor id.
pub async fn service(crm: &TestCrm, tenant_id: Uuid, name: &str, permissions: &[&str]) -> As {
    let now = chrono::Utc::now().timestamp();
    let service = auth::ServiceName::parse(name).expect("a valid service name");
    let token = crm
        .signer
        .sign(&auth::token::ServiceClaims {
            iss: auth::token::ISSUER.to_owned(),
            aud: auth::token::AUDIENCE.to_owned(),
            sub: service.subject(),
            kind: auth::token::SERVICE_KIND.to_owned(),
            tid: tenant_id,
            perms: permissions.iter().map(|p| (*p).to_owned()).collect(),
            iat: now,
            exp: now + 600,
            jti: Uuid::now_v7(),
        })
        .expect("token signs");
    As {
        token,
        user_id: service.actor_id(),
        channel: crm.channel().await,
    }
}

/// The four roles of a tenant, projected as the tenants events would: the manager manages
/// `rep` directly; `other_rep` reports to nobody in this team.
pub struct Team {
    pub tenant_id: Uuid,
    pub admin: As,
    pub manager: As,
    pub rep: As,
    pub other_rep: As,
    pub support: As,
}

pub async fn team(crm: &TestCrm, db: &Db) -> Team {
    let tenant_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let (admin, manager, rep, other_rep, support) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    for (user_id, manager_id, role) in [
        (admin, None, BuiltinRole::Admin),
        (manager, Some(admin), BuiltinRole::Manager),
        (rep, Some(manager), BuiltinRole::SalesRep),
        (other_rep, Some(admin), BuiltinRole::SalesRep),
        (support, Some(admin), BuiltinRole::Support),
    ] {
        db.project_user(tenant_id, user_id, manager_id, role, true)
            .await;
    }
    Team {
        tenant_id,
        admin: user(crm, tenant_id, admin, BuiltinRole::Admin).await,
        manager: user(crm, tenant_id, manager, BuiltinRole::Manager).await,
        rep: user(crm, tenant_id, rep, BuiltinRole::SalesRep).await,
        other_rep: user(crm, tenant_id, other_rep, BuiltinRole::SalesRep).await,
        support: user(crm, tenant_id, support, BuiltinRole::Support).await,
    }
}

/// The test schema, as its owner (row-level security does not apply).
pub struct Db {
    pub pool: PgPool,
}

impl Db {
    pub async fn connect(crm: &TestCrm) -> Self {
        Self::connect_as(crm, None).await
    }

    /// Connected as `role` (e.g. the service's app role, to which RLS applies).
    pub async fn connect_as(crm: &TestCrm, role: Option<&str>) -> Self {
        let options: PgConnectOptions = testkit::database_url().parse().expect("database url");
        let options = options.options([("search_path", crm.schema.name.as_str())]);
        let role = role.map(str::to_owned);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                let role = role.clone();
                Box::pin(async move {
                    if let Some(role) = role {
                        sqlx::raw_sql(AssertSqlSafe(format!(r#"SET ROLE "{role}""#)))
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
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
        active: bool,
    ) {
        sqlx::query(
            "INSERT INTO crm_users (tenant_id, user_id, manager_id, role, active, source_time)
             VALUES ($1, $2, $3, $4, $5, now())",
        )
        .bind(tenant_id)
        .bind(user_id)
        .bind(manager_id)
        .bind(role.as_str())
        .bind(active)
        .execute(&self.pool)
        .await
        .expect("user projected");
    }

    pub async fn count(&self, sql: &'static str, tenant_id: Uuid) -> i64 {
        sqlx::query_scalar(sql)
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await
            .expect(sql)
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

/// The description of the first field violation.
pub fn violation_description(status: &Status) -> String {
    status
        .get_error_details()
        .bad_request()
        .and_then(|b| b.field_violations.first().map(|v| v.description.clone()))
        .unwrap_or_default()
}

/// A queue of our own on the events exchange, collecting every envelope it receives.
pub struct Tap {
    pub received: Arc<Mutex<Vec<Envelope>>>,
    queue: String,
    connection: Connection,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    pub async fn bind(bindings: &[&str]) -> Self {
        let queue = format!("test.crm.tap.{}", testkit::unique_suffix());
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("connect to rabbitmq");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .exchange_declare(
                EXCHANGE.into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare exchange");
        channel
            .queue_declare(
                queue.as_str().into(),
                // Exclusive: the broker deletes it with the connection, even if the test panics.
                QueueDeclareOptions {
                    exclusive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare tap queue");
        for binding in bindings {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    EXCHANGE.into(),
                    (*binding).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind tap queue");
        }
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume tap queue");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let _ = delivery.ack(BasicAckOptions::default()).await;
                if let Ok(envelope) = Envelope::decode(delivery.data.as_slice()) {
                    sink.lock().expect("tap lock").push(envelope);
                }
            }
        });
        Self {
            received,
            queue,
            connection,
            task,
        }
    }

    /// Waits until `count` envelopes of `tenant_id` have arrived; returns them in arrival order.
    pub async fn wait_for(&self, tenant_id: Uuid, count: usize) -> Vec<Envelope> {
        self.wait_for_matching(tenant_id, count, |_| true).await
    }

    /// Waits for `count` events of the tenant that `wanted` accepts; events
    /// published before the one under test (still in flight through the
    /// outbox when the tap was bound) are skipped rather than miscounted.
    pub async fn wait_for_matching(
        &self,
        tenant_id: Uuid,
        count: usize,
        wanted: impl Fn(&Envelope) -> bool + Copy,
    ) -> Vec<Envelope> {
        let tenant = tenant_id.to_string();
        let received = Arc::clone(&self.received);
        testkit::poll_until(DEADLINE, || {
            let received = Arc::clone(&received);
            let tenant = tenant.clone();
            async move {
                let mine: Vec<Envelope> = received
                    .lock()
                    .expect("tap lock")
                    .iter()
                    .filter(|e| e.tenant_id == tenant && wanted(e))
                    .cloned()
                    .collect();
                (mine.len() >= count).then_some(mine)
            }
        })
        .await
        .unwrap_or_else(|| panic!("{count} events of tenant {tenant_id} did not arrive in time"))
    }

    pub async fn close(self) {
        self.task.abort();
        if let Ok(channel) = self.connection.create_channel().await {
            let _ = channel
                .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Declares the service's consumer queue and bindings now (the service does it too, in the
/// background), so events published right after are not missed.
pub async fn declare_consumer_queue(crm: &TestCrm, db: &Db) {
    events::Consumer::new(
        db.pool.clone(),
        crm.settings.amqp.url.clone(),
        events::ConsumerConfig::new(
            crm.settings.amqp.queue.clone(),
            crm::events::inbound::bindings(),
        ),
        crm::events::InboundHandler,
    )
    .declare()
    .await
    .expect("queue declared");
}

/// Publishes an envelope to the events exchange, as another service's relay would.
pub async fn publish(envelope: &Envelope) {
    testkit::amqp::publish(
        EXCHANGE,
        &[(envelope.event_type.as_str(), envelope.encode_to_vec())],
    )
    .await;
}

/// Decodes an envelope's payload.
pub fn payload<M: Message + Default>(envelope: &Envelope) -> M {
    M::decode(envelope.payload.as_ref().expect("payload").value.as_slice())
        .expect("payload decodes")
}
