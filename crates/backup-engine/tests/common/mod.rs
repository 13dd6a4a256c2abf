//! Test helpers: deterministic images, hashing, engines over temp dirs, and store wrappers that
//! inject failures or hold a backup in flight.
#![allow(dead_code, clippy::unwrap_used)]

use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use backup_engine::{Engine, EngineConfig};
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as OsPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use sha2::{Digest, Sha256};

pub const BS: usize = 4096;

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An image mixing random, zero, text-like and duplicated regions, of any length.
pub fn make_image(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut img = vec![0u8; len];
    let words = ["volume ", "backup ", "block ", "the ", "of ", "snapshot ", "restore\n", "data ", "42 "];
    let mut pos = 0;
    let mut region = 0;
    while pos < len {
        let n = ((rng.below(24) as usize + 1) * 1777).min(len - pos);
        let r = &mut img[pos..pos + n];
        match region % 4 {
            0 => rng.fill(r),
            1 => {} // zeros
            2 => {
                let mut i = 0;
                while i < r.len() {
                    let w = words[rng.below(words.len() as u64) as usize].as_bytes();
                    let k = w.len().min(r.len() - i);
                    r[i..i + k].copy_from_slice(&w[..k]);
                    i += k;
                }
            }
            _ => {
                // Duplicate an earlier block-aligned extent at a block-aligned place.
                if pos >= 2 * BS {
                    let src = (rng.below((pos / BS) as u64) as usize) * BS;
                    let dst = pos.div_ceil(BS) * BS;
                    let k = (n.min(src.abs_diff(dst))).min(len.saturating_sub(dst));
                    if k > 0 && dst + k <= len {
                        let tmp = img[src..src + k].to_vec();
                        img[dst..dst + k].copy_from_slice(&tmp);
                    }
                }
            }
        }
        pos += n;
        region += 1;
    }
    img
}

pub fn write_file(path: &Path, data: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(data).unwrap();
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn sha256_file_prefix(path: &Path, len: usize) -> [u8; 32] {
    let data = std::fs::read(path).unwrap();
    sha256(&data[..len])
}

pub fn test_config() -> EngineConfig {
    EngineConfig {
        block_size: BS,
        pack_target_size: 64 * 1024,
        max_fetch_size: 32 * 1024,
        threads: 2,
        dedup_cache_entries: 1024,
        ..EngineConfig::default()
    }
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub store_dir: PathBuf,
    pub local: Arc<LocalFileSystem>,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        std::fs::create_dir_all(&store_dir).unwrap();
        let local = Arc::new(LocalFileSystem::new_with_prefix(&store_dir).unwrap());
        Self { dir, store_dir, local }
    }

    pub fn engine(&self) -> Engine {
        Engine::new(self.local.clone(), test_config()).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `data` as image `name` and returns its path.
    pub fn image(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        write_file(&p, data);
        p
    }

    /// A fresh zero-filled (sparse) target of `len` bytes.
    pub fn target(&self, name: &str, len: usize) -> PathBuf {
        let p = self.path(name);
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(len as u64).unwrap();
        p
    }

    /// All files under the store directory with their sizes.
    pub fn files_under(&self, rel: &str) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        let root = self.store_dir.join(rel);
        walk(&root, &mut out);
        out.sort();
        out
    }
}

fn walk(p: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(rd) = std::fs::read_dir(p) else { return };
    for e in rd.flatten() {
        let path = e.path();
        let md = e.metadata().unwrap();
        if md.is_dir() {
            walk(&path, out);
        } else {
            out.push((path, md.len()));
        }
    }
}

/// Wraps a store: can fail pack uploads after N, fail deletes of pending markers and packs (a
/// process that dies cleans nothing up: its marker and packs stay), and hold the N-th pack
/// upload until released.
#[derive(Debug)]
pub struct TestStore {
    pub inner: Arc<dyn ObjectStore>,
    pub pack_puts: AtomicUsize,
    /// Pack uploads that completed (uploads run in parallel: one may start before an earlier
    /// one finished).
    pub pack_puts_done: AtomicUsize,
    pub fail_packs_after: AtomicUsize,
    pub dies_before_cleanup: AtomicBool,
    pub hold_pack: AtomicUsize,
    pub held: tokio::sync::Notify,
    pub release: tokio::sync::Semaphore,
}

impl TestStore {
    /// Waits (up to 10 s) until `n` pack uploads have completed.
    pub async fn wait_packs_done(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.pack_puts_done.load(Ordering::SeqCst) < n {
            assert!(tokio::time::Instant::now() < deadline, "{n} pack uploads did not complete");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            pack_puts: AtomicUsize::new(0),
            pack_puts_done: AtomicUsize::new(0),
            fail_packs_after: AtomicUsize::new(usize::MAX),
            dies_before_cleanup: AtomicBool::new(false),
            hold_pack: AtomicUsize::new(usize::MAX),
            held: tokio::sync::Notify::new(),
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

impl fmt::Display for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TestStore({})", self.inner)
    }
}

fn injected(path: &OsPath) -> object_store::Error {
    object_store::Error::Generic {
        store: "TestStore",
        source: format!("injected failure writing {path}").into(),
    }
}

#[async_trait]
impl ObjectStore for TestStore {
    async fn put_opts(
        &self,
        location: &OsPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let is_pack = location.as_ref().contains("/packs/");
        if is_pack {
            let n = self.pack_puts.fetch_add(1, Ordering::SeqCst);
            if n >= self.fail_packs_after.load(Ordering::SeqCst) {
                return Err(injected(location));
            }
            if n == self.hold_pack.load(Ordering::SeqCst) {
                self.held.notify_one();
                self.release.acquire().await.unwrap().forget();
            }
        }
        let put = self.inner.put_opts(location, payload, opts).await;
        if is_pack && put.is_ok() {
            self.pack_puts_done.fetch_add(1, Ordering::SeqCst);
        }
        put
    }

    async fn put_multipart_opts(
        &self,
        location: &OsPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &OsPath, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &OsPath,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<OsPath>>,
    ) -> BoxStream<'static, object_store::Result<OsPath>> {
        if self.dies_before_cleanup.load(Ordering::SeqCst) {
            use futures_util::StreamExt;
            let inner = self.inner.clone();
            return locations
                .then(move |l| {
                    let inner = inner.clone();
                    async move {
                        let l = l?;
                        if l.as_ref().contains("/pending/") || l.as_ref().contains("/packs/") {
                            return Err(injected(&l));
                        }
                        use object_store::ObjectStoreExt;
                        inner.delete(&l).await.map(|_| l)
                    }
                })
                .boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&OsPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&OsPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &OsPath, to: &OsPath, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &OsPath,
        to: &OsPath,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}
