//! Plumbing shared by the VBS services: configuration, telemetry, HTTP error envelopes and
//! extractors, the health check and OpenAPI serving, token authentication, the PostgreSQL pool
//! and migrations, typed id columns, the transactional outbox and its relay, and RabbitMQ
//! topology, publishing and consuming. [`process::ServiceProcess`] puts the parts every service
//! process has together.
//!
//! The services own their domain, routes and tables; everything here is mechanism that must
//! behave the same in all of them (an error body, a token check, an outbox row) and so exists
//! once.

pub mod amqp;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod inbox;
pub mod openapi;
pub mod outbox;
pub mod process;
pub mod telemetry;
/// Test support, only in test builds: `service-kit = { …, features = ["testing"] }` as a
/// dev-dependency.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[doc(hidden)]
pub mod __macro_support {
    pub use anyhow::Error as AnyhowError;
    pub use diesel::result::Error as DieselError;
}

/// Stops background loops (relay, consumers) when a service shuts down.
pub use tokio_util::sync::CancellationToken;
