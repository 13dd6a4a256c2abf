//! `make bench-rbd`: the rbd volume driver's full and changed-block incremental backups against
//! the file driver's on the same data, in one run.
//!
//! `bench_rbd <bench_dir> <ceph.conf>` (scripts/bench-rbd.sh starts the cluster and generates
//! the images): `day1.img` and `day2.img` of `make bench-engine` (4 GiB; day 2 rewrites 1 % of
//! the 4 KiB blocks at scattered offsets and one 64 MiB region). Steps, each timed as the
//! worker runs it (snapshot, engine backup into a local directory store, snapshot released):
//!
//! 1. rbd: day 1 imported into the image `volume-<id>` (not timed), full backup;
//! 2. rbd: the 4 KiB blocks that differ on day 2 written into the image (not timed), then the
//!    incremental backup, which reads only the extents Ceph reports as changed;
//! 3. rbd: day 3, 1 % of the 64 KiB blocks rewritten at scattered offsets (the same writes
//!    go to a copy of `day2.img`), and its incremental;
//! 4. file: the same three backups of `day1.img`, `day2.img` and the day-3 copy (page cache
//!    warm, as the OSD's memstore is RAM).
//!
//! Then the rbd incremental is restored into a new image and compared with `day2.img`.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_types::domain::{ProjectId, ResourceId};
use backup_engine::{BackupRequest, BackupStats, Engine, EngineConfig, RestoreOptions, Source};
use backup_service::volumes::{RbdSettings, RbdVolumes, VolumeDriver};
use object_store::local::LocalFileSystem;
use sha2::{Digest, Sha256};

const MIB: f64 = 1024.0 * 1024.0;

fn engine(dir: &Path) -> Engine {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    Engine::new(store, EngineConfig { local_root: Some(dir.to_owned()), ..EngineConfig::default() }).unwrap()
}

/// Day 3: 1 % of the 64 KiB blocks rewritten with noise, at scattered offsets, in the image
/// and in the file.
fn day3(image: &ceph_rbd::Image, file: &Path) -> u64 {
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    let blocks = f.metadata().unwrap().len() / 65536;
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut buf = vec![0u8; 65536];
    for _ in 0..blocks / 100 {
        let at = next() % blocks * 65536;
        for c in buf.chunks_mut(8) {
            c.copy_from_slice(&next().to_le_bytes());
        }
        image.write_all_at(&buf, at).unwrap();
        f.write_all_at(&buf, at).unwrap();
    }
    image.flush().unwrap();
    f.sync_all().unwrap();
    blocks / 100 * 65536
}

struct Step {
    what: &'static str,
    secs: f64,
    stats: BackupStats,
}

async fn rbd_backup(
    drv: &RbdVolumes,
    engine: &Engine,
    project: &ProjectId,
    volume: ResourceId,
    parent: Option<&str>,
) -> (String, f64, BackupStats) {
    let id = ResourceId::new_v4();
    let t = Instant::now();
    let v = drv.volume(project, volume).unwrap();
    let source = drv.take_snapshot(project, &v, id).unwrap();
    let snapshot = t.elapsed().as_secs_f64();
    let req = BackupRequest {
        project: project.as_str(),
        backup_id: &id.to_string(),
        source: Source::Reader(Arc::clone(&source.reader)),
        parent,
        progress: None,
    };
    let osd = osd_cpu();
    let stats = engine.backup(req).await.unwrap();
    let total = t.elapsed().as_secs_f64();
    let osd = osd_cpu() - osd;
    // The worker does not wait for the previous base snapshot's removal (timed apart here).
    let t = Instant::now();
    source.release(true);
    println!(
        "  rbd backup: snapshot {snapshot:.2}s, engine {:.2}s (the OSD used {osd:.2} s of CPU meanwhile); \
         then the release of the previous base snapshot {:.2}s",
        total - snapshot,
        t.elapsed().as_secs_f64()
    );
    (id.to_string(), total, stats)
}

async fn file_backup(engine: &Engine, image: &Path, id: &str, parent: Option<&str>) -> (f64, BackupStats) {
    warm(image);
    let t = Instant::now();
    let req = BackupRequest { project: "bench", backup_id: id, source: image.into(), parent, progress: None };
    let stats = engine.backup(req).await.unwrap();
    (t.elapsed().as_secs_f64(), stats)
}

/// CPU seconds the OSD (the only `ceph-osd` of this machine's bench cluster) used so far.
fn osd_cpu() -> f64 {
    let pids =
        std::process::Command::new("pgrep").args(["-f", "ceph-osd -c .*vbs-ceph-bench"]).output().unwrap();
    let Some(pid) = String::from_utf8_lossy(&pids.stdout).lines().next().map(str::to_owned) else {
        return 0.0;
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, f)| f).split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum());
    ticks / 100.0
}

fn warm(path: &Path) {
    let f = File::open(path).unwrap();
    let mut buf = vec![0u8; 8 << 20];
    let mut off = 0;
    while let Ok(n) = f.read_at(&mut buf, off) {
        if n == 0 {
            break;
        }
        off += n as u64;
    }
}

/// Writes the 4 KiB blocks where `day2` differs from `day1` into the image; returns the bytes.
fn apply_change(day1: &Path, day2: &Path, image: &ceph_rbd::Image) -> u64 {
    let (a, b) = (File::open(day1).unwrap(), File::open(day2).unwrap());
    let len = b.metadata().unwrap().len();
    let (mut x, mut y) = (vec![0u8; 4 << 20], vec![0u8; 4 << 20]);
    let mut written = 0;
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(x.len() as u64) as usize;
        a.read_exact_at(&mut x[..n], off).unwrap();
        b.read_exact_at(&mut y[..n], off).unwrap();
        for (i, (p, q)) in x[..n].chunks(4096).zip(y[..n].chunks(4096)).enumerate() {
            if p != q {
                image.write_all_at(q, off + (i * 4096) as u64).unwrap();
                written += q.len() as u64;
            }
        }
        off += n as u64;
    }
    image.flush().unwrap();
    written
}

fn sha256_file(path: &Path) -> String {
    let f = File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 8 << 20];
    let mut off = 0;
    loop {
        let n = f.read_at(&mut buf, off).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        off += n as u64;
    }
    format!("{:x}", h.finalize())
}

fn sha256_image(image: &ceph_rbd::Image) -> String {
    let len = image.size().unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 8 << 20];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        image.read_exact_at(&mut buf[..n], off).unwrap();
        h.update(&buf[..n]);
        off += n as u64;
    }
    format!("{:x}", h.finalize())
}

fn row(driver: &str, s: &Step) {
    println!(
        "| {driver} | {} | {:.2} | {:.0} | {} | {} | {:.1} |",
        s.what,
        s.secs,
        s.stats.bytes_read as f64 / MIB,
        s.stats.blocks_new,
        s.stats.blocks_reused,
        s.stats.stored_bytes as f64 / MIB,
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = PathBuf::from(&args[1]);
    let conf = PathBuf::from(&args[2]);
    let (day1, day2) = (bench.join("day1.img"), bench.join("day2.img"));
    let size = std::fs::metadata(&day1).unwrap().len();
    let work = PathBuf::from("data/bench-rbd");
    let drv = RbdVolumes::new(RbdSettings {
        pool: "rbd".into(),
        conf,
        user: None,
        keyring: None,
        timeout: Duration::from_secs(120),
    });
    let project = ProjectId::parse("bench").unwrap();
    let volume = ResourceId::new_v4();

    let t = Instant::now();
    drv.create_volume(&project, volume, size, Some("bench"), Some(&day1)).unwrap();
    println!(
        "imported day1.img ({:.0} MiB) into rbd/volume-{volume} in {:.1}s",
        size as f64 / MIB,
        t.elapsed().as_secs_f64()
    );

    let rbd_engine = engine(&work.join("rbd-store"));
    let (b1, secs, stats) = rbd_backup(&drv, &rbd_engine, &project, volume, None).await;
    let rbd_full = Step { what: "full", secs, stats };
    let image = drv.pool().unwrap().open(&format!("volume-{volume}")).unwrap();
    let changed = apply_change(&day1, &day2, &image);
    println!("day 2: {:.1} MiB of 4 KiB blocks written into the image", changed as f64 / MIB);
    let (b2, secs, stats) = rbd_backup(&drv, &rbd_engine, &project, volume, Some(&b1)).await;
    let rbd_day2 = Step { what: "day 2: 1 % of 4 KiB blocks + 64 MiB", secs, stats };
    let day3_file = work.join("day3.img");
    std::fs::copy(&day2, &day3_file).unwrap();
    let changed = day3(&image, &day3_file);
    println!("day 3: {:.1} MiB of 64 KiB blocks rewritten", changed as f64 / MIB);
    let (b3, secs, stats) = rbd_backup(&drv, &rbd_engine, &project, volume, Some(&b2)).await;
    let rbd_day3 = Step { what: "day 3: 1 % of 64 KiB blocks", secs, stats };

    let file_engine = engine(&work.join("file-store"));
    let (secs, stats) = file_backup(&file_engine, &day1, "f1", None).await;
    let file_full = Step { what: "full", secs, stats };
    let (secs, stats) = file_backup(&file_engine, &day2, "f2", Some("f1")).await;
    let file_day2 = Step { what: rbd_day2.what, secs, stats };
    let (secs, stats) = file_backup(&file_engine, &day3_file, "f3", Some("f2")).await;
    let file_day3 = Step { what: rbd_day3.what, secs, stats };

    println!();
    println!("| driver | backup | wall s | read MiB | new blocks | reused blocks | stored MiB |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for s in [&rbd_full, &rbd_day2, &rbd_day3] {
        row("rbd", s);
    }
    for s in [&file_full, &file_day2, &file_day3] {
        row("file", s);
    }
    println!();
    for (rbd, file) in [(&rbd_day2, &file_day2), (&rbd_day3, &file_day3)] {
        println!(
            "{}: rbd incremental / rbd full: time {:.3} (target <= 0.10), bytes read {:.3}; vs the file \
             driver's incremental: time {:.2}, stored bytes {:.4} (new blocks {} vs {})",
            rbd.what,
            rbd.secs / rbd_full.secs,
            rbd.stats.bytes_read as f64 / rbd_full.stats.bytes_read as f64,
            rbd.secs / file.secs,
            rbd.stats.stored_bytes as f64 / file.stats.stored_bytes as f64,
            rbd.stats.blocks_new,
            file.stats.blocks_new
        );
    }

    // The day-3 incremental restores day 3 exactly. The source image goes first: with its
    // snapshots' copied objects it fills most of the OSD's memory.
    drop(image);
    drv.remove_volume(&project, volume).unwrap();
    let target = ResourceId::new_v4();
    drv.create_volume(&project, target, size, Some("restored"), None).unwrap();
    let t = Instant::now();
    let into = drv.restore_target(&project, &drv.volume(&project, target).unwrap()).unwrap();
    rbd_engine.restore_to(project.as_str(), &b3, into.writer, RestoreOptions::default()).await.unwrap();
    let restore_secs = t.elapsed().as_secs_f64();
    let restored = drv.pool().unwrap().open_read_only(&format!("volume-{target}"), None).unwrap();
    let (got, want) = (sha256_image(&restored), sha256_file(&day3_file));
    println!(
        "restore of the day-3 rbd incremental into a new image: {restore_secs:.2}s, sha256 {} ({got} vs day 3 {want})",
        if got == want { "identical" } else { "DIFFERENT" }
    );
    drop(restored);
    drv.remove_volume(&project, target).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    assert_eq!(got, want, "the restored image differs from day 3");
}
