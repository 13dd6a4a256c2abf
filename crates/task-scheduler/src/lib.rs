//! task-scheduler: turns backup policies into backup tasks at exactly the right instants, hands
//! them to the backup workers, follows them to an end state and serves the task query.
//!
//! It owns the `vbs_scheduler` database: a read model of the policies built from
//! `policy.changed` (idempotent by message id, ordered by policy version), and the tasks. A tick
//! claims due policies with `FOR UPDATE SKIP LOCKED` and, in one transaction per batch, creates
//! one task per volume and slot (a unique key makes a slot fire once however many replicas run)
//! together with the outbox rows of the slot's `backup.requested` (a message carries up to 100
//! tasks). `task.status` messages from the workers move the tasks; a sweeper times out tasks
//! past their deadline. Time comes from a [`clock::Clock`], so tests move it instead of
//! sleeping.

pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod messaging;
pub mod openapi;
pub mod routes;
pub mod scheduler;
pub mod startup;
pub mod store;

pub use startup::Application;
