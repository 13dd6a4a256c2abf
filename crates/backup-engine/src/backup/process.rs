//! Hash+compress stage: `threads` worker threads turn each batch into block outcomes. A block
//! is all zeros (not stored), the parent's block at the same offset (reused), or new: hashed,
//! and zstd-compressed unless that saves too little.

use tokio::sync::mpsc;

use super::read::Batch;
use crate::error::{EngineError, Result};
use crate::format::{BlockRef, Codec, block_checksum};

/// What a worker made of one block.
pub(super) enum BlockOut {
    Zero,
    /// The parent's reference; `check` is this block's checksum (the parent may predate
    /// them), or the parent's for a block that was not read.
    Reuse {
        parent: BlockRef,
        check: Option<u64>,
    },
    /// Not the parent's: its payload is `start..start + len` of [`Processed::payload`].
    New {
        hash: [u8; 32],
        check: u64,
        codec: Codec,
        raw_len: u32,
        start: usize,
        len: usize,
    },
}

/// One processed batch, in the order of its blocks.
pub(super) struct Processed {
    pub(super) seq: u64,
    pub(super) bytes: u64,
    pub(super) blocks: Vec<BlockOut>,
    pub(super) payload: Vec<u8>,
}

/// Starts the workers; each ends when the batches run out or the writer is gone.
pub(super) fn spawn_workers(
    threads: usize,
    level: i32,
    block_size: usize,
    batch_rx: crossbeam_channel::Receiver<Batch>,
    out_tx: mpsc::Sender<Result<Processed>>,
) -> Result<()> {
    for i in 0..threads {
        let rx = batch_rx.clone();
        let tx = out_tx.clone();
        std::thread::Builder::new()
            .name(format!("vbs-backup-work-{i}"))
            .spawn(move || work(&rx, &tx, level, block_size))
            .map_err(|e| EngineError::Pipeline(format!("spawn worker: {e}")))?;
    }
    Ok(())
}

fn work(
    rx: &crossbeam_channel::Receiver<Batch>,
    tx: &mpsc::Sender<Result<Processed>>,
    level: i32,
    block_size: usize,
) {
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
}

fn is_zero(data: &[u8]) -> bool {
    // OR-fold per 64-byte slice vectorises well; `iter().all` would not (early exit per byte).
    data.chunks(64).all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0)
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
        if let Some(unread) = &batch.unread
            && unread.blocks.get(i).copied().unwrap_or(false)
        {
            blocks.push(match batch.parent.get(i) {
                Some(Some(p)) if unread.from_parent => BlockOut::Reuse { parent: *p, check: p.check },
                _ => BlockOut::Zero,
            });
            continue;
        }
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
            blocks.push(BlockOut::Reuse { parent: *p, check: Some(check) });
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
}
