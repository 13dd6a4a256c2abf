//! Public configuration, request and result types.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{EngineError, Result};

/// Engine tuning. The defaults suit a 2–8 core worker backing up to a local disk or S3.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Key prefix under which every project lives (`{root}/projects/{project}/…`).
    pub root_prefix: String,
    /// Block size of new backup chains (an incremental always uses its parent's block size,
    /// because blocks are compared with the parent's by offset).
    pub block_size: usize,
    /// A pack is sealed and uploaded once its payloads reach this size.
    pub pack_target_size: usize,
    /// zstd level for blocks. Level 1 keeps a core at ~400 MB/s; higher levels buy a few
    /// percent of space for a large loss of speed on this kind of data.
    pub zstd_level: i32,
    /// Hash+compress (backup) / decode+write (restore) worker threads; 0 = available cores.
    pub threads: usize,
    /// Pack uploads in flight at once during backup and repack. Each holds one pack in memory.
    pub max_inflight_uploads: usize,
    /// Range reads in flight at once during restore and verify.
    pub fetch_concurrency: usize,
    /// Largest single range read during restore/verify (adjacent blocks of a pack coalesce).
    pub max_fetch_size: usize,
    /// Entries of the within-backup dedup cache (hash → reference). ~120 bytes each.
    pub dedup_cache_entries: usize,
    /// The directory the store is rooted at, when it is a
    /// [`LocalFileSystem`](object_store::local::LocalFileSystem) made with `new_with_prefix`.
    /// Restore and verify then read packs with positional reads into reused buffers instead
    /// of through the store's API, which allocates and zero-fills a fresh buffer for every
    /// read (about a tenth of restore CPU). Leave `None` for any other store.
    pub local_root: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            root_prefix: "vbs".into(),
            block_size: 64 * 1024,
            pack_target_size: 16 * 1024 * 1024,
            zstd_level: 1,
            threads: 0,
            max_inflight_uploads: 3,
            fetch_concurrency: 4,
            max_fetch_size: 4 * 1024 * 1024,
            dedup_cache_entries: 65536,
            local_root: None,
        }
    }
}

impl EngineConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(EngineError::InvalidInput(m.into()));
        if self.block_size < 512 || self.block_size > 16 * 1024 * 1024 {
            return bad("block_size must be within 512 B ..= 16 MiB");
        }
        if self.pack_target_size < self.block_size || self.pack_target_size > 1 << 30 {
            return bad("pack_target_size must be within block_size ..= 1 GiB");
        }
        if self.max_fetch_size < self.block_size {
            return bad("max_fetch_size must be at least block_size");
        }
        if !(-7..=22).contains(&self.zstd_level) {
            return bad("zstd_level must be within -7 ..= 22");
        }
        Ok(())
    }

    pub(crate) fn worker_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
        }
    }
}

/// Shared progress counter: `done` of `total` bytes. Cheap to clone; the engine updates it as
/// blocks are committed (backup) or written (restore), and the caller polls it.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    inner: Arc<(AtomicU64, AtomicU64)>,
}

impl Progress {
    /// A fresh counter at 0 of 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes processed so far.
    pub fn done(&self) -> u64 {
        self.inner.0.load(Ordering::Relaxed)
    }

    /// Total bytes of the operation (known once it started).
    pub fn total(&self) -> u64 {
        self.inner.1.load(Ordering::Relaxed)
    }

    pub(crate) fn start(&self, total: u64) {
        self.inner.0.store(0, Ordering::Relaxed);
        self.inner.1.store(total, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, n: u64) {
        self.inner.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// What to back up.
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// Project (tenant); dedup never crosses it.
    pub project: &'a str,
    /// Caller-chosen backup id (a UUID string).
    pub backup_id: &'a str,
    /// What to read: a raw image or block device by path, or a [`crate::VolumeReader`].
    pub source: crate::Source<'a>,
    /// The volume's latest backup, making this one incremental.
    pub parent: Option<&'a str>,
    /// Updated as the backup proceeds.
    pub progress: Option<Progress>,
}

/// Result of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupStats {
    /// Volume length in bytes.
    pub logical_bytes: u64,
    /// Bytes of objects this backup wrote (packs + manifest): its storage cost.
    pub stored_bytes: u64,
    /// Compressed payload bytes of the new blocks (part of `stored_bytes`).
    pub payload_bytes: u64,
    /// Blocks in the volume.
    pub blocks_total: u64,
    /// All-zero blocks (not stored).
    pub blocks_zero: u64,
    /// Blocks that referenced data already stored (parent or earlier in this backup).
    pub blocks_reused: u64,
    /// Blocks written.
    pub blocks_new: u64,
    /// Objects written: packs + 1 manifest (what the service reports as `object_count`).
    pub objects_written: u64,
    /// The backup had a parent (`is_incremental`).
    pub had_parent: bool,
    /// The backup already existed (a re-run of a committed backup id): nothing was written,
    /// the counters are the original ones.
    pub already_existed: bool,
    /// Bytes read from the source: the volume's length, or less when the source knew which
    /// extents to read ([`crate::VolumeReader::extents`]). 0 when `already_existed`.
    pub bytes_read: u64,
}

/// A committed backup as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// Backup id.
    pub backup_id: String,
    /// Parent id, if incremental.
    pub parent: Option<String>,
    /// Volume length in bytes.
    pub volume_len: u64,
    /// Block size.
    pub block_size: u32,
    /// Creation time, Unix seconds.
    pub created_unix: u64,
    /// Size of the manifest object.
    pub manifest_bytes: u64,
    /// Counters recorded when the backup was taken.
    pub stats: BackupStats,
}

/// Restore behaviour.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Write zero blocks explicitly. Leave off for a fresh (zeroed or sparse) target volume;
    /// turn on when the target may hold old data.
    pub write_zeros: bool,
    /// Check every block while restoring (default on): against the manifest's XXH3-64
    /// checksum of the plaintext, or its BLAKE3 for backups written before manifests had
    /// checksums. Turning it off still detects damaged compressed blocks (zstd fails) but not
    /// damaged raw ones. [`crate::Engine::verify`] checks BLAKE3 and the checksum.
    pub verify_blocks: bool,
    /// Flush the target to stable storage (`fdatasync`) before the restore reports success
    /// (default on): a host crash after a successful restore must not lose the data.
    pub flush: bool,
    /// Updated as the restore proceeds.
    pub progress: Option<Progress>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self { write_zeros: false, verify_blocks: true, flush: true, progress: None }
    }
}

/// Result of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestoreStats {
    /// Volume length.
    pub logical_bytes: u64,
    /// Bytes written to the target (non-zero blocks, plus zeros if asked).
    pub written_bytes: u64,
    /// Bytes fetched from the store.
    pub fetched_bytes: u64,
    /// Non-zero blocks restored.
    pub blocks_written: u64,
    /// Zero blocks (skipped, or written if asked).
    pub blocks_zero: u64,
}

/// Result of a verify.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Blocks that decoded and matched their BLAKE3.
    pub ok_blocks: u64,
    /// Blocks that were missing, did not decode or did not match.
    pub bad_blocks: u64,
    /// Zero blocks (nothing stored to check).
    pub zero_blocks: u64,
    /// Volume offsets of the first bad blocks (at most 64), for the report.
    pub first_bad_offsets: Vec<u64>,
}

impl VerifyReport {
    /// No bad block.
    pub fn is_ok(&self) -> bool {
        self.bad_blocks == 0
    }
}

/// Garbage-collection policy.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Packs younger than this, and deleted backups' manifests younger than this, are kept.
    /// Covers writers that GC cannot see yet (see the crate docs); use hours in production.
    pub grace: Duration,
    /// A pending marker (in-flight backup or read lease) older than this is presumed to belong
    /// to a crashed process: it is removed and stops protecting anything. Must exceed the
    /// longest backup/restore.
    pub pending_ttl: Duration,
    /// Repack a pack when at least this fraction of its payload bytes is dead (0.0–1.0).
    pub repack_threshold: f64,
    /// Upper bound of live bytes copied by one GC run's repack (bounds its time and memory).
    pub max_repack_bytes: u64,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(6 * 3600),
            pending_ttl: Duration::from_secs(7 * 24 * 3600),
            repack_threshold: 0.5,
            max_repack_bytes: 4 << 30,
        }
    }
}

/// What a GC run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcReport {
    /// Packs present at the start.
    pub packs_seen: u64,
    /// Packs deleted because nothing references them.
    pub packs_deleted: u64,
    /// Bytes freed by deleting packs.
    pub bytes_freed: u64,
    /// Packs kept although unreferenced: younger than the grace, or owned by an in-flight backup.
    pub packs_protected: u64,
    /// Mostly-dead packs whose live blocks were copied into new packs (deleted by a later run).
    pub packs_repacked: u64,
    /// New packs written by repack.
    pub repack_packs_written: u64,
    /// Live bytes copied by repack.
    pub repack_bytes_copied: u64,
    /// Manifests rewritten to point at repacked blocks.
    pub manifests_rewritten: u64,
    /// Deleted backups whose manifests were purged for good.
    pub trash_purged: u64,
    /// Stale pending markers removed.
    pub stale_markers_removed: u64,
    /// References to packs that do not exist (data loss to investigate; never caused by GC).
    pub missing_packs: u64,
    /// Staging files of killed writes deleted (local stores, see [`ProjectUsage::staging_files`]).
    pub staging_files_removed: u64,
    /// Bytes freed by deleting them.
    pub staging_bytes_freed: u64,
}

/// Storage used by a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectUsage {
    /// Pack objects.
    pub packs: u64,
    /// Bytes in pack objects.
    pub pack_bytes: u64,
    /// Committed manifests.
    pub manifests: u64,
    /// Bytes in manifests.
    pub manifest_bytes: u64,
    /// Files a killed write left in a local store's directory (`<object>#<n>`), which GC
    /// deletes once they are older than its grace; 0 for other stores.
    pub staging_files: u64,
    /// Bytes in those files.
    pub staging_bytes: u64,
}
