//! policy-service: backup policies, their tags and their volumes.
//!
//! It owns the `vbs_policy` database and announces every change as `policy.changed` (and every
//! "execute now" as `policy.execute`) through the outbox, for the task-scheduler to turn into
//! backup tasks.

pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod store;

pub use startup::Application;
