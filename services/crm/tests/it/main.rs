//! Integration tests of the CRM service against the real PostgreSQL and RabbitMQ: each test
//! spawns its own service on free ports with its own schema, queue names and tenants.

mod accounts_contacts;
mod activities;
mod assignment;
mod auth;
mod board;
mod cases;
mod conversion;
mod credit_splits;
mod custom_field_updates;
mod custom_fields;
mod duplicates;
mod events;
mod forecast;
mod handover;
mod health;
mod helpers;
mod history;
mod import_jobs;
mod imports;
mod leads_listing;
mod merge;
mod notifications;
mod opportunities;
mod pipeline_edits;
mod pipelines;
mod quotes;
mod search;
mod service_callers;
mod sharing;
mod tenancy;
mod visibility;
