//! End-to-end: the real tenants service and the gateway on free ports, driven over REST with
//! reqwest exactly as a frontend would. Each test provisions its own tenant(s).

mod helpers;

mod access_log;
mod auth_and_tenancy;
mod bad_input;
mod commissions_journeys;
mod crm_data_journeys;
mod crm_journeys;
mod custom_field_journeys;
mod edge;
mod engagement_journeys;
mod forecast_journeys;
mod frontend_flow;
mod history_journeys;
mod idempotency;
mod in_process;
mod metric_names;
mod notifications_journeys;
mod openapi;
mod pipeline_journeys;
mod rate_limits;
mod tracing;
