//! Against the single-node test cluster of `scripts/ceph.sh` (started unless it answers).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ceph_rbd::{Cluster, ConnectOptions, Error, Image, Pool};

const MIB: u64 = 1 << 20;

/// The cluster's ceph.conf, from `scripts/ceph.sh up` (idempotent; once per test process).
fn conf() -> &'static PathBuf {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| {
        // The crate directory at run time (nextest and cargo set it), not the one this binary
        // was built in: checkouts sharing a target directory share unchanged test binaries.
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
        let script = format!("{dir}/../../scripts/ceph.sh");
        let out = Command::new("bash").args([script.as_str(), "up"]).output().expect("run scripts/ceph.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "ceph.sh up: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let conf = stdout.lines().find_map(|l| l.strip_prefix("CEPH_CONF=")).expect("CEPH_CONF= line");
        PathBuf::from(conf)
    })
}

fn pool() -> Pool {
    let cluster = Cluster::connect(&ConnectOptions::new(conf())).expect("connect");
    cluster.pool("rbd").expect("pool rbd")
}

/// An image of the test pool with a unique name, removed (with its snapshots) on drop.
struct TestImage {
    pool: Pool,
    name: String,
}

impl TestImage {
    fn new(pool: &Pool, size: u64) -> TestImage {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ceph-rbd-test-{}-{n}-{nanos:x}", std::process::id());
        pool.create(&name, size).expect("create");
        TestImage { pool: pool.clone(), name }
    }

    fn open(&self) -> Image {
        self.pool.open(&self.name).expect("open")
    }
}

impl Drop for TestImage {
    fn drop(&mut self) {
        if let Ok(image) = self.pool.open(&self.name) {
            for snap in image.snapshots().unwrap_or_default() {
                let _ = image.snap_remove(&snap);
            }
        }
        let _ = self.pool.remove(&self.name);
    }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect()
}

fn read(image: &Image, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    image.read_exact_at(&mut buf, offset).expect("read");
    buf
}

fn diff(image: &Image, from: Option<&str>) -> Vec<(u64, u64, bool)> {
    let mut extents = Vec::new();
    image
        .diff(from, |offset, len, exists| {
            extents.push((offset, len, exists));
            ControlFlow::Continue(())
        })
        .expect("diff");
    extents
}

#[test]
fn create_list_open_resize_remove() {
    let pool = pool();
    let image = TestImage::new(&pool, 8 * MIB);
    assert!(pool.list().expect("list").contains(&image.name));
    {
        let opened = image.open();
        assert_eq!(opened.size().expect("size"), 8 * MIB);
        opened.resize(12 * MIB).expect("resize");
        assert_eq!(opened.size().expect("size"), 12 * MIB);
        let age = SystemTime::now().duration_since(opened.create_timestamp().expect("timestamp"));
        assert!(age.expect("created in the past") < Duration::from_secs(600));
    }
    pool.remove(&image.name).expect("remove");
    assert!(!pool.list().expect("list").contains(&image.name));
    assert!(pool.remove(&image.name).expect_err("removed twice").is_not_found());
}

#[test]
fn error_messages() {
    let load = Error::Load { library: "librbd.so.1".into(), package: "librbd1", reason: "not found".into() };
    assert_eq!(
        load.to_string(),
        "cannot load librbd.so.1 (not found); install the `librbd1` package (ceph-common)"
    );
    assert_eq!(load.errno(), None);
    let ceph = Error::Ceph { op: "rbd_open", name: "vol".into(), errno: libc::ETIMEDOUT };
    assert_eq!(ceph.to_string(), "rbd_open vol: Connection timed out (errno 110)");
    assert!(!ceph.is_not_found());
}

#[test]
fn not_found_errors() {
    let pool = pool();
    let err = pool.open("ceph-rbd-test-no-such-image").expect_err("missing image");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.to_string(), "rbd_open ceph-rbd-test-no-such-image: No such file or directory (errno 2)");
    let image = TestImage::new(&pool, MIB);
    let err = pool.open_read_only(&image.name, Some("nope")).expect_err("missing snapshot");
    assert!(err.is_not_found(), "{err}");
    let err = image.open().snap_remove("nope").expect_err("missing snapshot");
    assert!(err.is_not_found(), "{err}");
    assert!(matches!(pool.open("a\0b"), Err(Error::InvalidName(_))));
    let cluster = Cluster::connect(&ConnectOptions::new(conf())).expect("connect");
    assert!(cluster.pool("ceph-rbd-test-no-such-pool").expect_err("missing pool").is_not_found());
}

#[test]
fn write_read_and_snapshots() {
    let pool = pool();
    let test_image = TestImage::new(&pool, 16 * MIB);
    let image = test_image.open();
    let (a, b) = (pattern(1, 8192), pattern(2, 3 * MIB as usize));
    image.write_all_at(&a, 4096).expect("write a");
    image.write_all_at(&b, 4 * MIB - 1000).expect("write b across an object boundary");
    image.flush().expect("flush");
    assert_eq!(read(&image, 4096, a.len()), a);
    assert_eq!(read(&image, 4 * MIB - 1000, b.len()), b);
    assert_eq!(read(&image, 15 * MIB, 4096), vec![0; 4096], "unwritten reads as zeros");
    for offset in [16 * MIB - 10, 16 * MIB, 20 * MIB] {
        let mut buf = [0; 100];
        let err = image.read_exact_at(&mut buf, offset).expect_err("read past the end");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "at {offset}: {err}");
    }

    image.snap_create("s1").expect("snap");
    image.write_all_at(&pattern(3, 8192), 4096).expect("overwrite");
    image.snap_create("s2").expect("snap");
    assert_eq!(image.snapshots().expect("snapshots"), ["s1", "s2"]);
    let snap = pool.open_read_only(&test_image.name, Some("s1")).expect("open snapshot");
    assert_eq!(read(&snap, 4096, a.len()), a, "the snapshot keeps the old data");
    assert_eq!(read(&image, 4096, 8192), pattern(3, 8192));
    assert!(snap.write_all_at(b"x", 0).is_err(), "a snapshot is read-only");
    drop(snap);
    image.snap_remove("s1").expect("snap remove");
    assert_eq!(image.snapshots().expect("snapshots"), ["s2"]);
}

#[test]
fn diff_lists_changed_and_allocated_extents() {
    let pool = pool();
    let test_image = TestImage::new(&pool, 64 * MIB);
    let image = test_image.open();
    // Objects 0..=3 written whole, everything else sparse.
    image.write_all_at(&pattern(1, 16 * MIB as usize), 0).expect("base");
    image.snap_create("base").expect("snap");
    // Rewrites inside existing objects, out of offset order, one across objects 1 and 2.
    let rewrites = [(12 * MIB + 100, 5000), (MIB, 4096), (8 * MIB - 2048, 4096)];
    for (i, &(offset, len)) in rewrites.iter().enumerate() {
        image.write_all_at(&pattern(i as u8, len as usize), offset).expect("rewrite");
    }
    // A write into a new object (object 10), and object 3 zeroed whole (deallocated).
    image.write_all_at(&pattern(9, 4096), 40 * MIB + 8192).expect("new object");
    image.write_zeroes(12 * MIB, 4 * MIB).expect("zero object 3");
    assert_eq!(read(&image, 12 * MIB + 100, 5000), vec![0; 5000]);

    let changed = diff(&image, Some("base"));
    assert!(changed.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0), "ascending, disjoint: {changed:?}");
    // Rewrites of existing data are exact (split at the object boundary at 8 MiB); the new
    // object is reported from its start to the end of the write; object 3 became a hole.
    let expected = [
        (MIB, 4096, true),
        (8 * MIB - 2048, 2048, true),
        (8 * MIB, 2048, true),
        (12 * MIB, 4 * MIB, false),
        (40 * MIB, 8192 + 4096, true),
    ];
    assert_eq!(changed, expected);

    // From the beginning of time: allocated objects only, none of the sparse ones.
    let allocated = diff(&image, None);
    assert!(allocated.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0), "ascending, disjoint: {allocated:?}");
    assert!(allocated.iter().all(|&(_, _, exists)| exists), "{allocated:?}");
    assert!(allocated.iter().all(|&(o, l, _)| o + l <= 12 * MIB || (o >= 40 * MIB && o + l <= 44 * MIB)));
    assert_eq!(allocated.iter().filter(|e| e.0 < 12 * MIB).map(|e| e.1).sum::<u64>(), 12 * MIB);
    assert!(allocated.iter().any(|&(o, l, _)| o <= 40 * MIB + 8192 && o + l >= 40 * MIB + 12288));

    // The snapshot's own view, and stopping early.
    let snap = pool.open_read_only(&test_image.name, Some("base")).expect("open snapshot");
    assert_eq!(diff(&snap, None).iter().map(|e| e.1).sum::<u64>(), 16 * MIB);
    let mut calls = 0;
    image
        .diff(Some("base"), |_, _, _| {
            calls += 1;
            ControlFlow::Break(())
        })
        .expect("diff");
    assert_eq!(calls, 1);
}

#[test]
fn write_zeroes_reads_zeros() {
    let pool = pool();
    let test_image = TestImage::new(&pool, 8 * MIB);
    let image = test_image.open();
    image.write_all_at(&pattern(5, 6 * MIB as usize), 0).expect("write");
    image.write_zeroes(1000, 5000).expect("zero a small unaligned range");
    image.write_zeroes(2 * MIB, 4 * MIB).expect("zero across objects");
    let data = read(&image, 0, 8 * MIB as usize);
    let mut expected = pattern(5, 6 * MIB as usize);
    expected[1000..6000].fill(0);
    expected[2 * MIB as usize..].fill(0);
    expected.resize(8 * MIB as usize, 0);
    assert!(data == expected, "zeroed ranges read as zeros, the rest is kept");
}

#[test]
fn metadata() {
    let pool = pool();
    let test_image = TestImage::new(&pool, MIB);
    let image = test_image.open();
    assert_eq!(image.metadata_get("vbs.volume").expect("get"), None);
    image.metadata_set("vbs.volume", "vol-1").expect("set");
    assert_eq!(image.metadata_get("vbs.volume").expect("get").as_deref(), Some("vol-1"));
    let long = "x".repeat(5000);
    image.metadata_set("vbs.long", &long).expect("set long");
    assert_eq!(image.metadata_get("vbs.long").expect("get long (ERANGE retry)"), Some(long));
}

#[test]
fn handles_are_shared_across_threads() {
    let pool = pool();
    let test_image = TestImage::new(&pool, 8 * MIB);
    let image = std::sync::Arc::new(test_image.open());
    let writers: Vec<_> = (0..4u8)
        .map(|i| {
            let image = image.clone();
            std::thread::spawn(move || image.write_all_at(&pattern(i, 65536), u64::from(i) * 2 * MIB))
        })
        .collect();
    for writer in writers {
        writer.join().expect("join").expect("write");
    }
    for i in 0..4u8 {
        assert_eq!(read(&image, u64::from(i) * 2 * MIB, 65536), pattern(i, 65536));
    }
}

#[test]
fn connect_to_an_unreachable_cluster_times_out() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let original = std::fs::read_to_string(conf()).expect("read ceph.conf");
    let unreachable: String = original
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("mon host") {
                format!("mon host = v2:127.0.0.1:{port}")
            } else {
                l.into()
            }
        })
        .map(|l| l + "\n")
        .collect();
    let path = dir.path().join("ceph.conf");
    std::fs::write(&path, unreachable).expect("write ceph.conf");
    let opts = ConnectOptions { timeout: Duration::from_secs(3), ..ConnectOptions::new(&path) };
    let started = Instant::now();
    let err = Cluster::connect(&opts).expect_err("nothing listens there");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(err.errno(), Some(libc::ETIMEDOUT), "{err}");
}
