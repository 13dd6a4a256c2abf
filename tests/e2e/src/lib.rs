//! End-to-end tests of the whole product through the gateway: see `tests/` (the harness is
//! `tests/support/mod.rs`). This crate has no library code of its own.
