//! Integration tests of the engagement service against the real PostgreSQL and RabbitMQ: each
//! test spawns its own service on free ports with its own schema, queue names and tenants.

mod bad_input;
mod crm_events;
mod heatmap;
mod helpers;
mod ingestion;
mod report;
mod scoring_model;
