//! Backups from a [`VolumeReader`] that knows its extents (allocated, or changed since the
//! parent's snapshot) and restores into a [`VolumeWriter`] that is not a file.
#![allow(clippy::unwrap_used)]

mod common;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use backup_engine::{BackupRequest, BackupStats, Engine, EngineError, Extents, RestoreOptions, Source};
use backup_engine::{VolumeReader, VolumeWriter};
use common::*;

const P: &str = "projA";

/// The extents a test volume answers with: for a backup with this parent (`None`: the
/// allocated extents, for any backup).
type Known<'a> = (Option<&'a str>, Vec<(u64, u64)>);

struct KnownOwned {
    parent: Option<String>,
    ranges: Vec<(u64, u64)>,
}

/// An in-memory volume: reads are counted, and its extents are what the test says.
struct MemVolume {
    data: Mutex<Vec<u8>>,
    /// No extents at all, or [`Known`].
    extents: Option<KnownOwned>,
    read: AtomicU64,
    /// [`VolumeReader::read_concurrency`].
    concurrency: usize,
    /// A read at this offset fails.
    fail_at: Option<u64>,
}

impl MemVolume {
    fn new(data: Vec<u8>, extents: Option<Known<'_>>) -> Arc<Self> {
        Arc::new(Self {
            data: Mutex::new(data),
            extents: extents.map(|(p, ranges)| KnownOwned { parent: p.map(str::to_string), ranges }),
            read: AtomicU64::new(0),
            concurrency: 1,
            fail_at: None,
        })
    }

    fn parallel(data: Vec<u8>, concurrency: usize, fail_at: Option<u64>) -> Arc<Self> {
        Arc::new(Self { concurrency, fail_at, ..Arc::into_inner(Self::new(data, None)).unwrap() })
    }

    fn bytes(&self) -> Vec<u8> {
        self.data.lock().unwrap().clone()
    }
}

impl VolumeReader for MemVolume {
    fn size(&self) -> io::Result<u64> {
        Ok(self.data.lock().unwrap().len() as u64)
    }

    fn read_concurrency(&self) -> usize {
        self.concurrency
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self.fail_at.is_some_and(|at| (offset..offset + buf.len() as u64).contains(&at)) {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        let data = self.data.lock().unwrap();
        let at = usize::try_from(offset).unwrap();
        let src =
            data.get(at..at + buf.len()).ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        self.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn extents(&self, parent: Option<&str>) -> io::Result<Option<Extents>> {
        let Some(KnownOwned { parent: base, ranges }) = &self.extents else { return Ok(None) };
        // Like a driver: changes since the parent's snapshot only for that parent.
        let since_parent = base.is_some() && base.as_deref() == parent;
        if base.is_some() && !since_parent {
            return Ok(None);
        }
        Ok(Some(Extents { since_parent, ranges: Box::new(ranges.clone().into_iter().map(Ok)) }))
    }
}

impl VolumeWriter for MemVolume {
    fn size(&self) -> io::Result<u64> {
        Ok(self.data.lock().unwrap().len() as u64)
    }

    fn write_concurrency(&self) -> usize {
        self.concurrency
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let at = usize::try_from(offset).unwrap();
        self.data.lock().unwrap()[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

async fn backup(
    e: &Engine,
    id: &str,
    v: &Arc<MemVolume>,
    parent: Option<&str>,
) -> Result<BackupStats, EngineError> {
    let source = Source::Reader(Arc::clone(v) as Arc<dyn VolumeReader>);
    e.backup(BackupRequest { project: P, backup_id: id, source, parent, progress: None }).await
}

async fn restored(e: &Engine, id: &str, len: usize) -> Vec<u8> {
    let target = MemVolume::new(vec![0xAA; len], None);
    let opts = RestoreOptions { write_zeros: true, ..RestoreOptions::default() };
    e.restore_to(P, id, Arc::clone(&target) as Arc<dyn VolumeWriter>, opts).await.unwrap();
    target.bytes()
}

/// Writes `len` bytes of noise at `offset`.
fn scribble(img: &mut [u8], offset: usize, len: usize, seed: u64) {
    Rng::new(seed).fill(&mut img[offset..offset + len]);
}

#[tokio::test]
async fn only_allocated_extents_are_read_and_the_rest_is_zeros() {
    let env = Env::new();
    let e = env.engine();
    let len = 64 * BS + 100;
    let mut img = vec![0u8; len];
    // Two allocated extents, the second crossing block boundaries and ending in the short
    // last block.
    scribble(&mut img, 3 * BS + 10, 100, 1);
    scribble(&mut img, 40 * BS - 7, len - (40 * BS - 7), 2);
    let extents = vec![(3 * BS as u64, BS as u64), ((40 * BS - 7) as u64, (len - (40 * BS - 7)) as u64)];
    let v = MemVolume::new(img.clone(), Some((None, extents)));
    let st = backup(&e, "full", &v, None).await.unwrap();
    // Blocks 3 and 39..=64 (the last one short).
    assert_eq!(st.bytes_read, (BS + 25 * BS + 100) as u64);
    assert_eq!(v.read.load(Ordering::Relaxed), st.bytes_read);
    assert_eq!(st.blocks_total, 65);
    assert_eq!(st.blocks_zero, 65 - 27);
    assert_eq!(restored(&e, "full", len).await, img);
    assert!(e.verify(P, "full").await.unwrap().is_ok());
}

#[tokio::test]
async fn an_incremental_reads_only_what_changed_since_the_parent() {
    let env = Env::new();
    let e = env.engine();
    let len = 256 * BS;
    let v1 = make_image(len, 7);
    let full = backup(&e, "b1", &MemVolume::new(v1.clone(), None), None).await.unwrap();
    assert_eq!(full.bytes_read, len as u64);

    // Scattered writes smaller than a block, one across a boundary, one zeroing a block.
    let mut v2 = v1.clone();
    let writes = [(5 * BS + 100, 50), (77 * BS - 20, 40), (200 * BS, BS)];
    for (i, (off, n)) in writes.iter().enumerate() {
        scribble(&mut v2, *off, *n, 10 + i as u64);
    }
    v2[130 * BS..131 * BS].fill(0);
    let changed: Vec<(u64, u64)> = writes
        .iter()
        .map(|&(o, n)| (o as u64, n as u64))
        .chain([(130 * BS as u64, BS as u64)])
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let v = MemVolume::new(v2.clone(), Some((Some("b1"), changed)));
    let st = backup(&e, "b2", &v, Some("b1")).await.unwrap();
    // Blocks 5, 76, 77, 130, 200: read; every other block is the parent's, unread.
    assert_eq!(st.bytes_read, 5 * BS as u64);
    assert!(st.blocks_new <= 4, "{st:?}");
    assert_eq!(st.blocks_total, 256);
    assert_eq!(restored(&e, "b2", len).await, v2);
    assert!(e.verify(P, "b2").await.unwrap().is_ok());

    // Extents meant for another parent are not trusted: a full read.
    let st = backup(&e, "b3", &v, None).await.unwrap();
    assert_eq!(st.bytes_read, len as u64);
    assert_eq!(restored(&e, "b3", len).await, v2);
}

#[tokio::test]
async fn a_grown_volume_reads_the_parent_s_short_last_block_again() {
    let env = Env::new();
    let e = env.engine();
    let v1 = make_image(10 * BS + 300, 3);
    backup(&e, "b1", &MemVolume::new(v1.clone(), None), None).await.unwrap();
    // Grown by 2.5 blocks of zeros, written nowhere: no extent at all.
    let mut v2 = v1.clone();
    v2.resize(12 * BS + 2048, 0);
    let v = MemVolume::new(v2.clone(), Some((Some("b1"), Vec::new())));
    let st = backup(&e, "b2", &v, Some("b1")).await.unwrap();
    assert_eq!(st.bytes_read, BS as u64, "only block 10, the parent's short block");
    assert_eq!(restored(&e, "b2", v2.len()).await, v2);
}

#[tokio::test]
async fn extents_out_of_order_fail_the_backup() {
    let env = Env::new();
    let e = env.engine();
    let v = MemVolume::new(vec![1u8; 32 * BS], Some((None, vec![(20 * BS as u64, 10), (2 * BS as u64, 10)])));
    let err = backup(&e, "b", &v, None).await.unwrap_err();
    assert!(err.to_string().contains("out of order"), "{err}");
    assert!(matches!(e.backup_info(P, "b").await, Err(EngineError::BackupNotFound(_))));
}

#[tokio::test]
async fn a_writer_too_small_for_the_volume_is_refused() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(8 * BS, 5);
    backup(&e, "b", &MemVolume::new(img, None), None).await.unwrap();
    let small = MemVolume::new(vec![0; 8 * BS - 1], None);
    assert!(matches!(
        e.restore_to(P, "b", small as Arc<dyn VolumeWriter>, RestoreOptions::default()).await,
        Err(EngineError::TargetTooSmall { .. })
    ));
}

#[tokio::test]
async fn parallel_reads_make_the_same_backup_and_a_failed_read_fails_it() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(700 * BS + 123, 9);
    let serial = backup(&e, "serial", &MemVolume::new(img.clone(), None), None).await.unwrap();
    let v = MemVolume::parallel(img.clone(), 6, None);
    let parallel = backup(&e, "parallel", &v, None).await.unwrap();
    assert_eq!(parallel.bytes_read, img.len() as u64);
    assert_eq!(
        (parallel.blocks_total, parallel.blocks_zero, parallel.blocks_new + parallel.blocks_reused),
        (serial.blocks_total, serial.blocks_zero, serial.blocks_new + serial.blocks_reused)
    );
    assert_eq!(restored(&e, "parallel", img.len()).await, img);
    // Restored by five writer threads, zeros written too (the target holds old data).
    let target = MemVolume::parallel(vec![0xAA; img.len()], 5, None);
    let opts = RestoreOptions { write_zeros: true, ..RestoreOptions::default() };
    let st = e.restore_to(P, "serial", Arc::clone(&target) as Arc<dyn VolumeWriter>, opts).await.unwrap();
    assert_eq!(st.written_bytes, img.len() as u64);
    assert_eq!(target.bytes(), img);

    let failing = MemVolume::parallel(img.clone(), 6, Some(500 * BS as u64));
    let err = backup(&e, "failing", &failing, None).await.unwrap_err();
    assert!(
        matches!(&err, EngineError::Io { source, .. } if source.kind() == io::ErrorKind::TimedOut),
        "{err}"
    );
    assert!(matches!(e.backup_info(P, "failing").await, Err(EngineError::BackupNotFound(_))));
}
