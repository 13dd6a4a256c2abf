//! Write stage: the async writer commits processed batches in offset order. It deduplicates
//! new blocks against a window of recent ones, fills packs and uploads them (a bounded number
//! in parallel), and streams the manifest entries.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::process::{BlockOut, Processed};
use crate::error::{EngineError, Result};
use crate::format::{BlockRef, Codec, ManifestEncoder, ManifestFooter, PackBuilder, PackId};
use crate::keys::ProjectKeys;
use crate::storeio::ManifestSink;
use crate::types::{EngineConfig, Progress};

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

/// The writer task's state: the pack being filled, uploads in flight, the dedup cache and
/// the manifest's counters.
pub(super) struct Writer<'a> {
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
    /// Blocks dead attempts at this backup stored (hash → reference), reused like the cache's.
    resumed: HashMap<[u8; 32], BlockRef>,
    footer: ManifestFooter,
}

impl<'a> Writer<'a> {
    pub(super) fn new(
        store: &'a Arc<dyn ObjectStore>,
        keys: &'a ProjectKeys,
        owner: u64,
        config: &EngineConfig,
        block_size: usize,
        resume: &[BlockRef],
    ) -> Self {
        Self {
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
            resumed: resume.iter().map(|r| (r.hash, *r)).collect(),
            footer: ManifestFooter::default(),
        }
    }

    /// Writes all `expected_batches` batches from `rx` into packs and `enc`, and waits until
    /// every pack is stored; returns the manifest's footer.
    pub(super) async fn run(
        mut self,
        enc: &mut ManifestEncoder,
        rx: mpsc::Receiver<Result<Processed>>,
        expected_batches: u64,
        progress: &Progress,
        sink: &mut ManifestSink,
    ) -> Result<ManifestFooter> {
        if let Err(e) = self.write_batches(enc, rx, expected_batches, progress, sink).await {
            // Uploads already started finish (or fail) before the error is reported, so a failed
            // backup leaves nothing landing in the store after it returned.
            while self.uploads.join_next().await.is_some() {}
            return Err(e);
        }
        Ok(self.footer)
    }

    async fn write_batches(
        &mut self,
        enc: &mut ManifestEncoder,
        mut rx: mpsc::Receiver<Result<Processed>>,
        expected_batches: u64,
        progress: &Progress,
        sink: &mut ManifestSink,
    ) -> Result<()> {
        // Workers finish batches out of order; entries must reach the manifest in offset order.
        let mut reorder: BTreeMap<u64, Processed> = BTreeMap::new();
        let mut next_seq = 0u64;
        while let Some(msg) = rx.recv().await {
            let p = msg?;
            reorder.insert(p.seq, p);
            while let Some(p) = reorder.remove(&next_seq) {
                self.commit(&p, enc).await?;
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
        self.seal().await?;
        while let Some(r) = self.uploads.join_next().await {
            r.map_err(|e| EngineError::Pipeline(format!("upload task: {e}")))??;
        }
        Ok(())
    }

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
                    let stored = self
                        .cache
                        .get(&hash, raw_len)
                        .or_else(|| self.resumed.get(&hash).filter(|r| r.raw_len == raw_len).copied());
                    if let Some(r) = stored {
                        self.footer.blocks_reused += 1;
                        Some((r, Some(check)))
                    } else {
                        let data = p
                            .payload
                            .get(start..start + len)
                            .ok_or_else(|| EngineError::Pipeline("payload bounds".into()))?;
                        let r = self.add_to_pack(hash, codec, raw_len, data).await?;
                        self.footer.blocks_new += 1;
                        self.footer.payload_bytes += len as u64;
                        self.cache.insert(r);
                        Some((r, Some(check)))
                    }
                }
            };
            // Every entry gets the checksum restores verify, whatever reference it reuses (a
            // block that was not read keeps the parent's, which the oldest manifests lack).
            enc.push(&entry.map(|(r, check)| BlockRef { check, ..r }))?;
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
