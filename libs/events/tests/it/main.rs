//! Integration tests of the event backbone against the real PostgreSQL and RabbitMQ on
//! 127.0.0.1 (override with EVENTS_TEST_POSTGRES / EVENTS_TEST_AMQP). One binary, modules per
//! concern; every test owns its schema, exchange and queues, so they run in parallel.

mod consumer;
mod history;
mod migrations;
mod outbox;
mod relay;
mod row_level_security;
mod support;
mod trace_context;
