//! Wire types shared by the VBS services: HTTP DTOs (with their OpenAPI schemas), the validated
//! domain types the DTOs parse into, the two error envelopes, and the AMQP messages.
//!
//! This crate knows nothing of storage, HTTP frameworks or brokers (CI checks that diesel, actix
//! and lapin stay out of its dependency tree), so every service and every client can use it.

pub mod domain;
pub mod dto;
pub mod error;
pub mod message;
pub mod openapi;
