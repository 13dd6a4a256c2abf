//! The application layer: what the service does with backups, whoever asks.
//!
//! The HTTP handlers (`routes/`) parse a request into domain types, call down into [`Backups`],
//! and render what it returns; the workers (`worker/`) call [`requests`] when a policy asks for
//! a backup and when retention prunes. Below this layer are the database ([`crate::store`], all
//! the SQL), the volume driver ([`crate::volumes`]) and the engine. Nothing here knows about
//! HTTP or AMQP.
//!
//! ```text
//! routes/native/create.rs ─┐                      ┌─ volumes (the volume exists, its size)
//! routes/cloud/create.rs  ─┼─ Backups::request_backup ─ requests::record_backup ─ store (backup + job rows)
//! worker/requested.rs  ────┘                                                   └─ outbox (backup.job)
//! ```

mod backups;
mod list;
mod manage;
pub mod requests;
mod sharing;

pub use backups::{Backups, CreateParams};
pub use list::{ListQuery, Page};
pub use manage::{BackupRecord, RECORD_SERVICE, Reach};
pub use sharing::{MAX_RECIPIENTS, ShareQuery};
