//! Restore and verify. Both stream a backup's manifest through the same pipeline of stages,
//! one submodule each:
//!
//! ```text
//!  plan (task) ──jobs──▶ fetch (task, `fetch_concurrency` range reads) ──▶ decode (`threads`
//!  threads running the operation's `process`) ──▶ write (one thread; restore only)
//! ```
//!
//! * [`plan`](mod@plan) turns runs of blocks that sit close together in one pack into range reads;
//! * [`fetch`] reads them from the store, or with positional reads from a local one;
//! * [`decode`] decompresses and checks the blocks (restore), or only checks them
//!   ([`verify`]);
//! * [`write`](mod@write) writes the decoded runs to the target.
//!
//! Every queue between stages is bounded, so memory does not grow with the volume; [`pool`]
//! reuses the large read and decode buffers rather than allocating them per job.

mod decode;
mod fetch;
mod plan;
mod pool;
mod verify;
mod write;

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use object_store::ObjectStore;
use tokio::sync::mpsc;

use self::decode::{Write, decode_runs, run_decoders};
use self::fetch::{FetchResult, spawn_fetcher};
use self::plan::{Job, plan};
use self::pool::BufferPool;
pub(crate) use self::verify::run_verify;
use self::write::{RestoreCounters, spawn_writers};
use crate::error::{EngineError, Result};
use crate::format::Check;
use crate::keys::{ProjectKeys, validate_id};
use crate::storeio::{ManifestReader, ReadLease};
use crate::types::{EngineConfig, Progress, RestoreOptions, RestoreStats};
use crate::volume::VolumeWriter;

/// Decoded jobs waiting for the restore's writer thread.
const WRITE_QUEUE: usize = 4;

/// Streams the jobs of `reader`'s manifest through fetch and `process` (on the decoder
/// threads). A fetch error is handed to `process` rather than failing the run (verify counts
/// it).
async fn run_jobs<F>(
    store: &Arc<dyn ObjectStore>,
    keys: &ProjectKeys,
    config: &EngineConfig,
    reader: ManifestReader,
    write_zeros: bool,
    process: Arc<F>,
) -> Result<()>
where
    F: Fn(Job, FetchResult) -> Result<()> + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Job>>(64);
    let max_fetch = u32::try_from(config.max_fetch_size).unwrap_or(u32::MAX);
    let _planner = AbortOnDrop(tokio::spawn(plan(reader, max_fetch, write_zeros, tx)));
    let threads = config.worker_threads();
    let (ftx, frx) = mpsc::channel::<Result<(Job, FetchResult)>>(threads);
    let _fetcher = AbortOnDrop(spawn_fetcher(store, keys, config, threads, rx, ftx));
    run_decoders(threads, frx, process).await
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a restore writes.
pub(crate) enum Target {
    /// An image file or block device, opened for writing.
    Path(PathBuf),
    Writer(Arc<dyn VolumeWriter>),
}

impl From<&std::path::Path> for Target {
    fn from(p: &std::path::Path) -> Self {
        Self::Path(p.to_path_buf())
    }
}

impl From<Arc<dyn VolumeWriter>> for Target {
    fn from(w: Arc<dyn VolumeWriter>) -> Self {
        Self::Writer(w)
    }
}

pub(crate) async fn run_restore(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    project: &str,
    backup_id: &str,
    target: Target,
    opts: RestoreOptions,
) -> Result<RestoreStats> {
    let keys = ProjectKeys::new(&config.root_prefix, project)?;
    validate_id("backup", backup_id)?;
    let lease = ReadLease::take(store, &keys, backup_id).await?;
    let r = restore_inner(store, config, &keys, project, backup_id, target, opts).await;
    lease.release().await;
    r
}

async fn restore_inner(
    store: &Arc<dyn ObjectStore>,
    config: &EngineConfig,
    keys: &ProjectKeys,
    project: &str,
    backup_id: &str,
    target: Target,
    opts: RestoreOptions,
) -> Result<RestoreStats> {
    let reader = ManifestReader::open(store, &keys.manifest(backup_id), project, || {
        EngineError::BackupNotFound(backup_id.to_string())
    })
    .await?;
    let (file, name) = open_target(target, reader.header().volume_len).await?;
    let progress = opts.progress.clone().unwrap_or_default();
    let volume_len = reader.header().volume_len;
    let bs = reader.header().block_size as u64;
    progress.start(volume_len);

    let counters = Arc::new(RestoreCounters::default());
    let (wtx, wrx) = crossbeam_channel::bounded::<Write>(WRITE_QUEUE.max(file.write_concurrency()));
    let writers = spawn_writers(&file, &name, &wrx, &progress, &counters)?;
    drop(wrx);
    let check = if opts.verify_blocks { Check::Fast } else { Check::None };
    let process = restore_process(config, check, Arc::clone(&counters), wtx);
    let run = run_jobs(store, keys, config, reader, opts.write_zeros, process).await;
    // `process` (and with it the last sender) is gone once run_jobs returns: the writers drain
    // and end.
    let written = tokio::task::spawn_blocking(move || writers.join())
        .await
        .map_err(|e| EngineError::Pipeline(format!("writer join: {e}")))?;
    // A writer error is the root cause of a "writer stopped" pipeline error: report it first.
    written?;
    run?;
    if opts.flush {
        tokio::task::spawn_blocking(move || {
            file.flush().map_err(|source| EngineError::Io { path: name, source })
        })
        .await
        .map_err(|e| EngineError::Pipeline(format!("flush task: {e}")))??;
    }
    Ok(restore_stats(volume_len, bs, &counters, &progress))
}

/// Opens the restore target for writing, with its name for errors; it must hold at least
/// `volume_len` bytes.
async fn open_target(target: Target, volume_len: u64) -> Result<(Arc<dyn VolumeWriter>, String)> {
    tokio::task::spawn_blocking(move || -> Result<(Arc<dyn VolumeWriter>, String)> {
        let (writer, name): (Arc<dyn VolumeWriter>, String) = match target {
            Target::Path(path) => {
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| EngineError::io(&path, e))?;
                (Arc::new(f), path.display().to_string())
            }
            Target::Writer(w) => (w, "restore target".to_string()),
        };
        let size = writer.size().map_err(|source| EngineError::Io { path: name.clone(), source })?;
        if size < volume_len {
            return Err(EngineError::TargetTooSmall { target: size, volume: volume_len });
        }
        Ok((writer, name))
    })
    .await
    .map_err(|e| EngineError::Pipeline(format!("open task: {e}")))?
}

/// Restore's work on one fetched job, run on the decoder threads: decode and check its
/// blocks, then queue the writes.
fn restore_process(
    config: &EngineConfig,
    check: Check,
    c: Arc<RestoreCounters>,
    wtx: crossbeam_channel::Sender<Write>,
) -> Arc<impl Fn(Job, FetchResult) -> Result<()> + Send + Sync + 'static> {
    let decode_pool = BufferPool::new(config.max_fetch_size, 2 * config.worker_threads() + WRITE_QUEUE);
    Arc::new(move |job: Job, data: FetchResult| -> Result<()> {
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
    })
}

/// The figures of a finished restore.
fn restore_stats(volume_len: u64, bs: u64, counters: &RestoreCounters, progress: &Progress) -> RestoreStats {
    let blocks_total = header_block_count(volume_len, bs);
    let blocks_written = counters.blocks.load(Ordering::Relaxed);
    // Skipped zero blocks count as done for progress.
    let done = progress.done();
    if done < volume_len {
        progress.add(volume_len - done);
    }
    RestoreStats {
        logical_bytes: volume_len,
        written_bytes: counters.written.load(Ordering::Relaxed),
        fetched_bytes: counters.fetched.load(Ordering::Relaxed),
        blocks_written,
        blocks_zero: blocks_total - blocks_written,
    }
}

fn header_block_count(volume_len: u64, bs: u64) -> u64 {
    volume_len.div_ceil(bs.max(1))
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

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
            source: (&src).into(),
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
