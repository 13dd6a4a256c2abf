//! backup-service: volume backups — the native (Cinder) and VBS backup APIs, the workers that
//! back up, restore and delete with the block-level engine, retention, garbage collection.
//!
//! It owns the `vbs_backup` database and the object store. The API role only records requests
//! (a job row and its `backup.job` message, in one transaction); the worker role consumes
//! `backup.job` and the scheduler's `backup.requested`, runs the engine, and reports
//! `task.status` through the outbox. One binary, `--role api|worker|all`.

pub mod config;
pub mod domain;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod storage;
pub mod store;
pub mod submit;
pub mod volumes;
pub mod worker;

pub use startup::Application;
