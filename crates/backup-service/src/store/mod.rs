//! The backup database (`vbs_backup`): backups, their shares, jobs, and the projects that have
//! stored data.
//! All of the service's SQL is here.
//!
//! Functions take a connection and return `QueryResult`, so callers compose them in one
//! transaction with the outbox row that announces the change. Ids are typed
//! ([`DbId`](service_kit::db::DbId), [`DbProjectId`](service_kit::db::DbProjectId)) and stored
//! as text; times are `TIMESTAMP` (UTC). PostgreSQL-only SQL — row locks (`FOR UPDATE`, `SKIP
//! LOCKED`) and advisory locks — sits in functions that say so.

pub mod backups;
pub mod jobs;
pub mod projects;
pub mod schema;
pub mod shares;

pub use backups::BackupRow;
pub use jobs::JobRow;
