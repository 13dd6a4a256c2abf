//! One error type for the whole engine.
//!
//! The service maps these to job failures; it needs to tell "the caller asked for something
//! that does not exist / is invalid" from "the store or the disk failed" from "stored data is
//! corrupt", so those are distinct variants. Nothing in the engine panics on bad stored data:
//! every decoder returns [`EngineError::Corrupt`] instead.

use std::io;

/// Errors returned by [`crate::Engine`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A project id, backup id or configuration value is not acceptable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The named backup has no committed manifest in this project.
    #[error("backup {0} not found")]
    BackupNotFound(String),
    /// The parent named for an incremental backup has no committed manifest in this project.
    #[error("parent backup {0} not found")]
    ParentNotFound(String),
    /// The restore target is smaller than the backed-up volume.
    #[error("restore target too small: {target} bytes < volume {volume} bytes")]
    TargetTooSmall {
        /// Size of the target.
        target: u64,
        /// Length of the backed-up volume.
        volume: u64,
    },
    /// Stored data does not decode or does not match its checksum.
    #[error("corrupt {what}: {detail}")]
    Corrupt {
        /// Which object (key) or structure is corrupt.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading the source or writing the target failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The object store failed.
    #[error("object store error: {0}")]
    Store(#[from] object_store::Error),
    /// A pipeline stage stopped unexpectedly (a worker thread or task died).
    #[error("internal pipeline failure: {0}")]
    Pipeline(String),
}

impl EngineError {
    pub(crate) fn corrupt(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Corrupt { what: what.into(), detail: detail.into() }
    }

    pub(crate) fn io(path: &std::path::Path, source: io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    /// Whether a full disk or an exhausted quota (`ENOSPC`, `EDQUOT`) caused this error, anywhere
    /// in its chain of sources: the object store's directory, or the volume being written.
    pub fn is_storage_full(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<io::Error>()
                && matches!(io.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
            {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn store_error(source: io::Error) -> EngineError {
        EngineError::Store(object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(source),
        })
    }

    #[test]
    fn a_full_disk_is_recognised_through_the_store_and_io_errors() {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        assert!(store_error(io::Error::from_raw_os_error(ENOSPC)).is_storage_full());
        assert!(store_error(io::Error::from_raw_os_error(EDQUOT)).is_storage_full());
        let nested = io::Error::other(store_error(io::Error::from_raw_os_error(ENOSPC)));
        assert!(store_error(nested).is_storage_full(), "wrapped twice");
        let target = EngineError::io(std::path::Path::new("/v/disk"), io::Error::from_raw_os_error(ENOSPC));
        assert!(target.is_storage_full());

        assert!(!store_error(io::Error::from(io::ErrorKind::PermissionDenied)).is_storage_full());
        assert!(!EngineError::corrupt("pack", "bad").is_storage_full());
        assert!(
            !EngineError::Store(object_store::Error::NotFound { path: "p".into(), source: "gone".into() })
                .is_storage_full()
        );
    }
}
