//! Repacking (the last phase of a GC run): the live blocks of mostly-dead packs are copied into
//! new packs, every manifest referencing them is rewritten to point at the copies, and the old
//! packs are retired, to be deleted by a later run (see the parent module for when).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{Gc, PackLive};
use crate::error::{EngineError, Result};
use crate::format::{BlockRef, Check, ManifestEncoder, PackBuilder, PackId, decode_block, parse_pack};
use crate::keys::{ProjectKeys, nonce};
use crate::storeio::{ManifestReader, ManifestSink, now_unix, put_json};
use crate::types::{EngineConfig, GcReport};

#[derive(Serialize, Deserialize)]
struct RetiredRecord {
    retired_unix: u64,
}

impl Gc<'_> {
    /// Moves the live blocks of the `chosen` packs, then retires those packs.
    pub(super) async fn repack(
        &mut self,
        manifests: &[(String, Path)],
        live: &HashMap<PackId, PackLive>,
        chosen: Vec<PackId>,
    ) -> Result<()> {
        let mut out = RepackWriter::new(self.store, &self.keys, self.config);
        let mut dec =
            zstd::bulk::Decompressor::new().map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
        let mut scratch = Vec::new();
        let mut done: Vec<PackId> = Vec::new();
        for id in chosen {
            let Some(l) = live.get(&id) else { continue };
            let Some((data, blocks)) = self.load_live_blocks(id, l, &mut dec, &mut scratch).await? else {
                continue;
            };
            for r in blocks {
                out.copy(r, payload(&data, &r), &mut self.report).await?;
            }
            done.push(id);
        }
        let moved = out.finish(&mut self.report).await?;
        if done.is_empty() {
            return Ok(());
        }
        self.repoint_manifests(manifests, &done, &moved).await?;
        for id in done {
            put_json(self.store, &self.keys.retired(id), &RetiredRecord { retired_unix: now_unix() }).await?;
            self.report.packs_repacked += 1;
        }
        Ok(())
    }

    /// Reads pack `id` and checks every live block of it. `None` when the pack is gone, or
    /// damaged (left alone for verify to report; copying it would hide it), or its live
    /// blocks do not all check out: a pack is moved whole or not at all.
    async fn load_live_blocks(
        &self,
        id: PackId,
        l: &PackLive,
        dec: &mut zstd::bulk::Decompressor<'static>,
        scratch: &mut Vec<u8>,
    ) -> Result<Option<(Bytes, Vec<BlockRef>)>> {
        let data = match self.store.get(&self.keys.pack(id)).await {
            Ok(g) => g.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Ok(index) = parse_pack(self.keys.pack(id).as_ref(), id, &data) else {
            return Ok(None);
        };
        let mut blocks = Vec::new();
        for (i, e) in index.iter().enumerate() {
            if !l.is_live(i) {
                continue;
            }
            let r = BlockRef {
                hash: e.hash,
                pack: id,
                index: i as u32,
                offset: e.offset,
                stored_len: e.stored_len,
                raw_len: e.raw_len,
                codec: e.codec,
                check: None,
            };
            if decode_block(dec, &r, payload(&data, &r), scratch, Check::Full).is_err() {
                return Ok(None);
            }
            blocks.push(r);
        }
        if blocks.len() as u64 != l.live_count {
            return Ok(None);
        }
        Ok(Some((data, blocks)))
    }

    /// Points every manifest that references a repacked pack at the copies; each rewrite is
    /// one atomic multipart commit.
    async fn repoint_manifests(
        &mut self,
        manifests: &[(String, Path)],
        done: &[PackId],
        moved: &HashMap<(PackId, u32), BlockRef>,
    ) -> Result<()> {
        let done_set: HashSet<PackId> = done.iter().copied().collect();
        for (_, path) in manifests {
            if !references_any(self.store, self.project, path, &done_set).await? {
                continue;
            }
            if rewrite_manifest(self.store, self.project, path, moved).await? {
                self.report.manifests_rewritten += 1;
            }
        }
        Ok(())
    }
}

/// The stored payload of block `r` within its pack's bytes (bounds checked by `parse_pack`).
fn payload<'d>(data: &'d [u8], r: &BlockRef) -> &'d [u8] {
    &data[r.offset as usize..(r.offset + r.stored_len) as usize]
}

/// The new packs of one repack run, under an owner tag of their own. Full packs upload in the
/// background, `max_inflight_uploads` at a time.
struct RepackWriter<'a> {
    store: &'a Arc<dyn ObjectStore>,
    keys: &'a ProjectKeys,
    config: &'a EngineConfig,
    owner: u64,
    seq: u64,
    cap: usize,
    pack: Option<PackBuilder>,
    uploads: JoinSet<Result<()>>,
    /// `(old pack, index)` → the block's reference in its new pack.
    moved: HashMap<(PackId, u32), BlockRef>,
}

impl<'a> RepackWriter<'a> {
    fn new(store: &'a Arc<dyn ObjectStore>, keys: &'a ProjectKeys, config: &'a EngineConfig) -> Self {
        Self {
            store,
            keys,
            config,
            owner: nonce("gc"),
            seq: 0,
            cap: config.pack_target_size + config.block_size + 64 * 1024,
            pack: None,
            uploads: JoinSet::new(),
            moved: HashMap::new(),
        }
    }

    /// Appends block `r` (with its stored `payload`) to the current pack.
    async fn copy(&mut self, r: BlockRef, payload: &[u8], report: &mut GcReport) -> Result<()> {
        if let Some(p) = &self.pack
            && !p.is_empty()
            && p.len() + payload.len() > self.config.pack_target_size
            && let Some(full) = self.pack.take()
        {
            self.upload(full, report).await?;
        }
        let p = self.pack.get_or_insert_with(|| {
            self.seq += 1;
            PackBuilder::new(PackId { owner: self.owner, seq: self.seq - 1 }, self.cap)
        });
        let new = p.push(r.hash, r.codec, r.raw_len, payload)?;
        report.repack_bytes_copied += payload.len() as u64;
        self.moved.insert((r.pack, r.index), new);
        Ok(())
    }

    /// Uploads the last pack and waits for every upload; returns where each block moved.
    async fn finish(mut self, report: &mut GcReport) -> Result<HashMap<(PackId, u32), BlockRef>> {
        if let Some(p) = self.pack.take()
            && !p.is_empty()
        {
            self.upload(p, report).await?;
        }
        while let Some(r) = self.uploads.join_next().await {
            r.map_err(|e| EngineError::Pipeline(format!("upload: {e}")))??;
        }
        Ok(self.moved)
    }

    async fn upload(&mut self, pack: PackBuilder, report: &mut GcReport) -> Result<()> {
        while self.uploads.len() >= self.config.max_inflight_uploads.max(1) {
            if let Some(r) = self.uploads.join_next().await {
                r.map_err(|e| EngineError::Pipeline(format!("upload: {e}")))??;
            }
        }
        let path = self.keys.pack(pack.id());
        let bytes = pack.finish();
        report.repack_packs_written += 1;
        let store = Arc::clone(self.store);
        self.uploads.spawn(async move {
            store.put(&path, PutPayload::from(Bytes::from(bytes))).await?;
            Ok(())
        });
        Ok(())
    }
}

async fn references_any(
    store: &Arc<dyn ObjectStore>,
    project: &str,
    path: &Path,
    packs: &HashSet<PackId>,
) -> Result<bool> {
    let mut r =
        match ManifestReader::open(store, path, project, || EngineError::BackupNotFound(path.to_string()))
            .await
        {
            Ok(r) => r,
            Err(EngineError::BackupNotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
    while let Some(chunk) = r.next_chunk().await? {
        if chunk.iter().flatten().any(|e| packs.contains(&e.pack)) {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn rewrite_manifest(
    store: &Arc<dyn ObjectStore>,
    project: &str,
    path: &Path,
    moved: &HashMap<(PackId, u32), BlockRef>,
) -> Result<bool> {
    let mut r =
        match ManifestReader::open(store, path, project, || EngineError::BackupNotFound(path.to_string()))
            .await
        {
            Ok(r) => r,
            Err(EngineError::BackupNotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
    let mut enc = ManifestEncoder::new(r.header())?;
    let mut sink = ManifestSink::create(store, path).await?;
    let result: Result<()> = async {
        while let Some(chunk) = r.next_chunk().await? {
            for e in chunk {
                // The copy keeps the block's checksum (a pack-level reference has none).
                let e =
                    e.map(|b| moved.get(&(b.pack, b.index)).map_or(b, |n| BlockRef { check: b.check, ..*n }));
                enc.push(&e)?;
            }
            if enc.output_len() >= 1024 * 1024 {
                sink.write(enc.take_output()).await?;
            }
        }
        Ok(())
    }
    .await;
    let footer = match (result, r.footer()) {
        (Ok(()), Some(f)) => f,
        (Err(e), _) => {
            sink.abort().await;
            return Err(e);
        }
        (Ok(()), None) => {
            sink.abort().await;
            return Err(EngineError::corrupt(path.to_string(), "no footer"));
        }
    };
    sink.write(enc.finish(&footer)?).await?;
    // Narrow (not close) the window in which a concurrent delete would be undone.
    match store.head(path).await {
        Ok(_) => {
            sink.finish().await?;
            Ok(true)
        }
        Err(_) => {
            sink.abort().await;
            Ok(false)
        }
    }
}
