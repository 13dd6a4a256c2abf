//! Read stage: one thread plans the source in batches of whole blocks (~1 MiB) and attaches to
//! each batch the parent's entries for the same offsets, pulling the parent's manifest chunk by
//! chunk as it goes (the streaming merge described in [`super`]); the same thread reads each
//! batch (`pread`), or, for a source that serves reads in parallel
//! ([`VolumeReader::read_concurrency`]), that many fetch threads do.
//!
//! When the source knows which extents can hold data ([`VolumeReader::extents`]), only the
//! blocks they touch are read; the others are marked as not read, and the workers make them
//! zero blocks or the parent's, as the extents say.

use std::collections::VecDeque;
use std::iter::Peekable;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::process::Processed;
use crate::error::{EngineError, Result};
use crate::format::ManifestEntry;
use crate::storeio::ManifestReader;
use crate::volume::{ExtentIter, Extents, VolumeReader};

/// Consecutive blocks of the source, with the parent's entries for the same offsets (`None`
/// past the parent's end).
pub(super) struct Batch {
    pub(super) seq: u64,
    pub(super) data: Vec<u8>,
    pub(super) parent: Vec<ManifestEntry>,
    /// Blocks not read (zeros in `data`), when the source's extents left some out.
    pub(super) unread: Option<Unread>,
}

/// The blocks of a batch the reader did not read, because no extent touches them.
pub(super) struct Unread {
    pub(super) blocks: Vec<bool>,
    /// They are the parent's blocks (`true`) or zeros.
    pub(super) from_parent: bool,
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
    pub(super) source: Arc<dyn VolumeReader>,
    /// The backup's parent, for [`VolumeReader::extents`].
    pub(super) parent: Option<String>,
    /// Bytes read so far.
    pub(super) bytes_read: Arc<AtomicU64>,
    pub(super) volume_len: u64,
    pub(super) block_size: usize,
    pub(super) batch_bytes: u64,
    pub(super) parent_rx: ParentChunks,
    pub(super) batch_tx: crossbeam_channel::Sender<Batch>,
    pub(super) out_tx: mpsc::Sender<Result<Processed>>,
}

/// A batch as planned: where it is, the parent's entries, and the blocks not to read.
struct Planned {
    seq: u64,
    offset: u64,
    len: usize,
    parent: Vec<ManifestEntry>,
    unread: Option<Unread>,
}

/// What fetching a planned batch needs.
#[derive(Clone)]
struct Fetch {
    source: Arc<dyn VolumeReader>,
    block_size: usize,
    bytes_read: Arc<AtomicU64>,
}

impl Fetch {
    /// Reads the batch's blocks (those not marked unread, in runs of adjacent blocks).
    fn fetch(&self, p: Planned) -> Result<Batch> {
        let io = |source| EngineError::Io { path: "backup source".into(), source };
        let mut data = vec![0u8; p.len];
        let bs = self.block_size;
        let blocks = p.len.div_ceil(bs);
        let skipped = |i: usize| p.unread.as_ref().is_some_and(|u| u.blocks[i]);
        let mut i = 0;
        while i < blocks {
            if skipped(i) {
                i += 1;
                continue;
            }
            let run = (i..blocks).take_while(|&j| !skipped(j)).count();
            let (from, to) = (i * bs, ((i + run) * bs).min(p.len));
            self.source.read_exact_at(&mut data[from..to], p.offset + from as u64).map_err(io)?;
            self.bytes_read.fetch_add((to - from) as u64, Ordering::Relaxed);
            i += run;
        }
        Ok(Batch { seq: p.seq, data, parent: p.parent, unread: p.unread })
    }
}

impl Reader {
    /// Starts the reader thread and, for a source that serves reads in parallel
    /// ([`VolumeReader::read_concurrency`]), that many fetch threads: batches then reach the
    /// workers out of order, which the writer's reorder buffer absorbs.
    pub(super) fn spawn(self) -> Result<()> {
        std::thread::Builder::new()
            .name("vbs-backup-read".into())
            .spawn(move || self.run())
            .map_err(|e| EngineError::Pipeline(format!("spawn reader: {e}")))?;
        Ok(())
    }

    fn run(mut self) {
        let fetch = Fetch {
            source: Arc::clone(&self.source),
            block_size: self.block_size,
            bytes_read: Arc::clone(&self.bytes_read),
        };
        let fetchers = self.source.read_concurrency().clamp(1, 64);
        let result = if fetchers == 1 {
            let batch_tx = self.batch_tx.clone();
            self.plan(|p| {
                let batch = fetch.fetch(p)?;
                Ok(batch_tx.send(batch).is_ok())
            })
        } else {
            match self.spawn_fetchers(fetchers, &fetch) {
                Ok(job_tx) => self.plan(|p| Ok(job_tx.send(p).is_ok())),
                Err(e) => Err(e),
            }
        };
        if let Err(e) = result {
            let _ = self.out_tx.blocking_send(Err(e));
        }
    }

    /// `n` threads fetching planned batches; they end when the plan does, or on an error
    /// (which goes to the writer).
    fn spawn_fetchers(&self, n: usize, fetch: &Fetch) -> Result<crossbeam_channel::Sender<Planned>> {
        let (job_tx, job_rx) = crossbeam_channel::bounded::<Planned>(n);
        for i in 0..n {
            let (jobs, fetch, batch_tx, out_tx) =
                (job_rx.clone(), fetch.clone(), self.batch_tx.clone(), self.out_tx.clone());
            std::thread::Builder::new()
                .name(format!("vbs-backup-fetch-{i}"))
                .spawn(move || {
                    for p in jobs {
                        match fetch.fetch(p) {
                            Ok(batch) => {
                                if batch_tx.send(batch).is_err() {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = out_tx.blocking_send(Err(e));
                                return;
                            }
                        }
                    }
                })
                .map_err(|e| EngineError::Pipeline(format!("spawn fetcher: {e}")))?;
        }
        Ok(job_tx)
    }

    /// Plans every batch in order — the parent's entries for its offsets, and with the
    /// source's extents the blocks not to read — and hands each to `emit` (`false`: the
    /// pipeline stopped).
    fn plan(&mut self, mut emit: impl FnMut(Planned) -> Result<bool>) -> Result<()> {
        let (volume_len, block_size, batch_bytes) = (self.volume_len, self.block_size, self.batch_bytes);
        let io = |source| EngineError::Io { path: "backup source".into(), source };
        let mut extents = self.source.extents(self.parent.as_deref()).map_err(io)?.map(ExtentCursor::new);
        let mut parent_buf: VecDeque<ManifestEntry> = VecDeque::new();
        let mut parent_open = true;
        let mut offset = 0u64;
        let mut seq = 0u64;
        while offset < volume_len {
            let len = (volume_len - offset).min(batch_bytes) as usize;
            let blocks = len.div_ceil(block_size);
            while parent_open && parent_buf.len() < blocks {
                match self.parent_rx.blocking_recv() {
                    Some(chunk) => parent_buf.extend(chunk?),
                    None => parent_open = false,
                }
            }
            let take = blocks.min(parent_buf.len());
            let mut parent: Vec<ManifestEntry> = parent_buf.drain(..take).collect();
            parent.resize(blocks, None);
            let unread = match &mut extents {
                None => None,
                Some(cursor) => Some(untouched(cursor, block_size, offset, len, &parent)?),
            };
            if !emit(Planned { seq, offset, len, parent, unread })? {
                return Ok(());
            }
            offset += len as u64;
            seq += 1;
        }
        Ok(())
    }
}

/// The blocks of the batch at `offset` that no extent touches, so need not be read.
fn untouched(
    cursor: &mut ExtentCursor,
    bs: usize,
    offset: u64,
    len: usize,
    parent: &[ManifestEntry],
) -> Result<Unread> {
    let mut blocks = vec![false; len.div_ceil(bs)];
    for (i, skip) in blocks.iter_mut().enumerate() {
        let start = offset + (i * bs) as u64;
        let block_len = bs.min(len - i * bs);
        let touched = cursor.touches(start, start + block_len as u64)?;
        // The parent's block stands in for an untouched one only if it is as long (a volume
        // that grew has a longer block where the parent's last one was short).
        let parent_fits = match parent.get(i) {
            Some(Some(p)) => p.raw_len as usize == block_len,
            _ => true,
        };
        *skip = !touched && (parent_fits || !cursor.since_parent);
    }
    Ok(Unread { blocks, from_parent: cursor.since_parent })
}

/// Walks the source's extents alongside the blocks, both in ascending order.
struct ExtentCursor {
    since_parent: bool,
    ranges: Peekable<ExtentIter>,
    /// Start of the last extent passed over, to refuse extents out of order.
    last_start: u64,
}

impl ExtentCursor {
    fn new(e: Extents) -> Self {
        Self { since_parent: e.since_parent, ranges: e.ranges.peekable(), last_start: 0 }
    }

    /// Whether an extent overlaps `start..end`; extents ending before `start` are passed over
    /// (blocks come in ascending order, so they can touch no later block).
    fn touches(&mut self, start: u64, end: u64) -> Result<bool> {
        loop {
            if let Some(Err(e)) = self.ranges.next_if(Result::is_err) {
                return Err(EngineError::Io { path: "backup source extents".into(), source: e });
            }
            let Some(Ok((s, len))) = self.ranges.peek() else { return Ok(false) };
            let (s, len) = (*s, *len);
            if s < self.last_start {
                return Err(EngineError::Pipeline(format!("source extents out of order at offset {s}")));
            }
            if s.saturating_add(len) <= start || len == 0 {
                self.last_start = s;
                self.ranges.next();
                continue;
            }
            return Ok(s < end);
        }
    }
}
