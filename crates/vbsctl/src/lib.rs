//! Library side of `vbsctl`: a typed HTTP client of the public API (also the consumer in the
//! HTTP contract tests).

pub mod client;
