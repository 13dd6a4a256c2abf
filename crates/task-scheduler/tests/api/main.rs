#![allow(clippy::unwrap_used, reason = "test helpers fail the test loudly on any error")]

//! API and messaging tests: the real service on port 0 with a fresh PostgreSQL database per
//! test, its own RabbitMQ namespace and a manual clock that the tests move.

mod helpers;

mod contracts;
mod firing;
mod openapi;
mod policy_events;
mod query;
mod replicas;
mod schema;
mod task_status;
