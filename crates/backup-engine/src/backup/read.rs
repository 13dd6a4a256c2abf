//! Read stage: one thread reads the source in batches of whole blocks (`pread`, ~1 MiB) and
//! attaches to each batch the parent's entries for the same offsets, pulling the parent's
//! manifest chunk by chunk as it goes (the streaming merge described in [`super`]).

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;

use tokio::sync::mpsc;

use super::process::Processed;
use crate::error::{EngineError, Result};
use crate::format::ManifestEntry;
use crate::storeio::ManifestReader;

/// Consecutive blocks of the source, with the parent's entries for the same offsets (`None`
/// past the parent's end).
pub(super) struct Batch {
    pub(super) seq: u64,
    pub(super) data: Vec<u8>,
    pub(super) parent: Vec<ManifestEntry>,
}

/// Parent manifest entries, chunk by chunk.
pub(super) type ParentChunks = mpsc::Receiver<Result<Vec<ManifestEntry>>>;

/// Streams the parent's entries from the store on the runtime, for the reader thread to pull;
/// without a parent the stream is empty. Dropping the guard stops the stream.
pub(super) fn stream_parent(parent_reader: Option<ManifestReader>) -> (ParentChunks, AbortOnDrop) {
    let (parent_tx, parent_rx) = mpsc::channel::<Result<Vec<ManifestEntry>>>(2);
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
    (parent_rx, AbortOnDrop(parent_task))
}

pub(super) struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

/// The reader thread's input and outputs. Batches go to the hash+compress workers; a read
/// error skips them and goes straight to the writer.
pub(super) struct Reader {
    pub(super) file: File,
    pub(super) volume_len: u64,
    pub(super) block_size: usize,
    pub(super) batch_bytes: u64,
    pub(super) parent_rx: ParentChunks,
    pub(super) batch_tx: crossbeam_channel::Sender<Batch>,
    pub(super) out_tx: mpsc::Sender<Result<Processed>>,
}

impl Reader {
    pub(super) fn spawn(self) -> Result<()> {
        std::thread::Builder::new()
            .name("vbs-backup-read".into())
            .spawn(move || self.run())
            .map_err(|e| EngineError::Pipeline(format!("spawn reader: {e}")))?;
        Ok(())
    }

    fn run(mut self) {
        let (volume_len, block_size, batch_bytes) = (self.volume_len, self.block_size, self.batch_bytes);
        let mut parent_buf: VecDeque<ManifestEntry> = VecDeque::new();
        let mut parent_open = true;
        let mut offset = 0u64;
        let mut seq = 0u64;
        while offset < volume_len {
            let n = (volume_len - offset).min(batch_bytes) as usize;
            let mut data = vec![0u8; n];
            if let Err(e) = self.file.read_exact_at(&mut data, offset) {
                let _ = self
                    .out_tx
                    .blocking_send(Err(EngineError::Io { path: "backup source".into(), source: e }));
                return;
            }
            let blocks = n.div_ceil(block_size);
            while parent_open && parent_buf.len() < blocks {
                match self.parent_rx.blocking_recv() {
                    Some(Ok(chunk)) => parent_buf.extend(chunk),
                    Some(Err(e)) => {
                        let _ = self.out_tx.blocking_send(Err(e));
                        return;
                    }
                    None => parent_open = false,
                }
            }
            let take = blocks.min(parent_buf.len());
            let mut parent: Vec<ManifestEntry> = parent_buf.drain(..take).collect();
            parent.resize(blocks, None);
            if self.batch_tx.send(Batch { seq, data, parent }).is_err() {
                return;
            }
            offset += n as u64;
            seq += 1;
        }
    }
}
