//! Write stage: one thread does every positional write of a restore. Concurrent pwrite()s to
//! one file serialise on the inode lock in the kernel (and spin there, burning the CPU that
//! decoding needs), so decoding is parallel and writing is not — unless the target serves
//! writes in parallel ([`VolumeWriter::write_concurrency`]: a networked backend whose every
//! write waits for a round trip), which gets that many writer threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::decode::Write;
use crate::error::{EngineError, Result};
use crate::types::Progress;
use crate::volume::VolumeWriter;

/// What a restore fetched and wrote, shared by its decoders and its writer.
#[derive(Default)]
pub(super) struct RestoreCounters {
    pub(super) written: AtomicU64,
    pub(super) fetched: AtomicU64,
    pub(super) blocks: AtomicU64,
}

/// The writer threads of a restore.
pub(super) struct Writers(Vec<std::thread::JoinHandle<Result<()>>>);

impl Writers {
    /// Waits for every writer; the first error, if any.
    pub(super) fn join(self) -> Result<()> {
        let mut result = Ok(());
        for h in self.0 {
            let r =
                h.join().map_err(|_| EngineError::Pipeline("restore writer panicked".into())).and_then(|r| r);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Starts the writer threads; each ends when every sender of `rx` is gone or a write fails.
pub(super) fn spawn_writers(
    file: &Arc<dyn VolumeWriter>,
    name: &str,
    rx: &crossbeam_channel::Receiver<Write>,
    progress: &Progress,
    counters: &Arc<RestoreCounters>,
) -> Result<Writers> {
    let mut handles = Vec::new();
    for i in 0..file.write_concurrency().clamp(1, 64) {
        let (file, name, rx, progress, counters) =
            (Arc::clone(file), name.to_string(), rx.clone(), progress.clone(), Arc::clone(counters));
        let spawned = std::thread::Builder::new()
            .name(format!("vbs-restore-write-{i}"))
            .spawn(move || write_loop(&file, &name, rx, &progress, &counters))
            .map_err(|e| EngineError::Pipeline(format!("spawn writer: {e}")))?;
        handles.push(spawned);
    }
    Ok(Writers(handles))
}

fn write_loop(
    file: &Arc<dyn VolumeWriter>,
    name: &str,
    rx: crossbeam_channel::Receiver<Write>,
    progress: &Progress,
    c: &RestoreCounters,
) -> Result<()> {
    let io = |e| EngineError::Io { path: name.to_string(), source: e };
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
                file.write_zeroes(offset, len).map_err(io)?;
                c.written.fetch_add(len, Ordering::Relaxed);
                progress.add(len);
            }
        }
    }
    Ok(())
}
