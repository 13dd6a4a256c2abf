#![allow(clippy::unwrap_used, reason = "test helpers fail the test loudly on any error")]

//! API tests: the real service on port 0 with a fresh PostgreSQL database per test and its own
//! RabbitMQ namespace, driven over HTTP.

mod helpers;

mod auth;
mod contracts;
mod errors;
mod events;
mod gophertelekomcloud;
mod openapi;
mod policies;
mod resources;
mod schema;
mod tags;
