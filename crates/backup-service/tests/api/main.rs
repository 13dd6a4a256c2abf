#![allow(clippy::unwrap_used, reason = "test helpers fail the test loudly on any error")]

//! API tests: the real service (API and workers) on port 0 with a fresh PostgreSQL database,
//! its own RabbitMQ namespace and its own volume and object-store directories per test,
//! driven over HTTP and AMQP.

mod helpers;

mod cinder;
mod cloud;
mod contracts;
mod crash;
mod errors;
mod gophertelekomcloud;
mod isolation;
mod native;
mod openapi;
mod rbd;
mod roles;
mod scheduled;
mod schema;
mod sharing;
mod volumes;
