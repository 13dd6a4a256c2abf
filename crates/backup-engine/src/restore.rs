//! Restore and verify: a planner streams the manifest and turns runs of blocks that sit close
//! together in one pack into range reads; reads run `fetch_concurrency` at a time; decoding
//! (zstd + BLAKE3) and positional writes run on the blocking pool, `threads` jobs at a time.
//!
//! A full backup's blocks lie in pack order, so its reads are whole packs. An incremental's
//! blocks interleave old and new packs; the planner keeps a few reads open per pack and lets
//! a read span small gaps (blocks of other versions) rather than issue a request per block.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc;

use crate::error::{EngineError, Result};
use crate::format::{
    BlockRef, Check, Codec, ManifestHeader, PackId, check_block, decode_block, decode_block_into,
};
use crate::keys::{ProjectKeys, validate_id};
use crate::storeio::{ManifestReader, ReadLease};
use crate::types::{EngineConfig, Progress, RestoreOptions, RestoreStats, VerifyReport};

/// Largest gap (bytes of other blocks) a range read may span to avoid a second request.
const MAX_GAP: u32 = 256 * 1024;
/// Range reads kept open by the planner at once (one per pack being interleaved).
const OPEN_JOBS: usize = 8;
/// Zero bytes written per job when zeros are written explicitly.
const ZERO_RUN: u64 = 8 * 1024 * 1024;
/// Decoded jobs waiting for the restore's writer thread.
const WRITE_QUEUE: usize = 4;

#[derive(Debug)]
pub(crate) enum Job {
    Fetch {
        pack: PackId,
        start: u32,
        end: u32,
        /// Plaintext bytes, bounded like the range so decoded jobs stay small too.
        raw: u64,
        blocks: Vec<(u64, BlockRef)>,
    },
    Zeros {
        offset: u64,
        len: u64,
    },
}

struct Planner {
    open: VecDeque<Job>,
    max_fetch: u32,
    tx: mpsc::Sender<Result<Job>>,
}

impl Planner {
    async fn add(&mut self, vol_off: u64, r: BlockRef) -> Result<bool> {
        let end = r.offset.saturating_add(r.stored_len);
        let pos = self.open.iter().position(|j| matches!(j, Job::Fetch { pack, .. } if *pack == r.pack));
        if let Some(i) = pos {
            if let Some(Job::Fetch { start, end: jend, raw, blocks, .. }) = self.open.get_mut(i)
                && r.offset >= *jend
                && r.offset - *jend <= MAX_GAP
                && end - *start <= self.max_fetch
                && *raw + r.raw_len as u64 <= self.max_fetch as u64
            {
                *jend = end;
                *raw += r.raw_len as u64;
                blocks.push((vol_off, r));
                return Ok(true);
            }
            if let Some(j) = self.open.remove(i)
                && self.tx.send(Ok(j)).await.is_err()
            {
                return Ok(false);
            }
        }
        if self.open.len() >= OPEN_JOBS
            && let Some(j) = self.open.pop_front()
            && self.tx.send(Ok(j)).await.is_err()
        {
            return Ok(false);
        }
        self.open.push_back(Job::Fetch {
            pack: r.pack,
            start: r.offset,
            end,
            raw: r.raw_len as u64,
            blocks: vec![(vol_off, r)],
        });
        Ok(true)
    }

    async fn flush(&mut self) -> bool {
        while let Some(j) = self.open.pop_front() {
            if self.tx.send(Ok(j)).await.is_err() {
                return false;
            }
        }
        true
    }
}

async fn plan(mut reader: ManifestReader, max_fetch: u32, write_zeros: bool, tx: mpsc::Sender<Result<Job>>) {
    let header = reader.header().clone();
    let bs = header.block_size as u64;
    let mut planner = Planner { open: VecDeque::new(), max_fetch, tx: tx.clone() };
    let mut index = 0u64;
    let mut zero_run: Option<(u64, u64)> = None;
    loop {
        let chunk = match reader.next_chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        for e in chunk {
            let off = index * bs;
            let len = header.raw_len_of(index) as u64;
            index += 1;
            match e {
                Some(r) => match planner.add(off, r).await {
                    Ok(true) => {}
                    _ => return,
                },
                None if write_zeros => {
                    zero_run = match zero_run {
                        Some((o, l)) if o + l == off && l + len <= ZERO_RUN => Some((o, l + len)),
                        other => {
                            if let Some((o, l)) = other
                                && tx.send(Ok(Job::Zeros { offset: o, len: l })).await.is_err()
                            {
                                return;
                            }
                            Some((off, len))
                        }
                    };
                }
                None => {}
            }
        }
    }
    if let Some((o, l)) = zero_run
        && tx.send(Ok(Job::Zeros { offset: o, len: l })).await.is_err()
    {
        return;
    }
    planner.flush().await;
}

/// Streams the jobs of `reader`'s manifest through fetch and `process` (on the blocking pool).
/// A fetch error is handed to `process` rather than failing the run (verify counts it).
async fn run_jobs<F>(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    config: &EngineConfig,
    reader: ManifestReader,
    write_zeros: bool,
    process: Arc<F>,
) -> Result<()>
where
    F: Fn(Job, std::result::Result<Bytes, object_store::Error>) -> Result<()> + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Job>>(64);
    let max_fetch = u32::try_from(config.max_fetch_size).unwrap_or(u32::MAX);
    let planner = tokio::spawn(plan(reader, max_fetch, write_zeros, tx));
    let _guard = AbortOnDrop(planner);
    let jobs =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|j| (j, rx)) }).boxed();
    let threads = config.worker_threads();
    // Fetching runs as its own task so reads stay in flight while every decoder is busy.
    let (ftx, frx) = mpsc::channel::<Result<(Job, FetchResult)>>(threads);
    let fetch_store = Arc::clone(store);
    let fetch_keys = keys.clone();
    let concurrency = config.fetch_concurrency.max(1);
    let local_root = config.local_root.clone();
    // Fetched buffers live until decoded (raw blocks until written): fetches in flight, the
    // decode queue, the decoders and the write queue.
    let fetch_pool = BufferPool::new(config.max_fetch_size, concurrency + 3 * threads + WRITE_QUEUE);
    let fetcher = tokio::spawn(async move {
        let mut fetched = jobs
            .map(|job| {
                let store = Arc::clone(&fetch_store);
                let keys = fetch_keys.clone();
                let local_root = local_root.clone();
                let pool = Arc::clone(&fetch_pool);
                async move {
                    let job = job?;
                    let data = match (&job, local_root) {
                        (Job::Fetch { pack, start, end, .. }, Some(root)) => {
                            let path = root.join(keys.pack(*pack).as_ref());
                            let (start, end) = (*start, *end);
                            tokio::task::spawn_blocking(move || read_local(&path, start, end, &pool))
                                .await
                                .map_err(|e| EngineError::Pipeline(format!("read task: {e}")))?
                        }
                        (Job::Fetch { pack, start, end, .. }, None) => {
                            store.get_range(&keys.pack(*pack), *start as u64..*end as u64).await
                        }
                        (Job::Zeros { .. }, _) => Ok(Bytes::new()),
                    };
                    Ok::<_, EngineError>((job, data))
                }
            })
            .buffer_unordered(concurrency);
        while let Some(r) = fetched.next().await {
            let stop = r.is_err();
            if ftx.send(r).await.is_err() || stop {
                break;
            }
        }
    });
    let _fetch_guard = AbortOnDrop(fetcher);

    // A fixed set of decoder threads rather than the blocking pool: allocations stay in a few
    // malloc arenas, which keeps peak RSS near the sum of the bounded buffers.
    let frx = Arc::new(std::sync::Mutex::new(frx));
    let failure: Arc<std::sync::Mutex<Option<EngineError>>> = Arc::default();
    let mut handles = Vec::new();
    for i in 0..threads {
        let frx = Arc::clone(&frx);
        let failure = Arc::clone(&failure);
        let process = Arc::clone(&process);
        let frx_fail = Arc::clone(&frx);
        let fail = move |e: EngineError| {
            if let Ok(mut f) = failure.lock() {
                f.get_or_insert(e);
            }
            // Stop the fetcher; other decoders drain what is queued and end.
            if let Ok(mut rx) = frx_fail.lock() {
                rx.close();
            }
        };
        let h = std::thread::Builder::new()
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
            .map_err(|e| EngineError::Pipeline(format!("spawn decoder: {e}")))?;
        handles.push(h);
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

type FetchResult = std::result::Result<Bytes, object_store::Error>;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Byte buffers of one size, reused: a fresh multi-MiB buffer per read or decode costs a
/// zero-fill and a page fault per 4 KiB (measured: a tenth of restore CPU), a reused one
/// neither. At most `keep` idle buffers are kept; the number in use is bounded by the
/// pipeline's queues.
pub(crate) struct BufferPool {
    size: usize,
    keep: usize,
    free: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    pub(crate) fn new(size: usize, keep: usize) -> Arc<Self> {
        Arc::new(Self { size, keep, free: std::sync::Mutex::new(Vec::new()) })
    }

    /// A buffer of `size` initialised bytes (contents unspecified).
    fn take(self: &Arc<Self>) -> PooledBuf {
        let buf = self.free.lock().ok().and_then(|mut f| f.pop()).unwrap_or_else(|| vec![0; self.size]);
        PooledBuf { buf, len: 0, pool: Arc::clone(self) }
    }
}

/// A pooled buffer; `len` bytes of it are the content. Goes back to its pool when dropped.
pub(crate) struct PooledBuf {
    buf: Vec<u8>,
    len: usize,
    pool: Arc<BufferPool>,
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() == self.pool.size
            && let Ok(mut free) = self.pool.free.lock()
            && free.len() < self.pool.keep
        {
            free.push(buf);
        }
    }
}

/// Reads `start..end` of a pack file of a local store into a pooled buffer (a short read at
/// the end of a truncated file yields fewer bytes; the decoder reports it as corrupt).
fn read_local(path: &FsPath, start: u32, end: u32, pool: &Arc<BufferPool>) -> FetchResult {
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            object_store::Error::NotFound { path: path.display().to_string(), source: Box::new(e) }
        } else {
            object_store::Error::Generic { store: "local", source: Box::new(e) }
        }
    };
    let file = File::open(path).map_err(io)?;
    let want = (end - start) as usize;
    let mut out = pool.take();
    if out.buf.len() < want {
        out.buf.resize(want, 0);
    }
    let mut filled = 0;
    while filled < want {
        match file.read_at(&mut out.buf[filled..want], start as u64 + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    out.len = filled;
    Ok(Bytes::from_owner(out))
}

pub(crate) async fn run_restore(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    backup_id: &str,
    target: &FsPath,
    opts: RestoreOptions,
) -> Result<RestoreStats> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    validate_id("backup", backup_id)?;
    let lease = ReadLease::take(store, &keys, backup_id).await?;
    let r = restore_inner(store, config, &keys, project, backup_id, target, opts).await;
    lease.release().await;
    r
}

#[allow(clippy::too_many_arguments)]
async fn restore_inner(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    project: &str,
    backup_id: &str,
    target: &FsPath,
    opts: RestoreOptions,
) -> Result<RestoreStats> {
    let reader = ManifestReader::open(store, &keys.manifest(backup_id), project, || {
        EngineError::BackupNotFound(backup_id.to_string())
    })
    .await?;
    let header: ManifestHeader = reader.header().clone();
    let target_path = target.to_path_buf();
    let file = tokio::task::spawn_blocking(move || -> Result<File> {
        let mut f = OpenOptions::new()
            .write(true)
            .open(&target_path)
            .map_err(|e| EngineError::io(&target_path, e))?;
        let size = f.seek(SeekFrom::End(0)).map_err(|e| EngineError::io(&target_path, e))?;
        if size < header.volume_len {
            return Err(EngineError::TargetTooSmall { target: size, volume: header.volume_len });
        }
        Ok(f)
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("open task: {e}")))??;
    let file = Arc::new(file);
    let progress = opts.progress.clone().unwrap_or_default();
    let volume_len = reader.header().volume_len;
    let bs = reader.header().block_size as u64;
    progress.start(volume_len);

    let counters = Arc::new(RestoreCounters::default());
    // One writer thread: concurrent pwrite()s to one file serialise on the inode lock in the
    // kernel (and spin there, burning the CPU that decoding needs), so decoding is parallel
    // and writing is not.
    let (wtx, wrx) = crossbeam_channel::bounded::<Write>(WRITE_QUEUE);
    let writer = {
        let file = Arc::clone(&file);
        let name = target.display().to_string();
        let p = progress.clone();
        let c = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("vbs-restore-write".into())
            .spawn(move || write_loop(&file, &name, wrx, &p, &c))
            .map_err(|e| EngineError::Pipeline(format!("spawn writer: {e}")))?
    };
    let c = Arc::clone(&counters);
    let check = if opts.verify_blocks { Check::Fast } else { Check::None };
    let decode_pool = BufferPool::new(config.max_fetch_size, 2 * config.worker_threads() + WRITE_QUEUE);
    let process =
        Arc::new(move |job: Job, data: std::result::Result<Bytes, object_store::Error>| -> Result<()> {
            let w = match job {
                Job::Zeros { offset, len } => Write::Zeros { offset, len },
                Job::Fetch { pack, start, raw, blocks, .. } => {
                    let data = data?;
                    c.fetched.fetch_add(data.len() as u64, Ordering::Relaxed);
                    c.blocks.fetch_add(blocks.len() as u64, Ordering::Relaxed);
                    decode_runs(pack, start, raw, &blocks, &data, check, &decode_pool)?
                }
            };
            wtx.send(w).map_err(|_| EngineError::Pipeline("restore writer stopped".into()))
        });
    let run = run_jobs(store, keys, config, reader, opts.write_zeros, process).await;
    // `process` (and with it the last sender) is gone once run_jobs returns: the writer drains
    // and ends.
    let written = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| EngineError::Pipeline(format!("writer join: {e}")))?
        .map_err(|_| EngineError::Pipeline("restore writer panicked".into()));
    // A writer error is the root cause of a "writer stopped" pipeline error: report it first.
    written??;
    run?;
    if opts.flush {
        let name = target.to_path_buf();
        tokio::task::spawn_blocking(move || file.sync_data().map_err(|e| EngineError::io(&name, e)))
            .await
            .map_err(|e| EngineError::Pipeline(format!("flush task: {e}")))??;
    }
    let blocks_total = header_block_count(volume_len, bs);
    let blocks_written = counters.blocks.load(Ordering::Relaxed);
    // Skipped zero blocks count as done for progress.
    let done = progress.done();
    if done < volume_len {
        progress.add(volume_len - done);
    }
    Ok(RestoreStats {
        logical_bytes: volume_len,
        written_bytes: counters.written.load(Ordering::Relaxed),
        fetched_bytes: counters.fetched.load(Ordering::Relaxed),
        blocks_written,
        blocks_zero: blocks_total - blocks_written,
    })
}

/// Decoded data of one job: runs of volume-contiguous blocks, each one write.
enum Write {
    Runs(Vec<(u64, Run)>),
    Zeros { offset: u64, len: u64 },
}

/// Raw (uncompressed) blocks that are adjacent in the pack and on the volume are written
/// straight from the fetched buffer; compressed ones are decoded into a pooled buffer shared
/// by the job's runs.
enum Run {
    Shared(Bytes),
    Owned(Arc<PooledBuf>, std::ops::Range<usize>),
}

impl Run {
    fn bytes(&self) -> &[u8] {
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

fn decode_runs(
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

fn write_loop(
    file: &File,
    name: &str,
    rx: crossbeam_channel::Receiver<Write>,
    progress: &Progress,
    c: &RestoreCounters,
) -> Result<()> {
    let io = |e| EngineError::Io { path: name.to_string(), source: e };
    let zeros = vec![0u8; 1024 * 1024];
    while let Ok(w) = rx.recv() {
        match w {
            Write::Runs(runs) => {
                for (off, run) in runs {
                    let buf = run.bytes();
                    file.write_all_at(buf, off).map_err(io)?;
                    c.written.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    progress.add(buf.len() as u64);
                }
            }
            Write::Zeros { offset, len } => {
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(zeros.len() as u64) as usize;
                    file.write_all_at(&zeros[..n], offset + done).map_err(io)?;
                    done += n as u64;
                }
                c.written.fetch_add(len, Ordering::Relaxed);
                progress.add(len);
            }
        }
    }
    Ok(())
}

fn header_block_count(volume_len: u64, bs: u64) -> u64 {
    volume_len.div_ceil(bs.max(1))
}

#[derive(Default)]
struct RestoreCounters {
    written: AtomicU64,
    fetched: AtomicU64,
    blocks: AtomicU64,
}

pub(crate) async fn run_verify(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    backup_id: &str,
) -> Result<VerifyReport> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    validate_id("backup", backup_id)?;
    let lease = ReadLease::take(store, &keys, backup_id).await?;
    let r = verify_inner(store, config, &keys, project, backup_id).await;
    lease.release().await;
    r
}

async fn verify_inner(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    project: &str,
    backup_id: &str,
) -> Result<VerifyReport> {
    let reader = ManifestReader::open(store, &keys.manifest(backup_id), project, || {
        EngineError::BackupNotFound(backup_id.to_string())
    })
    .await?;
    let total = reader.header().block_count();
    let state = Arc::new(std::sync::Mutex::new(VerifyReport::default()));
    let s = Arc::clone(&state);
    let process =
        Arc::new(move |job: Job, data: std::result::Result<Bytes, object_store::Error>| -> Result<()> {
            let Job::Fetch { start, blocks, .. } = job else {
                return Ok(());
            };
            let mut ok = 0u64;
            let mut bad = Vec::new();
            match data {
                Err(_) => bad.extend(blocks.iter().map(|(o, _)| *o)),
                Ok(data) => {
                    let mut dec = zstd::bulk::Decompressor::new()
                        .map_err(|e| EngineError::Pipeline(format!("zstd: {e}")))?;
                    let mut out = Vec::new();
                    for (off, r) in &blocks {
                        let s = (r.offset - start) as usize;
                        let good = data
                            .get(s..s + r.stored_len as usize)
                            .map(|p| decode_block(&mut dec, r, p, &mut out, Check::Full).is_ok())
                            .unwrap_or(false);
                        if good {
                            ok += 1;
                        } else {
                            bad.push(*off);
                        }
                    }
                }
            }
            let mut st = s.lock().map_err(|_| EngineError::Pipeline("verify state poisoned".into()))?;
            st.ok_blocks += ok;
            st.bad_blocks += bad.len() as u64;
            for o in bad {
                if st.first_bad_offsets.len() < 64 {
                    st.first_bad_offsets.push(o);
                }
            }
            Ok(())
        });
    run_jobs(store, keys, config, reader, false, process).await?;
    let mut report = state.lock().map_err(|_| EngineError::Pipeline("verify state poisoned".into()))?.clone();
    report.first_bad_offsets.sort_unstable();
    report.zero_blocks = total.saturating_sub(report.ok_blocks + report.bad_blocks);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use crate::format::reencode_as_version_1;
    use crate::storeio::ManifestReader;
    use crate::{BackupRequest, Engine, EngineConfig, EngineError, RestoreOptions};

    use super::*;

    const P: &str = "p1";

    fn image(len: usize) -> Vec<u8> {
        // Random, zero and repetitive regions, and a length that is not a multiple of 64 KiB.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..len)
            .map(|i| match (i / 65536) % 3 {
                0 => {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
                1 => 0,
                _ => b"backup "[i % 7],
            })
            .collect()
    }

    async fn checks(store: &Arc<dyn ObjectStore>, id: &str) -> (usize, usize) {
        let keys = ProjectKeys::new("vbs", P).expect("keys");
        let mut r =
            ManifestReader::open(store, &keys.manifest(id), P, || EngineError::BackupNotFound(id.into()))
                .await
                .expect("manifest");
        let (mut with, mut without) = (0, 0);
        while let Some(chunk) = r.next_chunk().await.expect("chunk") {
            for b in chunk.iter().flatten() {
                if b.check.is_some() { with += 1 } else { without += 1 }
            }
        }
        (with, without)
    }

    /// Backups written before manifests carried checksums (format version 1) still restore
    /// (checked by BLAKE3), and an incremental on top of one gets a checksum for every block.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_1_backups_restore_and_serve_as_parents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let e = Engine::new(Arc::clone(&store), EngineConfig::default()).expect("engine");
        let mut img = image(1_000_003);
        let src = dir.path().join("disk");
        std::fs::write(&src, &img).expect("write");
        let req = |id: &'static str, parent| BackupRequest {
            project: P,
            backup_id: id,
            source: &src,
            parent,
            progress: None,
        };
        e.backup(req("b1", None)).await.expect("backup");
        let (with, without) = checks(&store, "b1").await;
        assert!(with > 0 && without == 0, "{with} {without}");

        let keys = ProjectKeys::new("vbs", P).expect("keys");
        let v2 = store.get(&keys.manifest("b1")).await.expect("get").bytes().await.expect("bytes");
        let v1 = reencode_as_version_1(&v2).expect("re-encode");
        store.put(&keys.manifest("b1"), PutPayload::from(v1)).await.expect("put");
        assert_eq!(checks(&store, "b1").await, (0, with));

        let target = dir.path().join("target");
        std::fs::write(&target, vec![0u8; img.len()]).expect("target");
        e.restore(P, "b1", &target, RestoreOptions::default()).await.expect("restore v1");
        assert!(std::fs::read(&target).expect("read") == img);

        img[10_000] ^= 1;
        std::fs::write(&src, &img).expect("write");
        e.backup(req("b2", Some("b1"))).await.expect("incremental");
        assert_eq!(checks(&store, "b2").await, (with, 0));
        std::fs::write(&target, vec![0u8; img.len()]).expect("target");
        e.restore(P, "b2", &target, RestoreOptions::default()).await.expect("restore v2");
        assert!(std::fs::read(&target).expect("read") == img);
        assert!(e.verify(P, "b2").await.expect("verify").is_ok());
    }
}
