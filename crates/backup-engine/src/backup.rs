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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::{EngineError, Result};
use crate::format::{
    BlockRef, Codec, ManifestEncoder, ManifestEntry, ManifestFooter, ManifestHeader, PackBuilder, PackId,
    block_checksum,
};
use crate::keys::{ProjectKeys, nonce, validate_id};
use crate::storeio::{
    ManifestReader, ManifestSink, PendingMarker, delete_quiet, manifest_summary, now_unix, put_json,
};
use crate::types::{BackupRequest, BackupStats, EngineConfig, Progress};

/// Target bytes per read batch: large enough to amortise channel and syscall costs, small
/// enough that a few dozen in flight stay a few tens of MiB.
const BATCH_BYTES: usize = 1024 * 1024;

struct Batch {
    seq: u64,
    data: Vec<u8>,
    parent: Vec<ManifestEntry>,
}

enum BlockOut {
    Zero,
    /// The parent's reference; `check` is this block's checksum (the parent may predate them).
    Reuse {
        parent: BlockRef,
        check: u64,
    },
    New {
        hash: [u8; 32],
        check: u64,
        codec: Codec,
        raw_len: u32,
        start: usize,
        len: usize,
    },
}

struct Processed {
    seq: u64,
    bytes: u64,
    blocks: Vec<BlockOut>,
    payload: Vec<u8>,
}

/// FIFO-bounded hash → reference map: catches duplicates within a window of recent blocks
/// (and of the parent's recent blocks) at a fixed memory cost.
struct DedupCache {
    map: HashMap<[u8; 32], BlockRef>,
    order: VecDeque<[u8; 32]>,
    cap: usize,
}

impl DedupCache {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::with_capacity(cap.min(1 << 20)),
            order: VecDeque::with_capacity(cap.min(1 << 20)),
            cap,
        }
    }

    fn get(&self, hash: &[u8; 32], raw_len: u32) -> Option<BlockRef> {
        self.map.get(hash).filter(|r| r.raw_len == raw_len).copied()
    }

    fn insert(&mut self, r: BlockRef) {
        if self.cap == 0 || self.map.insert(r.hash, r).is_some() {
            return;
        }
        self.order.push_back(r.hash);
        if self.order.len() > self.cap
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
    }
}

fn is_zero(data: &[u8]) -> bool {
    // OR-fold per 64-byte slice vectorises well; `iter().all` would not (early exit per byte).
    data.chunks(64).all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
}

pub(crate) async fn run_backup(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    req: BackupRequest<'_>,
) -> Result<BackupStats> {
    let keys = ProjectKeys::new(&config.root_prefix, req.project)?;
    validate_id("backup", req.backup_id)?;
    if let Some(p) = req.parent {
        validate_id("parent backup", p)?;
        if p == req.backup_id {
            return Err(EngineError::InvalidInput("a backup cannot be its own parent".into()));
        }
    }
    let manifest_path = keys.manifest(req.backup_id);

    // A committed manifest means a previous run finished: report it instead of redoing it.
    match manifest_summary(store, &manifest_path, req.project, || {
        EngineError::BackupNotFound(req.backup_id.to_string())
    })
    .await
    {
        Ok((header, footer, size)) => {
            return Ok(stats_from(&header, &footer, size, true));
        }
        Err(EngineError::BackupNotFound(_)) => {}
        Err(e) => return Err(e),
    }

    let source_path = req.source.to_path_buf();
    let (file, volume_len) = tokio::task::spawn_blocking(move || -> Result<(File, u64)> {
        let mut f = File::open(&source_path).map_err(|e| EngineError::io(&source_path, e))?;
        // Seeking to the end gives the size of block devices too (their metadata says 0).
        let len = f.seek(SeekFrom::End(0)).map_err(|e| EngineError::io(&source_path, e))?;
        Ok((f, len))
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("open task: {e}")))??;

    let parent_reader = match req.parent {
        Some(p) => Some(
            ManifestReader::open(store, &keys.manifest(p), req.project, || {
                EngineError::ParentNotFound(p.to_string())
            })
            .await?,
        ),
        None => None,
    };
    let block_size = match &parent_reader {
        Some(r) => r.header().block_size as usize,
        None => config.block_size,
    };

    let owner = nonce(req.backup_id);
    let marker_path = keys.pending_backup(req.backup_id);
    // The marker goes first: from now on GC keeps this attempt's packs and its parent's blocks.
    put_json(
        store,
        &marker_path,
        &PendingMarker {
            kind: "backup".into(),
            backup_id: req.backup_id.to_string(),
            parent: req.parent.map(str::to_string),
            owner: Some(format!("{owner:016x}")),
            started_unix: now_unix(),
        },
    )
    .await?;

    let header = ManifestHeader {
        project: req.project.to_string(),
        backup_id: req.backup_id.to_string(),
        parent: req.parent.map(str::to_string),
        block_size: u32::try_from(block_size).map_err(|_| EngineError::InvalidInput("block size".into()))?,
        volume_len,
        created_unix: now_unix(),
    };
    let progress = req.progress.clone().unwrap_or_default();
    progress.start(volume_len);

    let mut sink = match ManifestSink::create(store, &manifest_path).await {
        Ok(s) => s,
        Err(e) => {
            let _ = delete_quiet(store, &marker_path).await;
            return Err(e);
        }
    };
    let result =
        pipeline(store, config, &keys, &header, owner, file, parent_reader, &progress, &mut sink).await;
    let outcome = match result {
        Ok(footer) => match sink.finish().await {
            Ok(size) => Ok(stats_from(&header, &footer, size, false)),
            Err(e) => Err(e),
        },
        Err(e) => {
            sink.abort().await;
            Err(e)
        }
    };
    // Committed or failed, this attempt no longer needs protection: a committed manifest now
    // references its packs, and a failed attempt's packs are garbage for GC after the grace.
    let _ = delete_quiet(store, &marker_path).await;
    outcome
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
    }
}

#[allow(clippy::too_many_arguments)]
async fn pipeline(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    header: &ManifestHeader,
    owner: u64,
    file: File,
    parent_reader: Option<ManifestReader>,
    progress: &Progress,
    sink: &mut ManifestSink,
) -> Result<ManifestFooter> {
    let block_size = header.block_size as usize;
    let volume_len = header.volume_len;
    let threads = config.worker_threads();
    let batch_blocks = (BATCH_BYTES / block_size).max(1);
    let batch_bytes = (batch_blocks * block_size) as u64;
    let expected_batches = volume_len.div_ceil(batch_bytes);

    // Parent entries stream from the store on the runtime; the reader thread pulls them.
    let (parent_tx, mut parent_rx) = mpsc::channel::<Result<Vec<ManifestEntry>>>(2);
    let parent_task = parent_reader.map(|mut reader| {
        tokio::spawn(async move {
            loop {
                match reader.next_chunk().await {
                    Ok(Some(chunk)) => {
                        if parent_tx.send(Ok(chunk)).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = parent_tx.send(Err(e)).await;
                        break;
                    }
                }
            }
        })
    });
    let _abort_parent = AbortOnDrop(parent_task);

    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<Batch>(threads * 2);
    let (out_tx, mut out_rx) = mpsc::channel::<Result<Processed>>(threads * 2);

    // Reader.
    {
        let out_tx = out_tx.clone();
        std::thread::Builder::new()
            .name("vbs-backup-read".into())
            .spawn(move || {
                let mut parent_buf: VecDeque<ManifestEntry> = VecDeque::new();
                let mut parent_open = true;
                let mut offset = 0u64;
                let mut seq = 0u64;
                while offset < volume_len {
                    let n = (volume_len - offset).min(batch_bytes) as usize;
                    let mut data = vec![0u8; n];
                    if let Err(e) = file.read_exact_at(&mut data, offset) {
                        let _ = out_tx
                            .blocking_send(Err(EngineError::Io { path: "backup source".into(), source: e }));
                        return;
                    }
                    let blocks = n.div_ceil(block_size);
                    while parent_open && parent_buf.len() < blocks {
                        match parent_rx.blocking_recv() {
                            Some(Ok(chunk)) => parent_buf.extend(chunk),
                            Some(Err(e)) => {
                                let _ = out_tx.blocking_send(Err(e));
                                return;
                            }
                            None => parent_open = false,
                        }
                    }
                    let take = blocks.min(parent_buf.len());
                    let mut parent: Vec<ManifestEntry> = parent_buf.drain(..take).collect();
                    parent.resize(blocks, None);
                    if batch_tx.send(Batch { seq, data, parent }).is_err() {
                        return;
                    }
                    offset += n as u64;
                    seq += 1;
                }
            })
            .map_err(|e| EngineError::Pipeline(format!("spawn reader: {e}")))?;
    }

    // Hash + compress workers.
    for i in 0..threads {
        let rx = batch_rx.clone();
        let tx = out_tx.clone();
        let level = config.zstd_level;
        std::thread::Builder::new()
            .name(format!("vbs-backup-work-{i}"))
            .spawn(move || {
                let mut comp = match zstd::bulk::Compressor::new(level) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(EngineError::Pipeline(format!("zstd: {e}"))));
                        return;
                    }
                };
                let mut scratch = Vec::new();
                while let Ok(batch) = rx.recv() {
                    let out = process_batch(batch, block_size, &mut comp, &mut scratch);
                    if tx.blocking_send(out).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| EngineError::Pipeline(format!("spawn worker: {e}")))?;
    }
    drop(batch_rx);
    drop(out_tx);

    // Writer: in-order commit into packs and the manifest.
    let mut w = Writer {
        store,
        keys,
        owner,
        next_pack_seq: 0,
        pack: None,
        pack_target: config.pack_target_size,
        pack_capacity: config.pack_target_size + block_size + 64 * 1024,
        uploads: JoinSet::new(),
        max_inflight: config.max_inflight_uploads.max(1),
        cache: DedupCache::new(config.dedup_cache_entries),
        footer: ManifestFooter::default(),
    };
    let mut enc = ManifestEncoder::new(header)?;
    let mut reorder: BTreeMap<u64, Processed> = BTreeMap::new();
    let mut next_seq = 0u64;
    let written = async {
        while let Some(msg) = out_rx.recv().await {
            let p = msg?;
            reorder.insert(p.seq, p);
            while let Some(p) = reorder.remove(&next_seq) {
                w.commit(&p, &mut enc).await?;
                progress.add(p.bytes);
                next_seq += 1;
                if enc.output_len() >= 1024 * 1024 {
                    sink.write(enc.take_output()).await?;
                }
            }
        }
        if next_seq != expected_batches || !reorder.is_empty() {
            return Err(EngineError::Pipeline(format!(
                "pipeline ended after {next_seq} of {expected_batches} batches"
            )));
        }
        w.seal().await?;
        while let Some(r) = w.uploads.join_next().await {
            r.map_err(|e| EngineError::Pipeline(format!("upload task: {e}")))??;
        }
        Ok::<(), EngineError>(())
    }
    .await;
    if let Err(e) = written {
        // Uploads already started finish (or fail) before the error is reported, so a failed
        // backup leaves nothing landing in the store after it returned.
        while w.uploads.join_next().await.is_some() {}
        return Err(e);
    }
    let footer = w.footer;
    if enc.entries() != header.block_count() {
        return Err(EngineError::Pipeline("manifest entry count mismatch".into()));
    }
    // Packs are durable; only now may the manifest become visible.
    sink.write(enc.finish(&footer)?).await?;
    Ok(footer)
}

struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

fn process_batch(
    batch: Batch,
    block_size: usize,
    comp: &mut zstd::bulk::Compressor<'static>,
    scratch: &mut Vec<u8>,
) -> Result<Processed> {
    let mut blocks = Vec::with_capacity(batch.parent.len());
    let mut payload = Vec::new();
    for (i, block) in batch.data.chunks(block_size).enumerate() {
        if is_zero(block) {
            blocks.push(BlockOut::Zero);
            continue;
        }
        let hash = *blake3::hash(block).as_bytes();
        let check = block_checksum(block);
        let raw_len = block.len() as u32;
        if let Some(Some(p)) = batch.parent.get(i)
            && p.hash == hash
            && p.raw_len == raw_len
        {
            blocks.push(BlockOut::Reuse { parent: *p, check });
            continue;
        }
        scratch.clear();
        scratch.reserve(zstd::zstd_safe::compress_bound(block.len()));
        let start = payload.len();
        // Keep the compressed form only if it saves at least ~3%: decoding nearly
        // incompressible data costs restore time for nothing.
        let codec = match comp.compress_to_buffer(block, scratch) {
            Ok(n) if n <= block.len() - block.len() / 32 => {
                payload.extend_from_slice(scratch);
                Codec::Zstd
            }
            _ => {
                payload.extend_from_slice(block);
                Codec::Raw
            }
        };
        blocks.push(BlockOut::New { hash, check, codec, raw_len, start, len: payload.len() - start });
    }
    Ok(Processed { seq: batch.seq, bytes: batch.data.len() as u64, blocks, payload })
}

struct Writer<'a> {
    store: &'a Arc<dyn ObjectStore>,
    keys: &'a ProjectKeys,
    owner: u64,
    next_pack_seq: u64,
    pack: Option<PackBuilder>,
    pack_target: usize,
    pack_capacity: usize,
    uploads: JoinSet<Result<()>>,
    max_inflight: usize,
    cache: DedupCache,
    footer: ManifestFooter,
}

impl Writer<'_> {
    async fn commit(&mut self, p: &Processed, enc: &mut ManifestEncoder) -> Result<()> {
        for b in &p.blocks {
            self.footer.blocks_total += 1;
            let entry = match *b {
                BlockOut::Zero => {
                    self.footer.blocks_zero += 1;
                    None
                }
                BlockOut::Reuse { parent, check } => {
                    self.footer.blocks_reused += 1;
                    self.cache.insert(parent);
                    Some((parent, check))
                }
                BlockOut::New { hash, check, codec, raw_len, start, len } => {
                    if let Some(r) = self.cache.get(&hash, raw_len) {
                        self.footer.blocks_reused += 1;
                        Some((r, check))
                    } else {
                        let data = p
                            .payload
                            .get(start..start + len)
                            .ok_or_else(|| EngineError::Pipeline("payload bounds".into()))?;
                        let r = self.add_to_pack(hash, codec, raw_len, data).await?;
                        self.footer.blocks_new += 1;
                        self.footer.payload_bytes += len as u64;
                        self.cache.insert(r);
                        Some((r, check))
                    }
                }
            };
            // Every entry gets the checksum restores verify, whatever reference it reuses.
            enc.push(&entry.map(|(r, check)| BlockRef { check: Some(check), ..r }))?;
        }
        Ok(())
    }

    async fn add_to_pack(
        &mut self,
        hash: [u8; 32],
        codec: Codec,
        raw_len: u32,
        data: &[u8],
    ) -> Result<BlockRef> {
        if let Some(pack) = &self.pack
            && !pack.is_empty()
            && pack.len() + data.len() > self.pack_target
        {
            self.seal().await?;
        }
        let pack = match &mut self.pack {
            Some(p) => p,
            None => {
                let id = PackId { owner: self.owner, seq: self.next_pack_seq };
                self.next_pack_seq += 1;
                self.pack.insert(PackBuilder::new(id, self.pack_capacity))
            }
        };
        pack.push(hash, codec, raw_len, data)
    }

    /// Seals the current pack and starts its upload, waiting first if too many are in flight.
    async fn seal(&mut self) -> Result<()> {
        let Some(pack) = self.pack.take() else {
            return Ok(());
        };
        if pack.is_empty() {
            return Ok(());
        }
        while self.uploads.len() >= self.max_inflight {
            if let Some(r) = self.uploads.join_next().await {
                r.map_err(|e| EngineError::Pipeline(format!("upload task: {e}")))??;
            }
        }
        let path = self.keys.pack(pack.id());
        let bytes = pack.finish();
        self.footer.pack_bytes += bytes.len() as u64;
        self.footer.packs_written += 1;
        let store = Arc::clone(self.store);
        self.uploads.spawn(async move {
            store.put(&path, PutPayload::from(Bytes::from(bytes))).await?;
            Ok(())
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        assert!(is_zero(&[0u8; 1000]));
        let mut v = vec![0u8; 1000];
        v[999] = 1;
        assert!(!is_zero(&v));
        assert!(is_zero(&[]));
    }

    #[test]
    fn dedup_cache_is_bounded() {
        let mut c = DedupCache::new(2);
        let r = |h: u8| BlockRef {
            hash: [h; 32],
            pack: PackId { owner: 1, seq: 1 },
            index: 0,
            offset: 32,
            stored_len: 1,
            raw_len: 1,
            codec: Codec::Raw,
            check: None,
        };
        c.insert(r(1));
        c.insert(r(2));
        c.insert(r(3));
        assert!(c.get(&[1; 32], 1).is_none());
        assert!(c.get(&[3; 32], 1).is_some());
        assert!(c.get(&[3; 32], 2).is_none());
        assert_eq!(c.map.len(), 2);
    }
}
