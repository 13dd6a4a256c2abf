//! The backup pipeline.
//!
//! ```text
//!  reader thread ──batches (1 MiB)──▶ N hash+compress threads ──▶ writer task (async)
//!  (pread, attaches the parent's       (zero check, BLAKE3, parent     (reorders by offset, dedup
//!   entries for the same offsets)       match, zstd for new blocks)     cache, packs, uploads,
//!                                                                       manifest stream)
//! ```
//!
//! Every queue is bounded, so memory is a constant: about `2·threads` batches in flight
//! (2 MiB each with payloads), the reorder buffer (at most the same number of batches), one
//! pack being filled plus `max_inflight_uploads` sealed packs, one manifest chunk, and the
//! dedup cache. Comparison with the parent is a streaming merge: both sides are in offset
//! order and have the same block size, so the reader pulls parent entries chunk by chunk as
//! it reads the same offsets.
//!
//! One submodule per stage: [`read`], [`process`] and [`write`](mod@write). This one checks
//! the request, protects the attempt with its pending marker, wires the stages together and
//! commits the manifest.

mod process;
mod read;
mod write;

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc;

use self::process::spawn_workers;
use self::read::{Reader, stream_parent};
use self::write::Writer;
use crate::error::{EngineError, Result};
use crate::format::{BlockRef, ManifestEncoder, ManifestFooter, ManifestHeader, parse_pack};
use crate::keys::{ProjectKeys, nonce, validate_id};
use crate::storeio::{
    ManifestReader, ManifestSink, PendingMarker, delete_quiet, list_all, manifest_summary, now_unix, put_json,
};
use crate::types::{BackupRequest, BackupStats, EngineConfig, Progress};
use crate::volume::{Source, VolumeReader};

/// Target bytes per read batch: large enough to amortise channel and syscall costs, small
/// enough that a few dozen in flight stay a few tens of MiB.
const BATCH_BYTES: usize = 1024 * 1024;

pub(crate) async fn run_backup(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    req: BackupRequest<'_>,
) -> Result<BackupStats> {
    let keys = ProjectKeys::new(&config.root_prefix, req.project)?;
    validate_ids(&req)?;
    let manifest_path = keys.manifest(req.backup_id);
    if let Some(stats) = committed_stats(store, &manifest_path, &req).await? {
        return Ok(stats);
    }
    let (source, volume_len) = open_source(&req.source).await?;
    let parent_reader = open_parent(store, &keys, &req).await?;
    let block_size = match &parent_reader {
        Some(r) => r.header().block_size as usize,
        None => config.block_size,
    };

    let owner = nonce(req.backup_id);
    let marker_path = keys.pending_backup(req.backup_id);
    // An attempt at this backup that died left its marker: resume from the packs it stored.
    let adopted = dead_attempts(store, &marker_path, req.backup_id).await;
    // The marker goes first: from now on GC keeps this attempt's packs (and the adopted ones)
    // and its parent's blocks.
    put_marker(store, &marker_path, &req, owner, &adopted).await?;
    let resume = stored_blocks(store, &keys, &adopted, config.dedup_cache_entries.saturating_mul(16)).await;
    let attempt = Attempt {
        store,
        config,
        keys: &keys,
        header: ManifestHeader {
            project: req.project.to_string(),
            backup_id: req.backup_id.to_string(),
            parent: req.parent.map(str::to_string),
            block_size: u32::try_from(block_size)
                .map_err(|_| EngineError::InvalidInput("block size".into()))?,
            volume_len,
            created_unix: now_unix(),
        },
        owner,
        progress: req.progress.clone().unwrap_or_default(),
        resume,
    };
    attempt.progress.start(volume_len);
    let outcome = attempt.write(&manifest_path, source, parent_reader).await;
    if outcome.is_err() {
        reclaim_failed_attempt(store, &keys, owner, &manifest_path).await;
    }
    // Committed or failed, this attempt no longer needs protection: a committed manifest now
    // references its packs, and a failed attempt's packs are gone (or garbage for GC).
    let _ = delete_quiet(store, &marker_path).await;
    outcome
}

/// Deletes the packs a failed attempt wrote, at once rather than after GC's grace period, so
/// that the space is there for the next backup (a backup that failed on a full store would
/// otherwise keep it full). They are no one else's: every attempt writes its packs under its
/// own owner tag, and only its own manifest — which was not committed — could reference them.
/// Best effort: if the manifest exists after all, or the store cannot be read, nothing is
/// deleted and GC decides later.
async fn reclaim_failed_attempt(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    owner: u64,
    manifest: &Path,
) {
    match store.head(manifest).await {
        Err(object_store::Error::NotFound { .. }) => {}
        _ => return,
    }
    let Ok(packs) = list_all(store, &keys.owner_packs_prefix(owner)).await else { return };
    for pack in packs {
        if delete_quiet(store, &pack.location).await.is_err() {
            return;
        }
    }
}

fn validate_ids(req: &BackupRequest<'_>) -> Result<()> {
    validate_id("backup", req.backup_id)?;
    if let Some(p) = req.parent {
        validate_id("parent backup", p)?;
        if p == req.backup_id {
            return Err(EngineError::InvalidInput("a backup cannot be its own parent".into()));
        }
    }
    Ok(())
}

/// The recorded result when a previous run committed this backup: it is reported instead of
/// redone.
async fn committed_stats(
    store: &Arc<dyn ObjectStore>,
    manifest_path: &Path,
    req: &BackupRequest<'_>,
) -> Result<Option<BackupStats>> {
    match manifest_summary(store, manifest_path, req.project, || {
        EngineError::BackupNotFound(req.backup_id.to_string())
    })
    .await
    {
        Ok((header, footer, size)) => Ok(Some(stats_from(&header, &footer, size, true))),
        Err(EngineError::BackupNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens the source and measures it.
async fn open_source(source: &Source<'_>) -> Result<(Arc<dyn VolumeReader>, u64)> {
    let (path, reader) = match source {
        Source::Path(p) => (p.to_path_buf(), None),
        Source::Reader(r) => ("backup source".into(), Some(Arc::clone(r))),
    };
    tokio::task::spawn_blocking(move || -> Result<(Arc<dyn VolumeReader>, u64)> {
        let reader: Arc<dyn VolumeReader> = match reader {
            Some(r) => r,
            None => Arc::new(File::open(&path).map_err(|e| EngineError::io(&path, e))?),
        };
        let len = reader.size().map_err(|e| EngineError::io(&path, e))?;
        Ok((reader, len))
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("open task: {e}")))?
}

async fn open_parent(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    req: &BackupRequest<'_>,
) -> Result<Option<ManifestReader>> {
    let Some(p) = req.parent else {
        return Ok(None);
    };
    let reader = ManifestReader::open(store, &keys.manifest(p), req.project, || {
        EngineError::ParentNotFound(p.to_string())
    })
    .await?;
    Ok(Some(reader))
}

async fn put_marker(
    store: &Arc<dyn ObjectStore>,
    marker_path: &Path,
    req: &BackupRequest<'_>,
    owner: u64,
    adopted: &[u64],
) -> Result<()> {
    let marker = PendingMarker {
        kind: "backup".into(),
        backup_id: req.backup_id.to_string(),
        parent: req.parent.map(str::to_string),
        owner: Some(format!("{owner:016x}")),
        adopted: adopted.iter().map(|o| format!("{o:016x}")).collect(),
        started_unix: now_unix(),
    };
    put_json(store, marker_path, &marker).await
}

/// The owner tags of earlier attempts at `backup_id` that died: the marker one of them left
/// (a failed or committed attempt removes its marker), with the attempts that one had adopted.
/// None when there is no marker or it cannot be read.
async fn dead_attempts(store: &Arc<dyn ObjectStore>, marker_path: &Path, backup_id: &str) -> Vec<u64> {
    let Ok(got) = store.get(marker_path).await else { return Vec::new() };
    let Ok(body) = got.bytes().await else { return Vec::new() };
    let Ok(marker) = serde_json::from_slice::<PendingMarker>(&body) else { return Vec::new() };
    if marker.kind != "backup" || marker.backup_id != backup_id {
        return Vec::new();
    }
    marker.owner.iter().chain(&marker.adopted).filter_map(|o| u64::from_str_radix(o, 16).ok()).collect()
}

/// The blocks the packs of `owners` hold, to be referenced instead of stored again (at most
/// `limit`, which bounds the memory). Best effort: a pack that cannot be read or parsed is
/// skipped, and its blocks are simply written again.
async fn stored_blocks(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    owners: &[u64],
    limit: usize,
) -> Vec<BlockRef> {
    let mut blocks = Vec::new();
    for &owner in owners {
        let Ok(listed) = list_all(store, &keys.owner_packs_prefix(owner)).await else { continue };
        for meta in listed {
            let Some(id) = keys.parse_pack(&meta.location) else { continue };
            let Ok(got) = store.get(&meta.location).await else { continue };
            let Ok(data) = got.bytes().await else { continue };
            let Ok(index) = parse_pack(meta.location.as_ref(), id, &data) else { continue };
            for (i, e) in index.into_iter().enumerate() {
                if blocks.len() >= limit {
                    return blocks;
                }
                blocks.push(BlockRef {
                    hash: e.hash,
                    pack: id,
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    offset: e.offset,
                    stored_len: e.stored_len,
                    raw_len: e.raw_len,
                    codec: e.codec,
                    check: None,
                });
            }
        }
    }
    blocks
}

pub(crate) fn stats_from(
    header: &ManifestHeader,
    footer: &ManifestFooter,
    manifest_size: u64,
    already_existed: bool,
) -> BackupStats {
    BackupStats {
        logical_bytes: header.volume_len,
        stored_bytes: footer.pack_bytes + manifest_size,
        payload_bytes: footer.payload_bytes,
        blocks_total: footer.blocks_total,
        blocks_zero: footer.blocks_zero,
        blocks_reused: footer.blocks_reused,
        blocks_new: footer.blocks_new,
        objects_written: footer.packs_written + 1,
        had_parent: header.parent.is_some(),
        already_existed,
        bytes_read: 0,
    }
}

/// One attempt at a backup: where it writes, what its manifest records, and the owner tag of
/// the packs it writes.
struct Attempt<'a> {
    store: &'a Arc<dyn ObjectStore>,
    config: &'a EngineConfig,
    keys: &'a ProjectKeys,
    header: ManifestHeader,
    owner: u64,
    progress: Progress,
    /// Blocks that dead attempts at this backup already stored.
    resume: Vec<BlockRef>,
}

impl Attempt<'_> {
    /// Runs the pipeline into the manifest's multipart upload and commits it, or aborts the
    /// upload.
    async fn write(
        &self,
        manifest_path: &Path,
        source: Arc<dyn VolumeReader>,
        parent: Option<ManifestReader>,
    ) -> Result<BackupStats> {
        let mut sink = ManifestSink::create(self.store, manifest_path).await?;
        let bytes_read = Arc::new(AtomicU64::new(0));
        match self.pipeline(source, parent, &mut sink, &bytes_read).await {
            Ok(footer) => Ok(BackupStats {
                bytes_read: bytes_read.load(Ordering::Relaxed),
                ..stats_from(&self.header, &footer, sink.finish().await?, false)
            }),
            Err(e) => {
                sink.abort().await;
                Err(e)
            }
        }
    }

    async fn pipeline(
        &self,
        source: Arc<dyn VolumeReader>,
        parent_reader: Option<ManifestReader>,
        sink: &mut ManifestSink,
        bytes_read: &Arc<AtomicU64>,
    ) -> Result<ManifestFooter> {
        let block_size = self.header.block_size as usize;
        let threads = self.config.worker_threads();
        let batch_blocks = (BATCH_BYTES / block_size).max(1);
        let batch_bytes = (batch_blocks * block_size) as u64;
        let expected_batches = self.header.volume_len.div_ceil(batch_bytes);

        let (parent_rx, _abort_parent) = stream_parent(parent_reader);
        let (batch_tx, batch_rx) = crossbeam_channel::bounded(threads * 2);
        let (out_tx, out_rx) = mpsc::channel(threads * 2);
        let reader = Reader {
            source,
            parent: self.header.parent.clone(),
            bytes_read: Arc::clone(bytes_read),
            volume_len: self.header.volume_len,
            block_size,
            batch_bytes,
            parent_rx,
            batch_tx,
            out_tx: out_tx.clone(),
        };
        reader.spawn()?;
        spawn_workers(threads, self.config.zstd_level, block_size, batch_rx, out_tx)?;

        let writer = Writer::new(self.store, self.keys, self.owner, self.config, block_size, &self.resume);
        let mut enc = ManifestEncoder::new(&self.header)?;
        let footer = writer.run(&mut enc, out_rx, expected_batches, &self.progress, sink).await?;
        if enc.entries() != self.header.block_count() {
            return Err(EngineError::Pipeline("manifest entry count mismatch".into()));
        }
        // Packs are durable; only now may the manifest become visible.
        sink.write(enc.finish(&footer)?).await?;
        Ok(footer)
    }
}
