//! backup-service: volume backups — the native (Cinder) and VBS backup APIs, the workers that
//! back up, restore and delete with the block-level engine, retention, garbage collection.
//!
//! It owns the `vbs_backup` database and the object store. The API role only records requests
//! (a job row and its `backup.job` message, in one transaction); the worker role consumes
//! `backup.job` and the scheduler's `backup.requested`, runs the engine, and reports
//! `task.status` through the outbox. One binary, `--role api|worker|all`.
//!
//! Layers, top-down. The entry points are [`routes`] (HTTP: parse the request, call down,
//! render the answer) and [`worker`] (the queue's consumers and background duties); neither
//! calls into the other. Both call [`app`], the use cases and the rules that hold whoever asks.
//! Below it: [`store`] (all the SQL), [`volumes`] (the volume driver), [`engine`] (the backup
//! engine over the object store) and [`project_lock`]; [`domain`] is pure logic any layer uses.

pub mod app;
pub mod config;
pub mod domain;
pub mod engine;
pub mod error;
pub mod openapi;
pub mod project_lock;
pub mod routes;
pub mod startup;
pub mod store;
pub mod volumes;
pub mod worker;

pub use startup::Application;
