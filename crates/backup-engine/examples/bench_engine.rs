//! Benchmark: the engine against restic and borg on a 4 GiB synthetic volume, plus `cp`.
//!
//! `cargo run --release -p backup-engine --example bench_engine -- <workdir> [size_gib]`
//! (`make bench-engine`). The images are generated once in `<workdir>` (8 GiB for the default
//! 4 GiB size) and reused while their stamp matches.
//!
//! Knobs (environment): `BENCH_REPS` (engine and cp repetitions, default 6, median reported),
//! `BENCH_THREADS`, `BENCH_FETCH_CONCURRENCY`, `BENCH_ZSTD_LEVEL`, `BENCH_NO_RESTORE_HASH`
//! (restore without the per-block check), `BENCH_STORE_API_READS` (restore through the
//! `ObjectStore` API instead of the local fast path), `BENCH_SKIP_REFS` (no restic/borg),
//! `BENCH_IMAGES_ONLY` (generate the images and stop: `make bench-service` times the engine
//! itself).
//!
//! Every measured step runs as a child process under GNU `/usr/bin/time`, so wall time,
//! user+sys CPU and peak RSS are measured the same way for every tool (the engine steps
//! re-invoke this binary with an internal sub-command). Before each timed step its input (the
//! image, or the store for a restore) is read once and `sync` is run, so every tool starts
//! with a warm page cache and no dirty pages of a previous step. The restore is timed like
//! `cp`, without a final flush (the service's restores end with `fdatasync`); one extra pair
//! times both with a flush.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use backup_engine::{BackupRequest, Engine, EngineConfig, RestoreOptions};
use object_store::local::LocalFileSystem;

const GIB: u64 = 1 << 30;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: fast enough to generate GiBs of incompressible data.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn text_pool() -> Vec<u8> {
    let words = [
        "the ",
        "volume ",
        "backup ",
        "service ",
        "block ",
        "restore ",
        "snapshot ",
        "of ",
        "and ",
        "data ",
        "object ",
        "store ",
        "2026-11-23 ",
        "INFO ",
        "ERROR ",
        "request ",
        "id=",
        "user ",
        "kernel: ",
        "\n",
        "{\"key\": ",
        "\"value\"}, ",
        "GET /v2/ ",
        "200 ",
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut pool = Vec::with_capacity(4 << 20);
    while pool.len() < 4 << 20 {
        pool.extend_from_slice(words[rng.below(words.len() as u64) as usize].as_bytes());
        if rng.below(8) == 0 {
            pool.extend_from_slice(format!("{} ", rng.below(100_000)).as_bytes());
        }
    }
    pool
}

/// ≈40% random, 30% zeros, 20% text-like, 10% duplicates of earlier 4 KiB-aligned extents.
fn make_image(path: &Path, size: u64) {
    let pool = text_pool();
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).unwrap();
    f.set_len(size).unwrap();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut pos = 0u64;
    let mut buf = vec![0u8; 8 << 20];
    while pos < size {
        // Regions of 64 KiB .. 8 MiB, 4 KiB aligned.
        let len = ((rng.below(128) + 1) * 64 * 1024).min(size - pos);
        let kind = rng.below(100);
        let b = &mut buf[..len as usize];
        if kind < 40 {
            rng.fill(b);
        } else if kind < 70 {
            b.fill(0);
        } else if kind < 90 {
            let mut i = 0;
            while i < b.len() {
                let start = rng.below(pool.len() as u64 - 65536) as usize;
                let n = (rng.below(60000) as usize + 100).min(b.len() - i);
                b[i..i + n].copy_from_slice(&pool[start..start + n]);
                i += n;
            }
        } else if pos > 0 {
            // Copy an earlier 4 KiB-aligned extent, in 4 KiB-aligned pieces of 16–256 KiB.
            let mut i = 0;
            while i < b.len() {
                let n = ((rng.below(61) + 4) * 4096).min(b.len() as u64 - i as u64) as usize;
                let src = rng.below(pos.saturating_sub(n as u64).max(1) / 4096) * 4096;
                f.read_exact_at(&mut b[i..i + n], src).unwrap();
                i += n;
            }
        } else {
            rng.fill(b);
        }
        f.write_all_at(b, pos).unwrap();
        pos += len;
    }
    f.sync_all().unwrap();
}

/// Day 2: 1% of the 4 KiB blocks rewritten at scattered offsets, plus one 64 MiB region.
fn make_day2(base: &Path, path: &Path, size: u64) {
    std::fs::copy(base, path).unwrap();
    let f = OpenOptions::new().write(true).open(path).unwrap();
    let mut rng = Rng(0x0bad_c0de_1234_5678);
    let blocks = size / 4096;
    let mut b = vec![0u8; 4096];
    for _ in 0..blocks / 100 {
        rng.fill(&mut b);
        f.write_all_at(&b, rng.below(blocks) * 4096).unwrap();
    }
    let region = 64u64 << 20;
    let start = (size / 3) / 4096 * 4096;
    let mut big = vec![0u8; region.min(size - start) as usize];
    rng.fill(&mut big);
    f.write_all_at(&big, start).unwrap();
    f.sync_all().unwrap();
}

fn warm(path: &Path) {
    let mut f = File::open(path).unwrap();
    let mut buf = vec![0u8; 8 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
    Command::new("sync").status().unwrap();
}

/// Reads every file under `dir` once (then `sync`): the restore's input is the store, and it
/// starts from a warm page cache like every other step.
fn warm_dir(dir: &Path) {
    fn walk(p: &Path, buf: &mut [u8]) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&path, buf);
            } else {
                let mut f = File::open(&path).unwrap();
                while f.read(buf).unwrap() > 0 {}
            }
        }
    }
    walk(dir, &mut vec![0u8; 8 << 20]);
    Command::new("sync").status().unwrap();
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = e.metadata().unwrap();
            total += if md.is_dir() { dir_bytes(&e.path()) } else { md.len() };
        }
    }
    total
}

#[derive(Clone, Copy, Default)]
struct Measure {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
}

/// Runs `cmd` under /usr/bin/time; returns wall, user+sys and max RSS, and stdout.
fn timed(workdir: &Path, cmd: &mut Command) -> (Measure, String) {
    let tf = workdir.join("time.out");
    let prog = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&tf)
        .arg(prog)
        .args(args)
        .envs(envs)
        .output()
        .unwrap();
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        panic!(
            "{:?} failed: {}\n{}",
            cmd,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let t = std::fs::read_to_string(&tf).unwrap();
    let v: Vec<f64> = t.lines().last().unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
    (
        Measure { wall, cpu: v[1] + v[2], rss_kib: v[3] as u64 },
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn engine_config() -> EngineConfig {
    let mut c = EngineConfig::default();
    if let Ok(v) = std::env::var("BENCH_ZSTD_LEVEL") {
        c.zstd_level = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("BENCH_THREADS") {
        c.threads = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("BENCH_FETCH_CONCURRENCY") {
        c.fetch_concurrency = v.parse().unwrap();
    }
    c
}

/// Child side: `__engine backup <store> <id> <src> [parent]` / `__engine restore <store> <id> <target>`.
fn engine_child(args: &[String]) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let store = Arc::new(LocalFileSystem::new_with_prefix(&args[1]).unwrap());
        let mut config = engine_config();
        if std::env::var("BENCH_STORE_API_READS").is_err() {
            config.local_root = Some(PathBuf::from(&args[1]));
        }
        let e = Engine::new(store, config).unwrap();
        match args[0].as_str() {
            "backup" => {
                let s = e
                    .backup(BackupRequest {
                        project: "bench",
                        backup_id: &args[2],
                        source: Path::new(&args[3]).into(),
                        parent: args.get(4).map(String::as_str),
                        progress: None,
                    })
                    .await
                    .unwrap();
                println!("{s:?}");
            }
            "restore" => {
                let opts = RestoreOptions {
                    verify_blocks: std::env::var("BENCH_NO_RESTORE_HASH").is_err(),
                    flush: std::env::var("BENCH_RESTORE_FLUSH").is_ok(),
                    ..RestoreOptions::default()
                };
                let s = e.restore("bench", &args[2], Path::new(&args[3]), opts).await.unwrap();
                println!("{s:?}");
            }
            "verify" => {
                let s = e.verify("bench", &args[2]).await.unwrap();
                println!("{s:?}");
            }
            other => panic!("unknown engine step {other}"),
        }
    });
}

struct Row {
    tool: &'static str,
    step: &'static str,
    m: Measure,
    stored: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__engine") {
        engine_child(&args[1..]);
        return;
    }
    let workdir = PathBuf::from(args.first().expect("usage: bench_engine <workdir> [size_gib]"));
    let size_gib: f64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(4.0);
    let size = ((size_gib * GIB as f64) as u64) / 4096 * 4096;
    std::fs::create_dir_all(&workdir).unwrap();
    let me = std::env::current_exe().unwrap();
    let day1 = workdir.join("day1.img");
    let day2 = workdir.join("day2.img");
    let stamp = workdir.join("images.stamp");
    let want = format!("v1 {size}");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        println!("generating {size} byte images in {}", workdir.display());
        let t = Instant::now();
        make_image(&day1, size);
        make_day2(&day1, &day2, size);
        std::fs::write(&stamp, &want).unwrap();
        println!("generated in {:.1}s", t.elapsed().as_secs_f64());
    }
    // `make bench-service` only needs the images (and times the engine itself).
    if std::env::var("BENCH_IMAGES_ONLY").is_ok() {
        return;
    }
    let sh = |c: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(c)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    println!(
        "machine: {} cores ({}), {}, kernel {}; {}; restic {}; borg {}",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"),
        sh("free -g | awk '/Mem:/ {print $2 \" GiB RAM\"}'"),
        sh("uname -r"),
        sh("date -u +%Y-%m-%dT%H:%MZ"),
        sh("restic version | cut -d' ' -f2"),
        sh("borg --version | cut -d' ' -f2"),
    );
    let mb = size as f64 / 1e6;
    let gib = size as f64 / GIB as f64;
    let mut rows: Vec<Row> = Vec::new();

    // Engine and cp: REPS repetitions, median reported (this VM's page-cache write speed
    // varies by up to 2x between runs).
    let reps: usize = std::env::var("BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let store = workdir.join("engine-store");
    let target = workdir.join("restore.img");
    let cp_target = workdir.join("cp.img");
    let mut samples: Vec<Vec<Row>> = Vec::new();
    let mut restore_ok = true;
    // cp and the restore run back to back in each repetition; on a shared machine their
    // ratio within one repetition is steadier than the ratio of two medians.
    let mut rep_ratios: Vec<f64> = Vec::new();
    // A restore into a fresh sparse target; `flush` adds the fdatasync the service does.
    let restore = |flush: bool| {
        let _ = std::fs::remove_file(&target);
        File::create(&target).unwrap().set_len(size).unwrap();
        warm_dir(&store);
        let mut c = Command::new(&me);
        c.arg("__engine").arg("restore").arg(&store).arg("day2").arg(&target);
        if flush {
            c.env("BENCH_RESTORE_FLUSH", "1");
        }
        let (m, out) = timed(&workdir, &mut c);
        println!("  {}", out.trim());
        m
    };
    // `cp` of the day-2 image; `flush` adds `sync` of the copy.
    let copy = |flush: bool| {
        warm(&day2);
        let _ = std::fs::remove_file(&cp_target);
        let mut c = Command::new("sh");
        c.arg("-c").arg(if flush { r#"cp "$0" "$1" && sync "$1""# } else { r#"cp "$0" "$1""# });
        c.arg(&day2).arg(&cp_target);
        let (m, _) = timed(&workdir, &mut c);
        let _ = std::fs::remove_file(&cp_target);
        Command::new("sync").status().unwrap();
        m
    };
    for rep in 0..reps {
        let mut reprows = Vec::new();
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store).unwrap();
        for (step, id, src, parent) in
            [("full", "day1", &day1, None), ("day-2 incr", "day2", &day2, Some("day1"))]
        {
            warm(src);
            let before = dir_bytes(&store);
            let mut c = Command::new(&me);
            c.arg("__engine").arg("backup").arg(&store).arg(id).arg(src);
            if let Some(p) = parent {
                c.arg(p);
            }
            let (m, out) = timed(&workdir, &mut c);
            println!("[rep {rep}] engine {step}: {}", out.trim());
            reprows.push(Row { tool: "engine", step, m, stored: dir_bytes(&store) - before });
        }
        // On this VM freed memory goes back to the hypervisor, and a step that allocates pages
        // just after a large file was deleted reuses hot ones: 2-3x faster page-cache writes
        // than on pages the host must fault in again. An untimed copy (deleted again) before
        // the pair puts both timed steps after a deletion; the restore (without the final
        // fdatasync, like `cp`) and `cp` also alternate which goes first.
        let _ = copy(false);
        let mut restore_wall = 0.0;
        let mut cp_wall = 0.0;
        for engine_turn in [rep % 2 == 0, rep % 2 == 1] {
            if engine_turn {
                let m = restore(false);
                println!("[rep {rep}] engine restore: {:.2}s", m.wall);
                restore_wall = m.wall;
                reprows.push(Row { tool: "engine", step: "restore day-2", m, stored: 0 });
                if rep + 1 == reps {
                    let (src_sha, dst_sha) = (sha256(&day2), sha256(&target));
                    restore_ok = src_sha == dst_sha;
                    println!(
                        "restore sha256 {} (source {src_sha}, restored {dst_sha})",
                        if restore_ok { "MATCH" } else { "MISMATCH" }
                    );
                }
                let _ = std::fs::remove_file(&target);
            } else {
                let m = copy(false);
                println!("[rep {rep}] cp: {:.2}s", m.wall);
                cp_wall = m.wall;
                reprows.push(Row { tool: "cp", step: "copy day-2", m, stored: 0 });
            }
        }
        println!("[rep {rep}] restore/cp speed this rep {:.2}", cp_wall / restore_wall);
        rep_ratios.push(cp_wall / restore_wall);
        // Same order in every sample, whichever ran first.
        reprows.sort_by_key(|r| r.tool == "cp");
        samples.push(reprows);
    }
    for i in 0..samples[0].len() {
        let mut v: Vec<&Row> = samples.iter().map(|s| &s[i]).collect();
        v.sort_by(|a, b| a.m.wall.total_cmp(&b.m.wall));
        let med = v[v.len() / 2];
        rows.push(Row { tool: med.tool, step: med.step, m: med.m, stored: med.stored });
    }
    // Once: the restore as the service runs it (fdatasync before reporting success) against a
    // durable copy (`cp` + `sync` of the copy).
    let m = restore(true);
    println!("engine restore + fdatasync: {:.2}s", m.wall);
    rows.push(Row { tool: "engine", step: "restore day-2 + fdatasync", m, stored: 0 });
    let _ = std::fs::remove_file(&target);
    let m = copy(true);
    println!("cp + sync: {:.2}s", m.wall);
    rows.push(Row { tool: "cp", step: "copy day-2 + sync", m, stored: 0 });

    // Both references back up the same path, swapped from day 1 to day 2 with a hard link.
    let src_dir = workdir.join("src");
    let _ = std::fs::remove_dir_all(&src_dir);
    std::fs::create_dir_all(&src_dir).unwrap();
    let link = src_dir.join("disk.img");
    let relink = |to: &Path| {
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(to, &link).unwrap();
    };

    let have = |tool: &str, arg: &str| Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
    let refs = std::env::var("BENCH_SKIP_REFS").is_err();
    let installed = have("restic", "version") && have("borg", "--version");
    if refs && !installed {
        println!("restic and borg are not both installed (apt-get install restic borgbackup): skipping them");
    }
    if refs && installed {
        let repo = workdir.join("restic-repo");
        let _ = std::fs::remove_dir_all(&repo);
        let restic = |args: &[&str]| {
            let mut c = Command::new("restic");
            c.env("RESTIC_PASSWORD", "bench")
                .env("RESTIC_CACHE_DIR", workdir.join("restic-cache"))
                .arg("--repo")
                .arg(&repo)
                .arg("--quiet")
                .args(args);
            c
        };
        assert!(restic(&["init"]).output().unwrap().status.success());
        for (step, img) in [("full", &day1), ("day-2 incr", &day2)] {
            relink(img);
            warm(img);
            let before = dir_bytes(&repo);
            let (m, _) = timed(&workdir, &mut restic(&["backup", link.to_str().unwrap()]));
            rows.push(Row { tool: "restic", step, m, stored: dir_bytes(&repo) - before });
        }

        let repo = workdir.join("borg-repo");
        let _ = std::fs::remove_dir_all(&repo);
        let borg = |args: &[&str]| {
            let mut c = Command::new("borg");
            c.env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
                .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
                .env("BORG_BASE_DIR", workdir.join("borg-base"))
                .args(args);
            c
        };
        assert!(borg(&["init", "-e", "none", repo.to_str().unwrap()]).output().unwrap().status.success());
        for (step, name, img) in [("full", "day1", &day1), ("day-2 incr", "day2", &day2)] {
            relink(img);
            warm(img);
            let before = dir_bytes(&repo);
            let archive = format!("{}::{name}", repo.display());
            let (m, _) = timed(
                &workdir,
                &mut borg(&["create", "--compression", "lz4", &archive, link.to_str().unwrap()]),
            );
            rows.push(Row { tool: "borg", step, m, stored: dir_bytes(&repo) - before });
        }
    }

    println!();
    println!(
        "{:.2} GiB image; warm page cache before every step (input read once + sync); 2 cores; \
         engine and cp: median of {reps} runs, restic and borg: one run",
        gib
    );
    println!("| tool | step | wall s | MB/s | CPU s/GiB | peak RSS MiB | stored MB (this step) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {} |",
            r.tool,
            r.step,
            r.m.wall,
            mb / r.m.wall,
            r.m.cpu / gib,
            r.m.rss_kib as f64 / 1024.0,
            if r.stored > 0 { format!("{:.1}", r.stored as f64 / 1e6) } else { "-".into() }
        );
    }
    let get = |tool: &str, step: &str| rows.iter().find(|r| r.tool == tool && r.step == step);
    println!();
    let e_full = get("engine", "full").unwrap();
    let e_inc = get("engine", "day-2 incr").unwrap();
    let e_rest = get("engine", "restore day-2").unwrap();
    let cp = get("cp", "copy day-2").unwrap();
    if let Some(r) = get("restic", "full") {
        println!("engine full MB/s / restic full MB/s = {:.2} (target >= 3)", r.m.wall / e_full.m.wall);
    }
    println!(
        "engine day-2 stored / engine full stored = {:.1}% (target <= 20%)",
        100.0 * e_inc.stored as f64 / e_full.stored as f64
    );
    for tool in ["restic", "borg"] {
        if let (Some(f), Some(i)) = (get(tool, "full"), get(tool, "day-2 incr")) {
            println!(
                "{tool} day-2 stored / {tool} full stored = {:.1}%",
                100.0 * i.stored as f64 / f.stored as f64
            );
        }
    }
    println!("engine restore MB/s / cp MB/s = {:.2} (target >= 0.9)", cp.m.wall / e_rest.m.wall);
    if let (Some(r), Some(c)) = (get("engine", "restore day-2 + fdatasync"), get("cp", "copy day-2 + sync")) {
        println!("  durable: engine restore + fdatasync / cp + sync = {:.2} (one run)", c.m.wall / r.m.wall);
    }
    rep_ratios.sort_by(f64::total_cmp);
    // The geometric mean over an even number of repetitions cancels a constant advantage of
    // going first or second.
    let geo = (rep_ratios.iter().map(|r| r.ln()).sum::<f64>() / rep_ratios.len() as f64).exp();
    println!(
        "  per repetition: {} (median {:.2}, geometric mean {geo:.2})",
        rep_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", "),
        rep_ratios[rep_ratios.len() / 2]
    );
    let peak = rows.iter().filter(|r| r.tool == "engine").map(|r| r.m.rss_kib).max().unwrap();
    println!("engine peak RSS = {:.0} MiB (target <= 256)", peak as f64 / 1024.0);
    println!("restore sha256 match: {restore_ok}");
    let _ = std::io::stdout().flush();
}
