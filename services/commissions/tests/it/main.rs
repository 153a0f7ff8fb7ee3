//! Integration tests of the commissions service against the real PostgreSQL and RabbitMQ: each
//! test spawns its own service on free ports with its own schema, queue names and tenants.

mod adjustments;
mod bad_input;
mod browsing;
mod currency_conversion;
mod deactivated_users;
mod deal_events;
mod documents;
mod helpers;
mod plan_versions;
mod team_attainment;
mod tenant_suspension;
