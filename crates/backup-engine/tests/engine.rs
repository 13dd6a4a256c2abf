//! End-to-end tests of the engine over a local-directory object store.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use backup_engine::{BackupRequest, Engine, EngineError, GcOptions, Progress, RestoreOptions};
use common::*;
use object_store::memory::InMemory;
use object_store::path::Path as OsPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const P: &str = "projA";

fn gc_now() -> GcOptions {
    GcOptions { grace: Duration::ZERO, pending_ttl: Duration::from_secs(3600), ..GcOptions::default() }
}

async fn backup(
    e: &Engine,
    project: &str,
    id: &str,
    src: &std::path::Path,
    parent: Option<&str>,
) -> Result<backup_engine::BackupStats, EngineError> {
    e.backup(BackupRequest { project, backup_id: id, source: src.into(), parent, progress: None }).await
}

async fn assert_restores(env: &Env, e: &Engine, project: &str, id: &str, expected: &[u8]) {
    let t = env.target(&format!("restore-{id}"), expected.len());
    let st = e.restore(project, id, &t, RestoreOptions::default()).await.unwrap();
    assert_eq!(st.logical_bytes, expected.len() as u64);
    assert_eq!(sha256_file_prefix(&t, expected.len()), sha256(expected), "restore of {id} differs");
    let v = e.verify(project, id).await.unwrap();
    assert!(v.is_ok(), "verify {id}: {v:?}");
}

/// Overwrites `n` whole blocks at scattered indices with fresh random data.
fn change_blocks(img: &mut [u8], idx: &[usize], seed: u64) {
    let mut rng = Rng::new(seed);
    for &i in idx {
        let end = ((i + 1) * BS).min(img.len());
        rng.fill(&mut img[i * BS..end]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backup_restores_sha_identical() {
    let env = Env::new();
    let e = env.engine();
    for (i, len) in [3 * 1024 * 1024 + 12345, 1, BS - 1, BS, 5 * BS + 7, 0].into_iter().enumerate() {
        let img = make_image(len, 100 + i as u64);
        let src = env.image(&format!("img{i}"), &img);
        let id = format!("full-{i}");
        let progress = Progress::new();
        let st = e
            .backup(BackupRequest {
                project: P,
                backup_id: &id,
                source: (&src).into(),
                parent: None,
                progress: Some(progress.clone()),
            })
            .await
            .unwrap();
        assert_eq!(st.logical_bytes, len as u64);
        assert_eq!(st.blocks_total, len.div_ceil(BS) as u64);
        assert_eq!(st.blocks_total, st.blocks_zero + st.blocks_reused + st.blocks_new);
        assert!(!st.had_parent);
        assert_eq!((progress.done(), progress.total()), (len as u64, len as u64));
        assert_restores(&env, &e, P, &id, &img).await;
    }
    // The big image rolled over many packs; objects = packs + manifest.
    let info = e.backup_info(P, "full-0").await.unwrap();
    assert!(info.stats.objects_written > 10, "{:?}", info.stats);
    let zero_blocks =
        make_image(3 * 1024 * 1024 + 12345, 100).chunks(BS).filter(|c| c.iter().all(|&b| b == 0)).count()
            as u64;
    assert_eq!(info.stats.blocks_zero, zero_blocks);
    assert!(info.stats.blocks_reused > 0, "duplicated extents dedup: {:?}", info.stats);
    assert_eq!(e.list_backups(P).await.unwrap().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_reads_restore_and_verify_the_same() {
    // The same backups read through the store's API and with direct local reads.
    let env = Env::new();
    let api = env.engine();
    let local = Engine::new(
        env.local.clone(),
        backup_engine::EngineConfig { local_root: Some(env.store_dir.clone()), ..test_config() },
    )
    .unwrap();
    let img = make_image(2 * 1024 * 1024 + 333, 77);
    let src = env.image("img", &img);
    backup(&api, P, "b1", &src, None).await.unwrap();
    let mut img2 = img.clone();
    change_blocks(&mut img2, &[0, 7, 100, 511], 78);
    write_file(&src, &img2);
    backup(&local, P, "b2", &src, Some("b1")).await.unwrap();
    for (e, name) in [(&api, "api"), (&local, "local")] {
        for (id, data) in [("b1", &img), ("b2", &img2)] {
            // Several restores in a row reuse pooled buffers: stale content must never leak.
            let t = env.target(&format!("{name}-{id}"), data.len());
            e.restore(P, id, &t, RestoreOptions::default()).await.unwrap();
            assert_eq!(sha256_file_prefix(&t, data.len()), sha256(data), "{name} {id}");
            assert!(e.verify(P, id).await.unwrap().is_ok());
        }
    }
    // A damaged pack is caught on the local path too.
    let (pack, len) = env.files_under(&format!("vbs/projects/{P}/packs")).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at = (len / 3) as usize;
    bytes[at] ^= 0xff;
    std::fs::write(&pack, &bytes).unwrap();
    // Which backup the damaged pack belongs to depends on the random pack owner tags.
    let mut damaged = Vec::new();
    for id in ["b1", "b2"] {
        if !local.verify(P, id).await.unwrap().is_ok() {
            damaged.push(id);
        }
    }
    assert!(!damaged.is_empty(), "verify finds the damage");
    for id in &damaged {
        let t = env.target(&format!("damaged-{id}"), img.len());
        assert!(local.restore(P, id, &t, RestoreOptions::default()).await.is_err(), "{id}");
    }
    // A missing pack is an error, not a panic.
    std::fs::remove_file(&pack).unwrap();
    let missing = env.target("missing", img.len());
    assert!(local.restore(P, damaged[0], &missing, RestoreOptions::default()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_writes_only_changed_blocks() {
    let env = Env::new();
    let e = env.engine();
    let len = 3 * 1024 * 1024 + 12345;
    let mut img = make_image(len, 7);
    let src = env.image("disk", &img);
    let full = backup(&e, P, "b1", &src, None).await.unwrap();
    assert!(full.payload_bytes > 0);

    // Five scattered blocks get new random content; one of them is the short last block.
    let last = len / BS;
    let changed = [3usize, 100, 333, 700, last];
    change_blocks(&mut img, &changed, 99);
    write_file(&src, &img);
    let inc = backup(&e, P, "b2", &src, Some("b1")).await.unwrap();
    assert!(inc.had_parent);
    assert_eq!(inc.blocks_new, changed.len() as u64, "{inc:?}");
    let changed_bytes = 4 * BS as u64 + (len % BS) as u64;
    assert_eq!(inc.payload_bytes, changed_bytes, "random blocks are stored raw");
    assert_eq!(inc.objects_written, 2, "one pack + manifest");
    assert!(inc.stored_bytes < full.stored_bytes / 10, "{inc:?} vs {full:?}");
    assert_eq!(inc.blocks_reused + inc.blocks_new + inc.blocks_zero, inc.blocks_total);

    // Unchanged source → nothing new at all.
    let same = backup(&e, P, "b3", &src, Some("b2")).await.unwrap();
    assert_eq!(same.blocks_new, 0);
    assert_eq!(same.payload_bytes, 0);
    assert_eq!(same.objects_written, 1);

    assert_restores(&env, &e, P, "b2", &img).await;
    assert_restores(&env, &e, P, "b3", &img).await;

    // Re-running a committed id is a no-op reporting the original result.
    let again = backup(&e, P, "b2", &src, Some("b1")).await.unwrap();
    assert!(again.already_existed);
    assert_eq!(again.blocks_new, inc.blocks_new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_growth_and_shrink_against_parent() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(200 * BS + 5, 8);
    let src = env.image("disk", &img);
    backup(&e, P, "a", &src, None).await.unwrap();
    let mut bigger = img.clone();
    bigger.extend(make_image(50 * BS, 9));
    write_file(&src, &bigger);
    backup(&e, P, "b", &src, Some("a")).await.unwrap();
    assert_restores(&env, &e, P, "b", &bigger).await;
    let smaller = bigger[..77 * BS + 3].to_vec();
    write_file(&src, &smaller);
    let s = backup(&e, P, "c", &src, Some("b")).await.unwrap();
    assert_eq!(s.blocks_new, 1, "only the new short tail block: {s:?}");
    assert_restores(&env, &e, P, "c", &smaller).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_any_backup_of_a_chain_keeps_the_others() {
    let env = Env::new();
    let e = env.engine();
    let len = 1024 * 1024 + 999;
    let mut versions = Vec::new();
    let mut img = make_image(len, 21);
    let src = env.image("disk", &img);
    let ids = ["c0", "c1", "c2", "c3", "c4"];
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            let idx: Vec<usize> = (0..20).map(|k| (k * 13 + i * 7) % (len / BS)).collect();
            change_blocks(&mut img, &idx, i as u64);
            write_file(&src, &img);
        }
        let parent = if i > 0 { Some(ids[i - 1]) } else { None };
        backup(&e, P, id, &src, parent).await.unwrap();
        versions.push(img.clone());
    }
    let mut alive: Vec<usize> = (0..ids.len()).collect();
    let mut freed = 0;
    // Delete from the middle, then the oldest, then the newest.
    for victim in [2usize, 0, 4, 1] {
        e.delete_backup(P, ids[victim]).await.unwrap();
        assert!(matches!(
            e.restore(P, ids[victim], &env.target("x", len), RestoreOptions::default()).await,
            Err(EngineError::BackupNotFound(_))
        ));
        let r = e.gc(P, &gc_now()).await.unwrap();
        assert_eq!(r.missing_packs, 0);
        freed += r.bytes_freed;
        alive.retain(|&a| a != victim);
        for &a in &alive {
            assert_restores(&env, &e, P, ids[a], &versions[a]).await;
        }
    }
    assert!(freed > 0);
    // Last one gone: GC leaves no pack behind.
    e.delete_backup(P, ids[3]).await.unwrap();
    e.gc(P, &gc_now()).await.unwrap();
    let u = e.usage(P).await.unwrap();
    assert_eq!((u.packs, u.manifests), (0, 0), "{u:?}");
    assert!(matches!(e.delete_backup(P, ids[3]).await, Err(EngineError::BackupNotFound(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_respects_grace_period() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(300 * BS, 3);
    let src = env.image("disk", &img);
    backup(&e, P, "a", &src, None).await.unwrap();
    e.delete_backup(P, "a").await.unwrap();
    let before = e.usage(P).await.unwrap();
    let r = e.gc(P, &GcOptions::default()).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "young trash and packs are kept: {r:?}");
    assert_eq!(e.usage(P).await.unwrap().packs, before.packs);
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r.packs_deleted, before.packs);
    assert_eq!(r.trash_purged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repack_shrinks_storage_and_keeps_data() {
    let env = Env::new();
    let e = env.engine();
    let len = 2 * 1024 * 1024;
    let mut rng = Rng::new(5);
    let mut img = vec![0u8; len];
    rng.fill(&mut img);
    let src = env.image("disk", &img);
    backup(&e, P, "old", &src, None).await.unwrap();
    // Every other block changes: each of old's packs ends up half dead once old is deleted.
    let idx: Vec<usize> = (0..len / BS).filter(|i| i % 2 == 0).collect();
    change_blocks(&mut img, &idx, 77);
    write_file(&src, &img);
    backup(&e, P, "new", &src, Some("old")).await.unwrap();
    e.delete_backup(P, "old").await.unwrap();
    let before = e.usage(P).await.unwrap();
    let opts = GcOptions { repack_threshold: 0.3, ..gc_now() };
    let r1 = e.gc(P, &opts).await.unwrap();
    assert!(r1.packs_repacked > 0, "{r1:?}");
    assert_eq!(r1.manifests_rewritten, 1);
    assert_restores(&env, &e, P, "new", &img).await;
    let r2 = e.gc(P, &opts).await.unwrap();
    assert!(r2.packs_deleted >= r1.packs_repacked, "{r2:?}");
    let after = e.usage(P).await.unwrap();
    // Live data is the 2 MiB of "new" (random, stored raw) plus pack overhead.
    assert!(
        after.pack_bytes < before.pack_bytes * 7 / 10 && after.pack_bytes < len as u64 * 21 / 20,
        "{before:?} -> {after:?}"
    );
    assert_restores(&env, &e, P, "new", &img).await;
    // A further run has nothing to do.
    let r3 = e.gc(P, &opts).await.unwrap();
    assert_eq!((r3.packs_deleted, r3.packs_repacked), (0, 0), "{r3:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_packs_wait_for_older_readers() {
    let env = Env::new();
    let e = env.engine();
    let len = 512 * 1024;
    let mut img = vec![0u8; len];
    Rng::new(1).fill(&mut img);
    let src = env.image("disk", &img);
    backup(&e, P, "old", &src, None).await.unwrap();
    let idx: Vec<usize> = (0..len / BS).filter(|i| i % 2 == 0).collect();
    change_blocks(&mut img, &idx, 2);
    write_file(&src, &img);
    backup(&e, P, "new", &src, Some("old")).await.unwrap();
    e.delete_backup(P, "old").await.unwrap();
    // A reader that started before the repack (e.g. a long restore of "new").
    let lease = OsPath::from(format!("vbs/projects/{P}/pending/read/00000000000000aa.json"));
    env.local
        .put(
            &lease,
            PutPayload::from(
                r#"{"kind":"read","backup_id":"new","parent":null,"owner":null,"started_unix":0}"#,
            ),
        )
        .await
        .unwrap();
    let opts = GcOptions { repack_threshold: 0.3, ..gc_now() };
    let r1 = e.gc(P, &opts).await.unwrap();
    assert!(r1.packs_repacked > 0);
    let r2 = e.gc(P, &opts).await.unwrap();
    assert_eq!(r2.packs_deleted, 0, "reader older than the retirement: {r2:?}");
    env.local.delete(&lease).await.unwrap();
    let r3 = e.gc(P, &opts).await.unwrap();
    assert_eq!(r3.packs_deleted, r1.packs_repacked, "{r3:?}");
    assert_restores(&env, &e, P, "new", &img).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_detects_a_corrupted_pack_byte() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(1024 * 1024, 11);
    let src = env.image("disk", &img);
    backup(&e, P, "v", &src, None).await.unwrap();
    let ok = e.verify(P, "v").await.unwrap();
    assert!(ok.is_ok() && ok.ok_blocks > 0);
    let packs = env.files_under(&format!("vbs/projects/{P}/packs"));
    let (victim, _) = &packs[0];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[100] ^= 0x40; // inside the first block's payload
    std::fs::write(victim, &bytes).unwrap();
    let bad = e.verify(P, "v").await.unwrap();
    assert_eq!(bad.bad_blocks, 1, "{bad:?}");
    assert_eq!(bad.ok_blocks + 1, ok.ok_blocks);
    assert_eq!(bad.first_bad_offsets.len(), 1);
    let t = env.target("t", img.len());
    assert!(matches!(
        e.restore(P, "v", &t, RestoreOptions::default()).await,
        Err(EngineError::Corrupt { .. })
    ));
    // A removed pack shows up as bad blocks too.
    std::fs::remove_file(victim).unwrap();
    let gone = e.verify(P, "v").await.unwrap();
    assert!(gone.bad_blocks > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_manifest_is_an_error() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(300 * 1024, 12);
    let src = env.image("disk", &img);
    backup(&e, P, "m", &src, None).await.unwrap();
    let mpath = env.store_dir.join(format!("vbs/projects/{P}/manifests/m.manifest"));
    let mut bytes = std::fs::read(&mpath).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&mpath, &bytes).unwrap();
    let t = env.target("t", img.len());
    assert!(matches!(
        e.restore(P, "m", &t, RestoreOptions::default()).await,
        Err(EngineError::Corrupt { .. })
    ));
    assert!(matches!(e.verify(P, "m").await, Err(EngineError::Corrupt { .. })));
    // GC refuses to guess what a corrupt manifest references.
    assert!(e.gc(P, &gc_now()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_backup_leaves_no_manifest_and_gc_reclaims_its_packs() {
    let env = Env::new();
    let ts = Arc::new(TestStore::new(env.local.clone()));
    let e = Engine::new(ts.clone(), test_config()).unwrap();
    let len = 2 * 1024 * 1024 + 77;
    let img = make_image(len, 31);
    let src = env.image("disk", &img);
    backup(&e, P, "good", &src, None).await.unwrap();
    let good_packs = e.usage(P).await.unwrap().packs;

    let mut img2 = img.clone();
    let mut rng = Rng::new(4);
    rng.fill(&mut img2[..len / 2]);
    write_file(&src, &img2);

    // 1. A failed backup (error path): some packs written, then the store fails. No manifest,
    // marker removed, and the packs it wrote are deleted at once (not after GC's grace).
    ts.pack_puts.store(0, Ordering::SeqCst);
    ts.fail_packs_after.store(3, Ordering::SeqCst);
    let err = backup(&e, P, "crash", &src, Some("good")).await;
    assert!(matches!(err, Err(EngineError::Store(_))), "{err:?}");
    assert!(ts.pack_puts.load(Ordering::SeqCst) >= 3, "packs were written before the failure");
    assert!(matches!(e.backup_info(P, "crash").await, Err(EngineError::BackupNotFound(_))));
    assert!(env.files_under(&format!("vbs/projects/{P}/pending")).is_empty());
    assert_eq!(e.usage(P).await.unwrap().packs, good_packs, "the failed attempt's packs are gone");
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "nothing left for GC");

    // 2. A process that dies outright leaves its marker: GC keeps the packs until it expires.
    ts.pack_puts.store(0, Ordering::SeqCst);
    ts.dies_before_cleanup.store(true, Ordering::SeqCst);
    assert!(backup(&e, P, "crash", &src, Some("good")).await.is_err());
    ts.dies_before_cleanup.store(false, Ordering::SeqCst);
    assert_eq!(env.files_under(&format!("vbs/projects/{P}/pending")).len(), 1);
    let partial = e.usage(P).await.unwrap().packs - good_packs;
    assert!(partial > 0);
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "live marker protects: {r:?}");
    let expired = GcOptions { pending_ttl: Duration::ZERO, ..gc_now() };
    let r = e.gc(P, &expired).await.unwrap();
    assert_eq!(r.stale_markers_removed, 1);
    assert_eq!(r.packs_deleted, partial);

    // 2b. The service knows the attempt is dead (its job lease expired) and says so: the next
    // GC reclaims the packs without waiting for the marker's TTL.
    ts.pack_puts.store(0, Ordering::SeqCst);
    ts.dies_before_cleanup.store(true, Ordering::SeqCst);
    assert!(backup(&e, P, "crash", &src, Some("good")).await.is_err());
    ts.dies_before_cleanup.store(false, Ordering::SeqCst);
    let partial = e.usage(P).await.unwrap().packs - good_packs;
    assert!(partial > 0);
    e.abandon_backup(P, "crash").await.unwrap();
    assert!(env.files_under(&format!("vbs/projects/{P}/pending")).is_empty());
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!((r.packs_deleted, r.stale_markers_removed), (partial, 0));
    assert!(e.abandon_backup(P, "../x").await.is_err(), "ids are validated");

    // 3. The other backup is intact, and the same id re-runs cleanly.
    assert_restores(&env, &e, P, "good", &img).await;
    ts.fail_packs_after.store(usize::MAX, Ordering::SeqCst);
    let st = backup(&e, P, "crash", &src, Some("good")).await.unwrap();
    assert!(!st.already_existed);
    assert_restores(&env, &e, P, "crash", &img2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_never_touches_an_in_flight_backup() {
    let env = Env::new();
    let ts = Arc::new(TestStore::new(env.local.clone()));
    let e = Engine::new(ts.clone(), test_config()).unwrap();
    let len = 2 * 1024 * 1024;
    let img = make_image(len, 41);
    let src = env.image("disk", &img);
    backup(&e, P, "parent", &src, None).await.unwrap();
    let mut img2 = img.clone();
    Rng::new(6).fill(&mut img2[len / 4..len / 2]);
    let src2 = env.image("disk2", &img2);

    // Hold the child's 3rd pack upload: two packs are written, no manifest yet.
    ts.pack_puts.store(0, Ordering::SeqCst);
    ts.pack_puts_done.store(0, Ordering::SeqCst);
    ts.hold_pack.store(2, Ordering::SeqCst);
    let e2 = e.clone();
    let src2c = src2.clone();
    let child = tokio::spawn(async move {
        e2.backup(BackupRequest {
            project: P,
            backup_id: "child",
            source: (&src2c).into(),
            parent: Some("parent"),
            progress: None,
        })
        .await
    });
    ts.held.notified().await;
    ts.wait_packs_done(2).await;
    // Meanwhile the parent is deleted and GC runs with no grace at all.
    e.delete_backup(P, "parent").await.unwrap();
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert_eq!(r.trash_purged, 0, "parent of an in-flight backup stays");
    assert!(r.packs_protected >= 2, "{r:?}");
    ts.hold_pack.store(usize::MAX, Ordering::SeqCst);
    ts.release.add_permits(1);
    let st = child.await.unwrap().unwrap();
    assert!(st.had_parent && st.blocks_reused > 0);
    // The child completed on top of its deleted parent's blocks.
    assert_restores(&env, &e, P, "child", &img2).await;
    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r.trash_purged, 1);
    assert!(r.packs_deleted + r.packs_repacked > 0, "parent-only blocks are freed (or repacked) now: {r:?}");
    let r2 = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!(r2.packs_deleted, r.packs_repacked, "{r2:?}");
    assert_restores(&env, &e, P, "child", &img2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_are_isolated() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(512 * 1024, 51);
    let src = env.image("disk", &img);
    let a = backup(&e, "tenantA", "shared-id", &src, None).await.unwrap();
    // B cannot name A's backup as parent, nor read it.
    assert!(matches!(
        backup(&e, "tenantB", "b1", &src, Some("shared-id")).await,
        Err(EngineError::ParentNotFound(_))
    ));
    let t = env.target("t", img.len());
    assert!(matches!(
        e.restore("tenantB", "shared-id", &t, RestoreOptions::default()).await,
        Err(EngineError::BackupNotFound(_))
    ));
    assert!(matches!(e.verify("tenantB", "shared-id").await, Err(EngineError::BackupNotFound(_))));
    // Identical data in B is stored again: no cross-tenant dedup.
    let b = backup(&e, "tenantB", "b1", &src, None).await.unwrap();
    assert_eq!(b.blocks_new, a.blocks_new);
    assert_eq!(b.payload_bytes, a.payload_bytes);
    // A manifest planted into B's prefix is refused (it names project A).
    let from = env.store_dir.join("vbs/projects/tenantA/manifests/shared-id.manifest");
    let to = env.store_dir.join("vbs/projects/tenantB/manifests/planted.manifest");
    std::fs::copy(&from, &to).unwrap();
    assert!(matches!(
        e.restore("tenantB", "planted", &t, RestoreOptions::default()).await,
        Err(EngineError::Corrupt { .. })
    ));
    std::fs::remove_file(&to).unwrap();
    // B's GC never touches A.
    e.delete_backup("tenantB", "b1").await.unwrap();
    e.gc("tenantB", &gc_now()).await.unwrap();
    assert_eq!(e.usage("tenantB").await.unwrap().packs, 0);
    assert_restores(&env, &e, "tenantA", "shared-id", &img).await;
    // Ids that could escape the prefix are rejected.
    for bad in ["../tenantA", "a/b", ""] {
        assert!(matches!(backup(&e, bad, "x", &src, None).await, Err(EngineError::InvalidInput(_))));
        assert!(matches!(backup(&e, "tenantB", bad, &src, None).await, Err(EngineError::InvalidInput(_))));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_options_and_target_checks() {
    let env = Env::new();
    let e = env.engine();
    let img = make_image(700 * 1024 + 3, 61);
    let src = env.image("disk", &img);
    backup(&e, P, "r", &src, None).await.unwrap();
    // A dirty target: skipping zeros leaves garbage, write_zeros restores exactly.
    let dirty = env.image("dirty", &vec![0xAAu8; img.len() + 100]);
    e.restore(P, "r", &dirty, RestoreOptions::default()).await.unwrap();
    assert_ne!(sha256_file_prefix(&dirty, img.len()), sha256(&img));
    let st = e
        .restore(P, "r", &dirty, RestoreOptions { write_zeros: true, ..RestoreOptions::default() })
        .await
        .unwrap();
    assert_eq!(st.written_bytes, img.len() as u64);
    assert_eq!(sha256_file_prefix(&dirty, img.len()), sha256(&img));
    // Too small a target is refused before anything is written.
    let small = env.target("small", img.len() - 1);
    assert!(matches!(
        e.restore(P, "r", &small, RestoreOptions::default()).await,
        Err(EngineError::TargetTooSmall { .. })
    ));
    let missing = env.path("nope");
    assert!(matches!(
        e.restore(P, "r", &missing, RestoreOptions::default()).await,
        Err(EngineError::Io { .. })
    ));
    assert!(matches!(backup(&e, P, "s", &missing, None).await, Err(EngineError::Io { .. })));
    // No marker or lease is left behind.
    assert!(env.files_under(&format!("vbs/projects/{P}/pending")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_on_in_memory_store() {
    let env = Env::new();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let e = Engine::new(store, test_config()).unwrap();
    let mut img = make_image(1024 * 1024 + 1, 71);
    let src = env.image("disk", &img);
    backup(&e, P, "m1", &src, None).await.unwrap();
    change_blocks(&mut img, &[1, 2, 3], 5);
    write_file(&src, &img);
    let s = backup(&e, P, "m2", &src, Some("m1")).await.unwrap();
    assert_eq!(s.blocks_new, 3);
    assert_restores(&env, &e, P, "m2", &img).await;
    e.delete_backup(P, "m1").await.unwrap();
    e.gc(P, &gc_now()).await.unwrap();
    assert_restores(&env, &e, P, "m2", &img).await;
}

/// A store on a really full filesystem (a 1 MiB tmpfs): the backup fails with an error the
/// service can tell apart (`is_storage_full`), and once space is freed the next backup succeeds.
/// Mounting needs root, as on the CI machine; elsewhere the test says so and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_is_reported_as_full_and_works_again_once_space_is_freed() {
    if !nix_is_root() {
        eprintln!("not root: cannot mount a small tmpfs, a_full_store… checks nothing here");
        return;
    }
    let env = Env::new();
    let mount = env.path("small-store");
    std::fs::create_dir_all(&mount).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(status.success(), "mount a 1 MiB tmpfs at {}", mount.display());
    let unmount = Unmount(mount.clone());

    let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&mount).unwrap());
    let e = Engine::new(store, test_config()).unwrap();
    // 4 MiB of incompressible data cannot fit into 1 MiB.
    let mut big = vec![0u8; 4 * 1024 * 1024];
    Rng::new(5).fill(&mut big);
    let src = env.image("big", &big);
    let err = backup(&e, P, "too-big", &src, None).await.unwrap_err();
    assert!(err.is_storage_full(), "{err:?}");

    // What the failed backup wrote was deleted with it: the next backup fits at once.
    let small = make_image(256 * 1024, 6);
    let src = env.image("small", &small);
    backup(&e, P, "fits", &src, None).await.unwrap();
    assert_restores(&env, &e, P, "fits", &small).await;
    drop(unmount);
}

fn nix_is_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// What a killed write leaves in a local store's directory (`<object>#<n>`, hidden from the
/// store's listing) is counted by usage and deleted by GC once it is old enough that no live
/// write can own it; committed data is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_files_of_killed_writes_are_counted_and_collected() {
    let env = Env::new();
    let e = Engine::new(
        env.local.clone(),
        backup_engine::EngineConfig { local_root: Some(env.store_dir.clone()), ..test_config() },
    )
    .unwrap();
    let img = make_image(1024 * 1024 + 5, 21);
    let src = env.image("disk", &img);
    backup(&e, P, "b1", &src, None).await.unwrap();
    let before = e.usage(P).await.unwrap();
    assert_eq!((before.staging_files, before.staging_bytes), (0, 0));

    let dir = env.store_dir.join(format!("vbs/projects/{P}/packs/00000000deadbeef"));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("0000000000000001.pack#4");
    std::fs::write(&old, vec![7u8; 5000]).unwrap();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(an_hour_ago).unwrap();
    let fresh = env.store_dir.join(format!("vbs/projects/{P}/manifests/b2.manifest#9"));
    std::fs::write(&fresh, vec![1u8; 300]).unwrap();

    let u = e.usage(P).await.unwrap();
    assert_eq!((u.staging_files, u.staging_bytes), (2, 5300));
    assert_eq!((u.packs, u.manifests), (before.packs, before.manifests), "not objects");

    let r = e.gc(P, &gc_now()).await.unwrap();
    assert_eq!((r.staging_files_removed, r.staging_bytes_freed), (1, 5000), "{r:?}");
    assert!(!old.exists());
    assert!(fresh.exists(), "a staging file this young may belong to a live write");
    assert_eq!(e.usage(P).await.unwrap().staging_files, 1);
    assert_restores(&env, &e, P, "b1", &img).await;

    // A 6 h grace keeps an hour-old file too.
    std::fs::write(&old, vec![7u8; 5000]).unwrap();
    std::fs::File::options().write(true).open(&old).unwrap().set_modified(an_hour_ago).unwrap();
    let r = e.gc(P, &GcOptions { grace: Duration::from_secs(6 * 3600), ..gc_now() }).await.unwrap();
    assert_eq!(r.staging_files_removed, 0);
    assert!(old.exists());
}

/// An attempt that died (its process killed: marker and packs left behind) is resumed by the
/// next attempt at the same backup: the blocks it stored are referenced, not written again;
/// GC keeps them while the retry runs, and afterwards nothing is left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_backup_resumes_from_the_packs_its_dead_attempt_stored() {
    let mut img = vec![0u8; 4 * 1024 * 1024 + 77];
    Rng::new(41).fill(&mut img);
    // How much a whole backup of this image writes, on a store of its own.
    let reference = Env::new();
    let full = backup(&reference.engine(), P, "b", &reference.image("disk", &img), None).await.unwrap();

    let env = Env::new();
    let ts = Arc::new(TestStore::new(env.local.clone()));
    let e = Engine::new(ts.clone(), test_config()).unwrap();
    let src = env.image("disk", &img);
    ts.fail_packs_after.store(20, Ordering::SeqCst);
    ts.dies_before_cleanup.store(true, Ordering::SeqCst);
    assert!(backup(&e, P, "b", &src, None).await.is_err());
    ts.dies_before_cleanup.store(false, Ordering::SeqCst);
    ts.fail_packs_after.store(usize::MAX, Ordering::SeqCst);
    let stored_by_dead = e.usage(P).await.unwrap().packs;
    assert!(stored_by_dead >= 20, "{stored_by_dead}");

    // GC between the attempts keeps the dead attempt's packs: its marker is still live.
    assert_eq!(e.gc(P, &gc_now()).await.unwrap().packs_deleted, 0);
    let st = backup(&e, P, "b", &src, None).await.unwrap();
    assert_eq!(st.blocks_total, full.blocks_total);
    assert!(
        st.objects_written + stored_by_dead <= full.objects_written + 1,
        "resumed: wrote {} objects after {stored_by_dead} stored by the dead attempt, a whole backup writes {}",
        st.objects_written,
        full.objects_written
    );
    assert!(st.blocks_reused >= stored_by_dead, "{st:?}");

    let expired = GcOptions { pending_ttl: Duration::ZERO, ..gc_now() };
    let r = e.gc(P, &expired).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "every stored pack is referenced: {r:?}");
    assert!(env.files_under(&format!("vbs/projects/{P}/pending")).is_empty());
    assert!(e.verify(P, "b").await.unwrap().is_ok());
    assert_restores(&env, &e, P, "b", &img).await;
}
