//! The worker's errors, apart from the API's.
//!
//! * [`Failure`]: a job failed, and this is what the tenant is told (the job's `error_code` and
//!   `fail_reason`, the backup's `fail_reason`, the task status). No paths, no internal causes:
//!   those go to the log where the failure is detected.
//! * [`WorkerError`]: the worker could not do its own bookkeeping (the database is down, a
//!   stored value cannot be read). The message is requeued and handled again later.

use api_types::error::codes::volume_backup as vb;
use backup_engine::EngineError;
use service_kit::{amqp::ApplyError, db::DbError, error::InternalError};

use crate::{domain::JobType, error::BackupError, volumes::VolumeError};

/// Why a job failed, as the tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// An error the tenant can do nothing about; `detail` goes to the log.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(what, %detail, "job data invalid");
        Self::new(vb::INTERNAL, "an internal error occurred")
    }

    /// The code of a failed job of type `t` when nothing more specific applies.
    pub fn default_code(t: JobType) -> &'static str {
        match t {
            JobType::Create => vb::CREATE_FAILED,
            JobType::Restore => vb::RESTORE_FAILED,
            JobType::Delete => vb::DELETE_FAILED,
        }
    }

    /// What the tenant is told about an engine failure (`code` for the job's kind; `io_means`
    /// says what a local I/O error was doing); the details go to the log.
    pub fn engine(e: EngineError, code: &'static str, io_means: &str) -> Self {
        tracing::error!(error = %e, "engine operation failed");
        if e.is_storage_full() {
            let which = if matches!(e, EngineError::Store(_)) { "the object store" } else { "the volume" };
            return Self::new(code, format!("{which} is full (no space left): free space and try again"));
        }
        match e {
            EngineError::TargetTooSmall { target, volume } => Self::new(
                vb::RESTORE_TOO_SMALL,
                format!("the volume ({target} bytes) is smaller than the backup ({volume} bytes)"),
            ),
            // The kind ("timed out" when the volume backend stopped answering), not the path.
            EngineError::Io { source, .. } => Self::new(code, format!("{io_means}: {}", source.kind())),
            EngineError::Store(_) => Self::new(code, "the object store failed"),
            EngineError::Corrupt { .. } => Self::new(code, "stored backup data is corrupt"),
            EngineError::BackupNotFound(_) => {
                Self::new(code, "the backup's data is missing from the object store")
            }
            EngineError::ParentNotFound(_) => Self::new(code, "the parent backup disappeared"),
            EngineError::InvalidInput(m) => Self::new(code, format!("invalid request: {m}")),
            EngineError::Pipeline(_) => Self::new(code, "an internal error occurred"),
        }
    }

    /// What the tenant is told about a volume the driver could not use.
    pub fn volume(e: VolumeError) -> Self {
        match e {
            VolumeError::VolumeNotFound(v) => {
                Self::new(vb::VOLUME_NOT_FOUND, format!("volume {v} does not exist"))
            }
            VolumeError::SnapshotNotFound { volume, snapshot } => Self::new(
                vb::SNAPSHOT_NOT_FOUND,
                format!("snapshot {snapshot} of volume {volume} does not exist"),
            ),
            other => {
                tracing::error!(error = %other, "volume unusable");
                Self::new(vb::VOLUME_STATUS, "the volume is unavailable")
            }
        }
    }
}

/// The worker's own bookkeeping failed; the message is handled again later.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the database failed: {0}")]
    Database(#[from] DbError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for WorkerError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Database(e.into())
    }
}

/// A rule of the application layer that the worker did not handle itself.
impl From<BackupError> for WorkerError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Internal(InternalError::Unavailable(db)) => Self::Database(db),
            BackupError::Internal(InternalError::Unexpected(e)) => Self::Unexpected(e),
            other => Self::Unexpected(anyhow::anyhow!(other)),
        }
    }
}

impl From<WorkerError> for ApplyError {
    fn from(e: WorkerError) -> Self {
        Self::Transient(anyhow::Error::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_or_volume_is_told_as_such() {
        let enospc = || std::io::Error::from_raw_os_error(28);
        let store = EngineError::Store(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(enospc()),
        });
        let failure = Failure::engine(store, vb::CREATE_FAILED, "reading the volume failed");
        assert_eq!(failure.code, vb::CREATE_FAILED);
        assert_eq!(failure.message, "the object store is full (no space left): free space and try again");

        let target = EngineError::Io { path: "/volumes/p/v/disk".into(), source: enospc() };
        let failure = Failure::engine(target, vb::RESTORE_FAILED, "writing the volume failed");
        assert_eq!(failure.message, "the volume is full (no space left): free space and try again");

        let other = EngineError::Store(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
        });
        assert_eq!(Failure::engine(other, vb::CREATE_FAILED, "x").message, "the object store failed");

        // Ceph stopped answering: the kind of failure, never the path.
        let timeout =
            EngineError::Io { path: "backup source".into(), source: std::io::Error::from_raw_os_error(110) };
        let failure = Failure::engine(timeout, vb::CREATE_FAILED, "reading the volume failed");
        assert_eq!(failure.message, "reading the volume failed: timed out");
    }
}
