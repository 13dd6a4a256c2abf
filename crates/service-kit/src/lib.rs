//! Plumbing shared by the VBS services: configuration, telemetry, HTTP error envelopes and
//! extractors, token authentication, the PostgreSQL pool, the transactional outbox and its relay,
//! and RabbitMQ topology, publishing and consuming.
//!
//! The services own their domain, routes and tables; everything here is mechanism that must
//! behave the same in all of them (an error body, a token check, an outbox row) and so exists
//! once.

pub mod amqp;
pub mod auth;
pub mod config;
pub mod db;
pub mod http;
pub mod inbox;
pub mod outbox;
pub mod telemetry;
pub mod testing;

/// Stops background loops (relay, consumers) when a service shuts down.
pub use tokio_util::sync::CancellationToken;
