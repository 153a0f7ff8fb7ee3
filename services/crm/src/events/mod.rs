//! Events: the ones this service publishes (built here, written by the store into the outbox in
//! the same transaction as the change) and the handler of the tenants events it consumes.

pub mod commerce;
pub mod custom_fields;
pub mod imports;
pub mod inbound;
pub mod publish;
pub mod quotas;
pub mod records;
pub mod support;
pub mod tenants;

pub use inbound::InboundHandler;
pub use publish::Change;
pub use tenants::TenantsHandler;
