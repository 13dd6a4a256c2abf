//! # VBS backup engine
//!
//! Block-level, deduplicating, compressed, incremental-forever backups of volumes (raw images
//! or block devices) into any [`object_store::ObjectStore`] — a local directory by default,
//! S3-compatible storage with the `aws` feature.
//!
//! ## Model
//! * A volume is read in fixed-size, offset-aligned blocks (default 64 KiB; the last one may
//!   be short). Block devices do not shift data, so content-defined chunking would buy nothing
//!   and make incrementals coarser.
//! * All-zero blocks are not stored (null entry). Other blocks are addressed by the BLAKE3 of
//!   their plaintext, zstd-compressed (kept raw when that saves < 3%), and packed into pack
//!   objects of ~16 MiB, so a 4 GiB full backup is a few hundred object writes.
//! * Every backup has a **complete manifest**: one entry per block in offset order (null for
//!   zeros, else a reference: hash, pack, entry index, offset, lengths, codec, and the XXH3-64
//!   of the plaintext) and the volume length. Any backup restores alone in one pass; deleting
//!   one never breaks another.
//! * **Checks**: a restore checks every block against its XXH3-64 (≈ 10 GB/s per core here, so
//!   checking costs a few percent of a restore instead of the ~20 % BLAKE3 cost); `verify`
//!   checks the BLAKE3 address and the checksum. Both detect damaged or misplaced data; neither
//!   is a defence against someone who can rewrite the store (manifests are not signed).
//! * **Incremental-forever**: a backup naming a parent compares each block's hash with the
//!   parent's entry at the same offset (a streaming merge of two offset-ordered sequences)
//!   and reuses the parent's reference when equal; only other blocks are written.
//! * **Dedup scope is one project** and, within it, *parent + window*: besides the parent's
//!   same-offset block, a block is deduplicated against a bounded FIFO cache of the last
//!   [`EngineConfig::dedup_cache_entries`] blocks seen (this backup's and the parent's). A
//!   project-wide hash index would dedup identical data across unrelated volumes too, but its
//!   size grows with the project (32+ bytes per stored block) and it must be loaded or queried
//!   on every backup; for volume snapshots nearly all redundancy is with the volume's own
//!   previous backup, which the merge catches at no memory cost. The trade-off: a freshly
//!   cloned volume's first backup is a full one.
//!
//! ## On-store layout (packs: format version 1; manifests: version 2, version 1 still read)
//! All keys live under `{root}/projects/{project}/` (`root` = [`EngineConfig::root_prefix`],
//! default `vbs`); ids are validated tokens of `[A-Za-z0-9_-]{1,64}`.
//!
//! | key | content |
//! |---|---|
//! | `packs/{owner:016x}/{seq:016x}.pack` | `"VBSPACK1"`, version, pack id; block payloads; index (hash, offset, stored/raw length, codec per block); trailer (index offset, count, BLAKE3 of the index, `"VBSPIDX1"`). Readable without any manifest. `owner` is a random tag per backup attempt / GC run. |
//! | `manifests/{backup_id}.manifest` | `"VBSMANI1"`, version, header (block size, volume length, time, project, id, parent); zstd chunks of 4096 entries each (with frame checksums; version 2 entries carry the XXH3-64); end mark; footer (counters); BLAKE3 of all preceding bytes. Written by a streamed multipart upload, visible only when complete, after all its packs. |
//! | `pending/backup/{backup_id}.json` | in-flight backup marker: owner tag of its packs, parent. Written before the first pack, removed after the manifest commits or the backup fails. |
//! | `pending/read/{nonce}.json` | read lease of a running restore/verify. |
//! | `trash/{backup_id}/manifest`, `trash/{backup_id}/deleted` | a deleted backup's manifest and its deletion record, kept while protected (see [`gc`](Engine::gc)). |
//! | `retired/{owner}-{seq}` | a pack whose live blocks were repacked; deleted by a later GC. |
//!
//! ## Crash safety
//! Packs are written first, the manifest last and atomically, so no manifest ever points at
//! missing data. A backup that dies leaves packs without a manifest; GC reclaims them once
//! they are older than the grace period and no live pending marker owns them (a crashed
//! process's marker expires after `pending_ttl`; a failed backup removes its own marker).
//! Re-running a backup id whose manifest exists returns the recorded result
//! (`already_existed`); otherwise it starts over under a new owner tag.
//!
//! ## Memory bound
//! Nothing is proportional to the volume size: manifests are streamed in both directions, the
//! parent comparison is a merge of two offset-ordered streams, and every queue is bounded.
//!
//! * Backup: `2·threads` read batches of 1 MiB plus their compressed payloads in flight, a
//!   reorder buffer of at most as many, one pack being filled plus
//!   [`EngineConfig::max_inflight_uploads`] sealed packs (16 MiB each by default), one
//!   manifest chunk on each side (parent in, new out, ~300 KB each), one 8 MiB manifest upload
//!   part, and the dedup cache (~120 B × 65536 ≈ 8 MB). With the defaults on 2 cores:
//!   ≈ 4 + 4 + 64 + 1 + 8 + 8 ≈ 90 MiB of buffers; measured peak RSS 132 MiB for a 4 GiB
//!   volume (BENCHMARKS.md) and the same for any larger one.
//! * Restore/verify: `fetch_concurrency` range reads of at most
//!   [`EngineConfig::max_fetch_size`] (4 MiB) raw and stored, `threads` jobs being decoded,
//!   and a 4-deep write queue: ≈ 60 MiB of buffers, taken from pools and reused rather than
//!   allocated per read (measured ~90 MiB RSS).
//! * GC: one bit per stored block plus ~100 B per pack (≈ 4 MB for 1 TiB of 64 KiB blocks),
//!   plus the moved-block map of one repack run, bounded by `max_repack_bytes`.
//!
//! ## Sources and targets
//! A backup reads a raw image or block device by path, or any [`VolumeReader`] (a volume
//! driver's client of another backend, such as Ceph RBD); a restore writes into a file or any
//! [`VolumeWriter`]. When a reader knows which extents can hold data
//! ([`VolumeReader::extents`]: the allocated ones, or those changed since the snapshot the
//! parent backup was taken from), only the blocks they touch are read; the others are zero
//! blocks or the parent's. [`BackupStats::bytes_read`] says how much was read.
//!
//! ## Pipelines
//! Backup: a reader thread (`pread` in 1 MiB batches) → `threads` hash+compress threads →
//! the async writer (reorder, dedup, packs, bounded parallel uploads, manifest stream).
//! Restore: a manifest planner → `fetch_concurrency` range reads → `threads` decoder threads
//! (zstd, XXH3) → one writer thread doing positional writes (several writers to one file
//! only contend on the kernel's inode lock) → `fdatasync` unless [`RestoreOptions::flush`] is
//! off. With [`EngineConfig::local_root`] set, a local
//! store's packs are read with positional reads into pooled buffers instead of through the
//! `ObjectStore` API (which zero-fills a fresh buffer per read).
//!
//! ## Concurrency
//! All operations are `async` and meant to be called from a Tokio multi-thread runtime; CPU
//! work runs on dedicated threads and the blocking pool. See [`Engine::gc`] for what may run
//! concurrently with GC.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backup;
mod error;
mod format;
mod gc;
mod keys;
mod restore;
mod staging;
mod storeio;
mod types;
mod volume;

use std::path::Path;
use std::sync::Arc;

use object_store::ObjectStore;

pub use error::EngineError;
pub use types::{
    BackupInfo, BackupRequest, BackupStats, EngineConfig, GcOptions, GcReport, Progress, ProjectUsage,
    RestoreOptions, RestoreStats, VerifyReport,
};
pub use volume::{ExtentIter, Extents, Source, VolumeReader, VolumeWriter};

use crate::error::Result;
use crate::keys::{ProjectKeys, validate_id};
use crate::storeio::{list_all, manifest_summary};

/// The backup engine: an object store and a configuration. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Arc<dyn ObjectStore>,
    config: EngineConfig,
}

impl Engine {
    /// Creates an engine; fails on an invalid configuration.
    pub fn new(store: Arc<dyn ObjectStore>, config: EngineConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { store, config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Backs up `req.source` as backup `req.backup_id` of `req.project`, incrementally against
    /// `req.parent` when given.
    pub async fn backup(&self, req: BackupRequest<'_>) -> Result<BackupStats> {
        backup::run_backup(&self.store, &self.config, req).await
    }

    /// Restores a backup into `target`, an existing file or block device at least as large as
    /// the volume. Only non-zero blocks are written unless `opts.write_zeros`.
    pub async fn restore(
        &self,
        project: &str,
        backup_id: &str,
        target: &Path,
        opts: RestoreOptions,
    ) -> Result<RestoreStats> {
        restore::run_restore(&self.store, &self.config, project, backup_id, target.into(), opts).await
    }

    /// Restores a backup into any [`VolumeWriter`] at least as large as the volume, as
    /// [`Self::restore`] does into a file.
    pub async fn restore_to(
        &self,
        project: &str,
        backup_id: &str,
        target: Arc<dyn VolumeWriter>,
        opts: RestoreOptions,
    ) -> Result<RestoreStats> {
        restore::run_restore(&self.store, &self.config, project, backup_id, target.into(), opts).await
    }

    /// Reads every block a backup references, decompresses it and checks its BLAKE3.
    pub async fn verify(&self, project: &str, backup_id: &str) -> Result<VerifyReport> {
        restore::run_verify(&self.store, &self.config, project, backup_id).await
    }

    /// Deletes a backup. Its manifest moves to `trash/` (still protecting its blocks for
    /// in-flight children during the grace period); the data goes at the next [`Self::gc`].
    pub async fn delete_backup(&self, project: &str, backup_id: &str) -> Result<()> {
        gc::delete_backup(&self.store, &self.config, project, backup_id).await
    }

    /// Declares an attempt at backup `backup_id` dead: removes its pending marker, so its packs
    /// lose their protection and the next [`Self::gc`] past the grace period reclaims them
    /// (instead of waiting for the marker's TTL). A committed manifest is left alone.
    ///
    /// Call it only when the process that ran the attempt is known to be gone (the service
    /// knows from its job lease): a live attempt whose marker was removed could see packs it
    /// wrote before the grace period deleted under it.
    pub async fn abandon_backup(&self, project: &str, backup_id: &str) -> Result<()> {
        let keys = ProjectKeys::new(&self.config.root_prefix, project)?;
        validate_id("backup", backup_id)?;
        storeio::delete_quiet(&self.store, &keys.pending_backup(backup_id)).await
    }

    /// Garbage-collects a project: deletes packs no live or in-flight backup needs and repacks
    /// mostly-dead packs. Run at most one GC per project at a time, and not concurrently with
    /// [`Self::delete_backup`] of the same project; backups, restores and verifies may run.
    pub async fn gc(&self, project: &str, opts: &GcOptions) -> Result<GcReport> {
        gc::run_gc(&self.store, &self.config, project, opts).await
    }

    /// Committed backups of a project, oldest first.
    pub async fn list_backups(&self, project: &str) -> Result<Vec<BackupInfo>> {
        let keys = ProjectKeys::new(&self.config.root_prefix, project)?;
        let mut out = Vec::new();
        for m in list_all(&self.store, &keys.manifests_prefix()).await? {
            let Some(id) = keys.parse_manifest(&m.location) else {
                continue;
            };
            match self.backup_info(project, &id).await {
                Ok(info) => out.push(info),
                // Deleted between listing and reading.
                Err(EngineError::BackupNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| (a.created_unix, &a.backup_id).cmp(&(b.created_unix, &b.backup_id)));
        Ok(out)
    }

    /// One committed backup's facts and recorded counters.
    pub async fn backup_info(&self, project: &str, backup_id: &str) -> Result<BackupInfo> {
        let keys = ProjectKeys::new(&self.config.root_prefix, project)?;
        validate_id("backup", backup_id)?;
        let (h, f, size) = manifest_summary(&self.store, &keys.manifest(backup_id), project, || {
            EngineError::BackupNotFound(backup_id.to_string())
        })
        .await?;
        Ok(BackupInfo {
            backup_id: h.backup_id.clone(),
            parent: h.parent.clone(),
            volume_len: h.volume_len,
            block_size: h.block_size,
            created_unix: h.created_unix,
            manifest_bytes: size,
            stats: backup::stats_from(&h, &f, size, false),
        })
    }

    /// Storage a project occupies.
    pub async fn usage(&self, project: &str) -> Result<ProjectUsage> {
        let keys = ProjectKeys::new(&self.config.root_prefix, project)?;
        let mut u = ProjectUsage::default();
        for m in list_all(&self.store, &keys.packs_prefix()).await? {
            if keys.parse_pack(&m.location).is_some() {
                u.packs += 1;
                u.pack_bytes += m.size;
            }
        }
        for m in list_all(&self.store, &keys.manifests_prefix()).await? {
            if keys.parse_manifest(&m.location).is_some() {
                u.manifests += 1;
                u.manifest_bytes += m.size;
            }
        }
        if let Some(root) = &self.config.local_root {
            for f in staging::find(root.join(keys.base())).await? {
                u.staging_files += 1;
                u.staging_bytes += f.size;
            }
        }
        Ok(u)
    }
}
