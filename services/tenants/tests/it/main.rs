//! Integration tests of the tenants service against the real PostgreSQL: each test spawns its
//! own service on free ports with its own schema (dropped afterwards).

mod audit_log;
mod auth_flows;
mod bad_input;
mod events;
mod exchange_rates;
mod helpers;
mod isolation;
mod provisioning;
mod readiness;
mod service_tokens;
mod users;
