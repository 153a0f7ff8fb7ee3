//! Domain event backbone: the envelope, the transactional outbox, the relay that publishes it to
//! RabbitMQ, and idempotent consumers with retries and a dead-letter queue.
//!
//! Guarantees: an event exists if and only if its business transaction committed; it is
//! published at least once, in commit order per aggregate (also across relay replicas); a
//! consumer applies it exactly once, because the event id is recorded in `processed_events` in
//! the same transaction as the handler's effect; a failing event is retried with backoff, then
//! parked with its error in `<queue>.dlq`, from where [`DeadLetters`] lists and replays it.
//!
//! # Adopting it in a service
//!
//! ```no_run
//! use events::{
//!     Consumer, ConsumerConfig, Event, Handler, HandlerError, NewEvent, Relay, RelayConfig,
//! };
//! use sqlx::{PgPool, Postgres, Transaction};
//! use tokio_util::sync::CancellationToken;
//! # #[derive(Clone, PartialEq, prost::Message)] struct UserCreated {}
//! # impl prost::Name for UserCreated {
//! #     const NAME: &'static str = "UserCreated";
//! #     const PACKAGE: &'static str = "salescompass.tenants.v1";
//! # }
//!
//! // 1. Migrations: the service's own migrator first, then the events one; both must
//! //    `set_ignore_missing(true)` since they share the schema's `_sqlx_migrations` table.
//! //    `events::migrator()` returns one already set up (or call `events::migrate(&pool)`).
//!
//! // 2. Publish inside the business transaction, scoped to the event's tenant: the outbox is
//! //    under row-level security, so an event can only be written for the transaction's tenant.
//! async fn create_user(
//!     pool: &PgPool,
//!     tenant_id: uuid::Uuid,
//!     user_id: uuid::Uuid,
//! ) -> Result<(), events::Error> {
//!     let mut tx = db::begin_for_tenant(pool, tenant_id).await?;
//!     // ... INSERT INTO users ...
//!     let payload = UserCreated {};
//!     let event = NewEvent::new("tenants.user.created", tenant_id, "user", user_id, &payload)?;
//!     events::outbox::enqueue(&mut tx, &event).await?;
//!     tx.commit().await?;
//!     Ok(())
//! }
//!
//! // 3. Consume: the effect goes through `tx` (scoped to the event's tenant for RLS).
//! struct Projection;
//! #[async_trait::async_trait]
//! impl Handler for Projection {
//!     async fn handle(
//!         &self,
//!         event: &Event,
//!         tx: &mut Transaction<'static, Postgres>,
//!     ) -> Result<(), HandlerError> {
//!         let _created: UserCreated = event.payload().map_err(HandlerError::permanent)?;
//!         // ... INSERT INTO user_projection ... with &mut **tx
//!         Ok(())
//!     }
//! }
//!
//! // 4. Run the relay and the consumers next to the gRPC server, stopped by the same token.
//! async fn run(
//!     pool: PgPool,
//!     amqp_url: &str,
//!     shutdown: CancellationToken,
//! ) -> Result<(), events::Error> {
//!     let relay = Relay::new(pool.clone(), amqp_url, RelayConfig::default());
//!     let consumer = Consumer::new(
//!         pool,
//!         amqp_url,
//!         ConsumerConfig::new("crm.tenants", ["tenants.user.*"]),
//!         Projection,
//!     );
//!     let (relayed, consumed) = tokio::join!(relay.run(shutdown.clone()), consumer.run(shutdown));
//!     relayed.and(consumed)
//! }
//! ```
//!
//! Pool sizing: a relay holds up to `max_in_flight_batches + 1` connections while busy and a
//! consumer up to `concurrency`, on top of the service's own requests.
//!
//! Operations: [`DeadLetters`] lists and replays a queue's dead letters (expose it as an admin
//! RPC or a `<service> dead-letters` command); [`replay_history`] republishes the retained outbox
//! to a new consumer's queue (run on the producer, which owns the outbox). Metrics are in the
//! default Prometheus registry under `events_*`.

mod amqp;
mod backoff;
mod consumer;
mod dead_letter;
mod error;
mod event_type;
mod history;
mod metrics;
pub mod outbox;
mod relay;
mod trace;

pub use backoff::Backoff;
pub use consumer::{Consumer, ConsumerConfig, Event, Handler, HandlerError};
pub use dead_letter::{DeadLetter, DeadLetters};
pub use error::Error;
pub use event_type::{validate_binding, validate_event_type};
pub use history::{HistoryReplay, replay_history};
pub use outbox::NewEvent;
pub use proto::events::Envelope;
pub use relay::{Relay, RelayConfig};

/// The topic exchange every service publishes to (architecture §5).
pub const EXCHANGE: &str = "salescompass.events";

/// Embedded migrations for the `outbox` and `processed_events` tables, versions 9_000_000_001 and
/// up. Prefer [`migrate`], which runs them the way they must be run next to a service's own.
///
/// The outbox is under row-level security on `app.tenant_id`; the relay and [`replay_history`]
/// reach every tenant's rows through `SECURITY DEFINER` functions (`outbox_*`) on which the
/// application role needs `EXECUTE` (`db::migrate` grants it).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The event migrations as an owned migrator that ignores versions it does not know, for
/// `db::migrate(&settings, vec![service::MIGRATOR_OWNED, events::migrator()])`-style callers that
/// take migrators by value. The service's own migrator must ignore missing versions too, since
/// both share the schema's `_sqlx_migrations` table.
pub fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate::Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
    migrator.set_ignore_missing(true);
    migrator
}

/// Creates or updates the event tables in the schema first on the pool's `search_path`, the way
/// they must run next to a service's own migrations (see [`migrator`]).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), Error> {
    migrator().run(pool).await?;
    Ok(())
}
