//! Fetch stage: reads each planned job's byte range of its pack, `fetch_concurrency` reads at
//! a time, so reads stay in flight while every decoder is busy. With
//! [`EngineConfig::local_root`] set, a local store's packs are read with positional reads into
//! pooled buffers instead of through the `ObjectStore` API (which zero-fills a fresh buffer
//! per read).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::WRITE_QUEUE;
use super::plan::Job;
use super::pool::BufferPool;
use crate::error::{EngineError, Result};
use crate::keys::ProjectKeys;
use crate::types::EngineConfig;

/// A job's bytes, or the store's error for them.
pub(super) type FetchResult = std::result::Result<Bytes, object_store::Error>;

/// Starts the fetch task: jobs from `rx` (the planner), fetched jobs to `tx` in completion
/// order. A read error travels with its job (verify counts it); a planner error is passed on
/// and ends the stage.
pub(super) fn spawn_fetcher(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    config: &EngineConfig,
    threads: usize,
    rx: mpsc::Receiver<Result<Job>>,
    tx: mpsc::Sender<Result<(Job, FetchResult)>>,
) -> JoinHandle<()> {
    let jobs =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|j| (j, rx)) }).boxed();
    let concurrency = config.fetch_concurrency.max(1);
    let source = PackSource {
        store: Arc::clone(store),
        keys: keys.clone(),
        local_root: config.local_root.clone(),
        // Fetched buffers live until decoded (raw blocks until written): fetches in flight,
        // the decode queue, the decoders and the write queue.
        pool: BufferPool::new(config.max_fetch_size, concurrency + 3 * threads + WRITE_QUEUE),
    };
    tokio::spawn(async move {
        let mut fetched = jobs.map(|job| source.clone().fetch(job)).buffer_unordered(concurrency);
        while let Some(r) = fetched.next().await {
            let stop = r.is_err();
            if tx.send(r).await.is_err() || stop {
                break;
            }
        }
    })
}

/// Where the fetch stage reads packs from.
#[derive(Clone)]
struct PackSource {
    store: Arc<dyn ObjectStore>,
    keys: ProjectKeys,
    local_root: Option<PathBuf>,
    pool: Arc<BufferPool>,
}

impl PackSource {
    async fn fetch(self, job: Result<Job>) -> Result<(Job, FetchResult)> {
        let job = job?;
        let data = match (&job, self.local_root) {
            (Job::Fetch { pack, start, end, .. }, Some(root)) => {
                let path = root.join(self.keys.pack(*pack).as_ref());
                let (start, end) = (*start, *end);
                let pool = self.pool;
                tokio::task::spawn_blocking(move || read_local(&path, start, end, &pool))
                    .await
                    .map_err(|e| EngineError::Pipeline(format!("read task: {e}")))?
            }
            (Job::Fetch { pack, start, end, .. }, None) => {
                self.store.get_range(&self.keys.pack(*pack), *start as u64..*end as u64).await
            }
            (Job::Zeros { .. }, _) => Ok(Bytes::new()),
        };
        Ok((job, data))
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
