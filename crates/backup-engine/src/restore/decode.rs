//! Decode stage: a fixed set of decoder threads runs each fetched job through the operation's
//! `process` (restore: [`decode_runs`] and a write; verify: checks only).

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::fetch::FetchResult;
use super::plan::Job;
use super::pool::{BufferPool, PooledBuf};
use crate::error::{EngineError, Result};
use crate::format::{BlockRef, Check, Codec, PackId, check_block, decode_block_into};

/// Fetched jobs, shared by the decoder threads.
type Fetched = Arc<Mutex<tokio::sync::mpsc::Receiver<Result<(Job, FetchResult)>>>>;

/// Runs `process` on every job from `rx` on `threads` threads until the fetch stage ends or
/// a job fails; returns the first failure.
pub(super) async fn run_decoders<F>(
    threads: usize,
    rx: tokio::sync::mpsc::Receiver<Result<(Job, FetchResult)>>,
    process: Arc<F>,
) -> Result<()>
where
    F: Fn(Job, FetchResult) -> Result<()> + Send + Sync + 'static,
{
    // A fixed set of decoder threads rather than the blocking pool: allocations stay in a few
    // malloc arenas, which keeps peak RSS near the sum of the bounded buffers.
    let rx: Fetched = Arc::new(Mutex::new(rx));
    let failure: Arc<Mutex<Option<EngineError>>> = Arc::default();
    let mut handles = Vec::new();
    for i in 0..threads {
        handles.push(spawn_decoder(i, &rx, &failure, &process)?);
    }
    drop(process);
    let panicked = tokio::task::spawn_blocking(move || {
        handles.into_iter().map(|h| h.join()).filter(|r| r.is_err()).count()
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("decoder join: {e}")))?;
    if let Some(e) = failure.lock().map_err(|_| EngineError::Pipeline("failure slot poisoned".into()))?.take()
    {
        return Err(e);
    }
    if panicked > 0 {
        return Err(EngineError::Pipeline("decoder thread panicked".into()));
    }
    Ok(())
}

/// Decoder thread `i`: processes jobs until the queue ends; on a failure it records the
/// error (the first one wins) and closes the queue.
fn spawn_decoder<F>(
    i: usize,
    rx: &Fetched,
    failure: &Arc<Mutex<Option<EngineError>>>,
    process: &Arc<F>,
) -> Result<std::thread::JoinHandle<()>>
where
    F: Fn(Job, FetchResult) -> Result<()> + Send + Sync + 'static,
{
    let frx = Arc::clone(rx);
    let failure = Arc::clone(failure);
    let process = Arc::clone(process);
    let frx_fail = Arc::clone(rx);
    let fail = move |e: EngineError| {
        if let Ok(mut f) = failure.lock() {
            f.get_or_insert(e);
        }
        // Stop the fetcher; other decoders drain what is queued and end.
        if let Ok(mut rx) = frx_fail.lock() {
            rx.close();
        }
    };
    std::thread::Builder::new()
        .name(format!("vbs-decode-{i}"))
        .spawn(move || {
            loop {
                let msg = match frx.lock() {
                    Ok(mut rx) => rx.blocking_recv(),
                    Err(_) => None,
                };
                match msg {
                    None => break,
                    Some(Err(e)) => {
                        fail(e);
                        break;
                    }
                    Some(Ok((job, data))) => {
                        if let Err(e) = process(job, data) {
                            fail(e);
                            break;
                        }
                    }
                }
            }
        })
        .map_err(|e| EngineError::Pipeline(format!("spawn decoder: {e}")))
}

/// Decoded data of one job: runs of volume-contiguous blocks, each one write.
pub(super) enum Write {
    Runs(Vec<(u64, Run)>),
    Zeros { offset: u64, len: u64 },
}

/// Raw (uncompressed) blocks that are adjacent in the pack and on the volume are written
/// straight from the fetched buffer; compressed ones are decoded into a pooled buffer shared
/// by the job's runs.
pub(super) enum Run {
    Shared(Bytes),
    Owned(Arc<PooledBuf>, std::ops::Range<usize>),
}

impl Run {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Run::Shared(b) => b,
            Run::Owned(buf, range) => &buf.buf[range.clone()],
        }
    }
}

/// A run before its decode buffer is shared.
enum PendingRun {
    Shared(Bytes),
    Owned(std::ops::Range<usize>),
}

/// Decodes and checks the blocks of one fetched range (`data`, starting at pack offset
/// `start`) into runs to write.
pub(super) fn decode_runs(
    pack: PackId,
    start: u32,
    raw: u64,
    blocks: &[(u64, BlockRef)],
    data: &Bytes,
    check: Check,
    pool: &Arc<BufferPool>,
) -> Result<Write> {
    let mut dec = zstd::bulk::Decompressor::new().map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
    let mut out: Option<PooledBuf> = None;
    let mut pos = 0usize;
    let mut runs: Vec<(u64, PendingRun)> = Vec::new();
    for (off, r) in blocks {
        let s = (r.offset - start) as usize;
        let e = s + r.stored_len as usize;
        let corrupt =
            |d: String| EngineError::corrupt(format!("block at volume offset {off} (pack {pack:?})"), d);
        let payload = data
            .get(s..e)
            .ok_or_else(|| EngineError::corrupt(format!("pack {pack:?}"), "short range read"))?;
        if r.codec == Codec::Raw {
            if r.stored_len != r.raw_len {
                return Err(corrupt("raw block length mismatch".into()));
            }
            check_block(r, payload, check).map_err(corrupt)?;
            // Extend the previous shared run when this block follows it in both places.
            if let Some((o, PendingRun::Shared(b))) = runs.last_mut()
                && *o + b.len() as u64 == *off
                && b.as_ptr() as usize + b.len() == payload.as_ptr() as usize
            {
                let begin = b.as_ptr() as usize - data.as_ptr() as usize;
                *b = data.slice(begin..e);
                continue;
            }
            runs.push((*off, PendingRun::Shared(data.slice(s..e))));
            continue;
        }
        let buf = out.get_or_insert_with(|| pool.take());
        let end = pos + r.raw_len as usize;
        if buf.buf.len() < end {
            // Only when a job decodes more than max_fetch_size, which the planner never plans.
            buf.buf.resize(end.max(raw as usize), 0);
        }
        decode_block_into(&mut dec, r, payload, &mut buf.buf[pos..end], check).map_err(corrupt)?;
        match runs.last_mut() {
            Some((o, PendingRun::Owned(range))) if range.end == pos && *o + range.len() as u64 == *off => {
                range.end = end;
            }
            _ => runs.push((*off, PendingRun::Owned(pos..end))),
        }
        pos = end;
    }
    let shared = out.map(|mut b| {
        b.len = pos;
        Arc::new(b)
    });
    let runs = runs
        .into_iter()
        .map(|(off, run)| match (run, &shared) {
            (PendingRun::Shared(b), _) => Ok((off, Run::Shared(b))),
            (PendingRun::Owned(range), Some(buf)) => Ok((off, Run::Owned(Arc::clone(buf), range))),
            (PendingRun::Owned(_), None) => Err(EngineError::Pipeline("decoded run without a buffer".into())),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Write::Runs(runs))
}
