//! Plan stage: streams the manifest and turns it into jobs, each one range read of a pack
//! (or, when zeros are written explicitly, one run of zero blocks).
//!
//! A full backup's blocks lie in pack order, so its reads are whole packs. An incremental's
//! blocks interleave old and new packs; the planner keeps a few reads open per pack and lets
//! a read span small gaps (blocks of other versions) rather than issue a request per block.

use std::collections::VecDeque;

use tokio::sync::mpsc;

use crate::error::Result;
use crate::format::{BlockRef, PackId};
use crate::storeio::ManifestReader;

/// Largest gap (bytes of other blocks) a range read may span to avoid a second request.
const MAX_GAP: u32 = 256 * 1024;
/// Range reads kept open by the planner at once (one per pack being interleaved).
const OPEN_JOBS: usize = 8;
/// Zero bytes written per job when zeros are written explicitly.
const ZERO_RUN: u64 = 8 * 1024 * 1024;

#[derive(Debug)]
pub(super) enum Job {
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

/// Sends the jobs of `reader`'s manifest to `tx`; a manifest error is sent as the last message.
pub(super) async fn plan(
    mut reader: ManifestReader,
    max_fetch: u32,
    write_zeros: bool,
    tx: mpsc::Sender<Result<Job>>,
) {
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
