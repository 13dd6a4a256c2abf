//! Library side of `vbsctl`: the merged gateway OpenAPI document and a typed HTTP client of the
//! public API (also the consumer in the HTTP contract tests).

pub mod client;
pub mod openapi;
