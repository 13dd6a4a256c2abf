//! The `rbd` volume driver on a real single-node Ceph (`scripts/ceph.sh`, started unless it
//! answers): full and changed-block incremental backups, byte-identical restores (`rbd
//! export` of source and target), the fallback when the base snapshot is gone, Cinder
//! snapshots, the project boundary, and a cluster that stops in the middle of a backup.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, OnceLock},
    time::Duration,
};

use api_types::domain::{ProjectId, ResourceId};
use backup_engine::{BackupRequest, BackupStats, Engine, EngineConfig, RestoreOptions, Source};
use backup_service::volumes::{
    DriverSettings, RbdSettings, RbdVolumes, VolumeDriver, VolumeError,
    rbd::{NAME_KEY, PROJECT_KEY},
};
use ceph_rbd::{Image, Pool};
use serde_json::{Value, json};

use crate::helpers::{MIB, Rng, TestApp, assert_fault, sha256, spawn_app_with};

const BLOCK: u64 = 64 * 1024;

/// `scripts/ceph.sh <command>` with `env`; returns the `CEPH_CONF=` it printed, if any.
fn ceph_sh(command: &str, env: &[(&str, &str)]) -> Option<PathBuf> {
    let out = Command::new("bash")
        .arg(service_kit::testing::repo_file("scripts/ceph.sh"))
        .arg(command)
        .envs(env.iter().copied())
        .output()
        .expect("run scripts/ceph.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ceph.sh {command}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().find_map(|l| l.strip_prefix("CEPH_CONF=")).map(PathBuf::from)
}

/// The shared test cluster's ceph.conf (started once per test process).
fn conf() -> &'static Path {
    static CONF: OnceLock<PathBuf> = OnceLock::new();
    CONF.get_or_init(|| ceph_sh("up", &[]).expect("CEPH_CONF"))
}

fn settings(conf: &Path) -> RbdSettings {
    RbdSettings {
        pool: "rbd".into(),
        conf: conf.to_owned(),
        user: None,
        keyring: None,
        timeout: Duration::from_secs(5),
    }
}

/// The service on the rbd driver, and a driver of its own for the test's set-up.
async fn spawn_rbd_app(conf: &Path) -> (TestApp, RbdVolumes) {
    let s = settings(conf);
    let service = s.clone();
    let app = spawn_app_with(move |settings| settings.volumes = DriverSettings::Rbd(service)).await;
    (app, RbdVolumes::new(s))
}

/// A volume of `size` bytes of the project, and an in-memory copy of what it holds; removed
/// with its snapshots when dropped, also when the test fails (the test cluster's OSD keeps
/// everything in RAM).
struct TestVolume {
    id: ResourceId,
    /// The test's handle (`None` once the test removed the volume itself).
    image: Option<Image>,
    data: Vec<u8>,
    pool: Pool,
}

impl TestVolume {
    fn create(drv: &RbdVolumes, project: &ProjectId, size: usize) -> Self {
        let id = ResourceId::new_v4();
        drv.create_volume(project, id, size as u64, Some("data"), None).unwrap();
        let pool = drv.pool().unwrap();
        let image = Some(pool.open(&format!("volume-{id}")).unwrap());
        Self { id, image, data: vec![0; size], pool }
    }

    fn image(&self) -> &Image {
        self.image.as_ref().unwrap()
    }

    /// Closes the test's handle (an open image is busy) and removes the volume through the
    /// driver.
    fn remove(mut self, drv: &RbdVolumes, project: &ProjectId) {
        self.image = None;
        drv.remove_volume(project, self.id).unwrap();
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        self.image().write_all_at(data, offset as u64).unwrap();
        self.data[offset..offset + data.len()].copy_from_slice(data);
    }

    /// Noise in every other MiB of the first `mib` MiB (the rest never written: unallocated).
    fn fill_alternate(&mut self, mib: usize, seed: u64) {
        let mut rng = Rng(seed);
        let mut chunk = vec![0u8; MIB];
        for m in (0..mib).step_by(2) {
            rng.fill(&mut chunk);
            self.write(m * MIB, &chunk);
        }
    }

    /// `n` writes of 4 KiB at scattered, unaligned offsets; returns the 64 KiB blocks touched.
    fn scatter(&mut self, n: usize, seed: u64) -> usize {
        let len = self.data.len();
        self.scatter_in(n, seed, |rng| rng.below((len - 4096) as u64) as usize)
    }

    /// `n` writes of 4 KiB at offsets `at` picks; returns the 64 KiB blocks touched.
    fn scatter_in(&mut self, n: usize, seed: u64, mut at: impl FnMut(&mut Rng) -> usize) -> usize {
        let mut rng = Rng(seed);
        let mut blocks = std::collections::BTreeSet::new();
        let mut buf = vec![0u8; 4096];
        for _ in 0..n {
            let offset = at(&mut rng);
            rng.fill(&mut buf);
            self.write(offset, &buf);
            blocks.insert(offset as u64 / BLOCK);
            blocks.insert((offset + buf.len() - 1) as u64 / BLOCK);
        }
        blocks.len()
    }

    fn snapshots(&self) -> Vec<String> {
        self.image().snapshots().unwrap()
    }
}

impl Drop for TestVolume {
    fn drop(&mut self) {
        let Some(image) = self.image.take() else { return };
        for snap in image.snapshots().unwrap_or_default() {
            let _ = image.snap_remove(&snap);
        }
        // An open image is busy: closed first.
        drop(image);
        let _ = self.pool.remove(&format!("volume-{}", self.id));
    }
}

/// sha256 of `rbd export pool/volume-<id>` (the whole image, as Ceph's own tool reads it).
fn export_sha(conf: &Path, volume: ResourceId) -> String {
    let out = Command::new("rbd")
        .arg("-c")
        .arg(conf)
        .args(["export", &format!("rbd/volume-{volume}"), "-"])
        .output()
        .expect("rbd export");
    assert!(out.status.success(), "rbd export: {}", String::from_utf8_lossy(&out.stderr));
    sha256(&out.stdout)
}

async fn create_backup(app: &TestApp, body: Value) -> String {
    let res = app.post("/backups", &json!({ "backup": body })).await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let v: Value = res.json().await.unwrap();
    v["backup"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn full_and_changed_block_incremental_backups_restore_byte_for_byte() {
    let conf = conf();
    let (app, drv) = spawn_rbd_app(conf).await;
    let project = app.project_id();
    let mut v = TestVolume::create(&drv, &project, 48 * MIB);
    v.fill_alternate(32, 1);

    // What openstackclient sends: no snapshot. The driver takes vbs-<backup>.
    let b1 = create_backup(&app, json!({"volume_id": v.id.to_string(), "name": "full"})).await;
    let shown = app.wait_backup(&b1, "available").await;
    assert_eq!(shown["is_incremental"], false);
    let after_b1 = v.data.clone();
    assert_eq!(v.snapshots(), vec![format!("vbs-{b1}")]);

    // About 1 % of the allocated data changes, in 4 KiB writes.
    let touched = v.scatter(40, 2);
    let b2 = create_backup(&app, json!({"volume_id": v.id.to_string(), "name": "incr"})).await;
    let shown = app.wait_backup(&b2, "available").await;
    assert_eq!(shown["is_incremental"], true);
    let stats = app.engine.backup_info(project.as_str(), &b2).await.unwrap().stats;
    assert!(stats.blocks_new <= touched as u64, "{stats:?}, {touched} blocks touched");
    assert!(stats.blocks_new >= touched as u64 / 2, "{stats:?}, {touched} blocks touched");
    // The new base replaces the old one (removed after the backup is available).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while v.snapshots() != vec![format!("vbs-{b2}")] {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", v.snapshots());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Restores into another image of the project: each backup as it was.
    let target = TestVolume::create(&drv, &project, 48 * MIB);
    for (backup, expected) in [(&b1, &after_b1), (&b2, &v.data)] {
        app.restore(backup, &target.id.to_string()).await;
        assert_eq!(export_sha(conf, target.id), sha256(expected), "backup {backup}");
    }
    assert_eq!(export_sha(conf, v.id), sha256(&v.data));
    v.remove(&drv, &project);
    target.remove(&drv, &project);
}

/// The driver and the engine without the service: how much each backup reads.
#[tokio::test]
async fn only_changed_extents_are_read_and_a_lost_base_snapshot_reads_what_is_allocated() {
    let drv = RbdVolumes::new(settings(conf()));
    let project = ProjectId::parse(&format!("p{}", uuid::Uuid::new_v4().simple())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let engine = Engine::new(store, EngineConfig::default()).unwrap();
    let mut v = TestVolume::create(&drv, &project, 64 * MIB);
    v.fill_alternate(40, 3);
    let volume = drv.volume(&project, v.id).unwrap();

    let back_up = async |id: &str, parent: Option<&str>| -> BackupStats {
        let source = drv.take_snapshot(&project, &volume, ResourceId::parse("b", id).unwrap()).unwrap();
        let req = BackupRequest {
            project: project.as_str(),
            backup_id: id,
            source: Source::Reader(Arc::clone(&source.reader)),
            parent,
            progress: None,
        };
        let stats = engine.backup(req).await.unwrap();
        source.release(true);
        stats
    };
    let ids: Vec<String> = (0..3).map(|_| ResourceId::new_v4().to_string()).collect();

    // Full: only the allocated objects are read, not the 64 MiB image. Ceph reports a new
    // object from its start to its last written byte: 3 MiB of each of the ten 4 MiB objects
    // with 1 MiB written at 0 and 2 MiB.
    let full = back_up(&ids[0], None).await;
    assert_eq!(full.bytes_read, 30 * MIB as u64, "{full:?}");

    // Incremental after rewrites of allocated data, which Ceph reports exactly: the blocks the
    // writes touched, and nothing else.
    let touched = v
        .scatter_in(30, 4, |rng| rng.below(20) as usize * 2 * MIB + rng.below((MIB - 4096) as u64) as usize)
        as u64;
    let incr = back_up(&ids[1], Some(&ids[0])).await;
    assert_eq!(incr.bytes_read, touched * BLOCK, "{incr:?}, {touched} blocks touched");
    assert!(incr.blocks_new <= touched, "{incr:?}");
    assert_eq!(v.snapshots(), vec![format!("vbs-{}", ids[1])]);

    // The base snapshot is gone (an operator removed it): the allocated extents are read, the
    // parent's blocks still deduplicate what did not change.
    v.image().snap_remove(&format!("vbs-{}", ids[1])).unwrap();
    let touched = v.scatter(10, 5) as u64;
    let fallback = back_up(&ids[2], Some(&ids[1])).await;
    assert!(fallback.bytes_read >= 30 * MIB as u64, "{fallback:?}");
    assert!(fallback.blocks_new <= touched, "{fallback:?}");

    // A committed backup's release removes older `vbs-` snapshots only: the volume's next
    // backup may already be reading a newer one. A failed backup's removes its own.
    let (x, y) = (ResourceId::new_v4(), ResourceId::new_v4());
    let sx = drv.take_snapshot(&project, &volume, x).unwrap();
    let sy = drv.take_snapshot(&project, &volume, y).unwrap();
    sx.release(true);
    assert_eq!(v.snapshots(), vec![format!("vbs-{x}"), format!("vbs-{y}")]);
    sy.release(false);
    assert_eq!(v.snapshots(), vec![format!("vbs-{x}")]);

    let target = TestVolume::create(&drv, &project, 64 * MIB);
    let t = drv.restore_target(&project, &drv.volume(&project, target.id).unwrap()).unwrap();
    engine.restore_to(project.as_str(), &ids[2], t.writer, RestoreOptions::default()).await.unwrap();
    assert_eq!(export_sha(conf(), target.id), sha256(&v.data));
    v.remove(&drv, &project);
    target.remove(&drv, &project);
}

#[tokio::test]
async fn a_cinder_snapshot_is_backed_up_by_its_id() {
    let conf = conf();
    let (app, drv) = spawn_rbd_app(conf).await;
    let project = app.project_id();
    let mut v = TestVolume::create(&drv, &project, 16 * MIB);
    v.fill_alternate(8, 6);
    // As Cinder names its snapshots.
    let snapshot = ResourceId::new_v4();
    v.image().snap_create(&format!("snapshot-{snapshot}")).unwrap();
    let at_snapshot = v.data.clone();
    v.scatter(20, 7);

    let id = create_backup(
        &app,
        json!({"volume_id": v.id.to_string(), "snapshot_id": snapshot.to_string(), "name": "snap"}),
    )
    .await;
    let shown = app.wait_backup(&id, "available").await;
    assert_eq!(shown["snapshot_id"], snapshot.to_string());
    // A Cinder snapshot is not VBS's to keep or remove.
    assert_eq!(v.snapshots(), vec![format!("snapshot-{snapshot}")]);

    let target = TestVolume::create(&drv, &project, 16 * MIB);
    app.restore(&id, &target.id.to_string()).await;
    assert_eq!(export_sha(conf, target.id), sha256(&at_snapshot));

    // cinderclient's default: no volume given, a new one is made — an image of the project.
    let res = app.post(&format!("/backups/{id}/restore"), &json!({"restore": {"name": "restored"}})).await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let restore: Value = res.json().await.unwrap();
    let new = ResourceId::parse("v", restore["restore"]["volume_id"].as_str().unwrap()).unwrap();
    app.wait_backup(&id, "available").await;
    let made = drv.volume(&project, new).unwrap();
    assert_eq!((made.name.as_str(), made.size), ("restored", 16 * MIB as u64));
    assert_eq!(export_sha(conf, new), sha256(&at_snapshot));
    drv.remove_volume(&project, new).unwrap();

    let res = app
        .post(
            "/backups",
            &json!({"backup": {"volume_id": v.id.to_string(), "snapshot_id": ResourceId::new_v4().to_string()}}),
        )
        .await;
    assert_fault(res, 400, "badRequest", json!("VolumeBackup.0020")).await;
    v.remove(&drv, &project);
    target.remove(&drv, &project);
}

#[tokio::test]
async fn images_of_other_projects_or_without_an_owner_are_not_found() {
    let conf = conf();
    let (app, drv) = spawn_rbd_app(conf).await;
    let project = app.project_id();
    let other = ProjectId::parse(&format!("p{}", uuid::Uuid::new_v4().simple())).unwrap();
    let mine = TestVolume::create(&drv, &project, 4 * MIB);
    let theirs = TestVolume::create(&drv, &other, 4 * MIB);
    // A Cinder volume nobody assigned to a project.
    let pool: Pool = drv.pool().unwrap();
    let orphan = ResourceId::new_v4();
    pool.create(&format!("volume-{orphan}"), 4 * MIB as u64).unwrap();
    let named = pool.open(&format!("volume-{orphan}")).unwrap();
    named.metadata_set(NAME_KEY, "orphan").unwrap();
    assert_eq!(named.metadata_get(PROJECT_KEY).unwrap(), None);

    let res = app.get_url(&app.url_v("v3", "/volumes")).await;
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    let ids: Vec<&str> =
        listed["volumes"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![mine.id.to_string()]);
    for volume in [theirs.id, orphan] {
        let res = app.get_url(&app.url_v("v3", &format!("/volumes/{volume}"))).await;
        assert_eq!(res.status(), 404, "{volume}");
        let res = app.post("/backups", &json!({"backup": {"volume_id": volume.to_string()}})).await;
        assert_fault(res, 400, "badRequest", json!("VolumeBackup.0021")).await;
        assert!(matches!(drv.volume(&project, volume), Err(VolumeError::VolumeNotFound(_))));
    }
    mine.remove(&drv, &project);
    theirs.remove(&drv, &other);
    drop(named);
    pool.remove(&format!("volume-{orphan}")).unwrap();
}

/// A cluster of its own (other port and state directory), stopped while a backup reads it.
#[tokio::test]
async fn a_cluster_stopped_mid_backup_fails_the_backup_with_a_clear_reason() {
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().display().to_string();
    let env = [
        ("VBS_CEPH_HOME", home_s.as_str()),
        ("VBS_CEPH_MON_PORT", "3391"),
        ("VBS_CEPH_OSD_BYTES", "1073741824"),
    ];
    let conf = ceph_sh("up", &env).expect("CEPH_CONF");
    let stop = scopeguard(|| {
        ceph_sh("down", &env);
    });
    let (app, drv) = spawn_rbd_app(&conf).await;
    let project = app.project_id();
    let mut v = TestVolume::create(&drv, &project, 256 * MIB);
    let mut rng = Rng(8);
    let mut chunk = vec![0u8; 4 * MIB];
    for m in (0..256).step_by(4) {
        rng.fill(&mut chunk);
        v.write(m * MIB, &chunk);
    }
    let id = create_backup(&app, json!({"volume_id": v.id.to_string(), "name": "outage"})).await;
    // Stop the cluster once the backup is reading.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let b: Value = app.show(&id).await.json().await.unwrap();
        let b = &b["backup"];
        let meta: Value = serde_json::from_str(b["service_metadata"].as_str().unwrap_or("{}")).unwrap();
        if b["status"] == "creating" && meta["bytes_done"].as_u64().is_some_and(|d| d > 0) {
            break;
        }
        assert_ne!(b["status"], "available", "finished before the cluster could stop");
        assert!(tokio::time::Instant::now() < deadline, "{b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ceph_sh("stop", &env);
    let b = app.wait_backup(&id, "error").await;
    let reason = b["fail_reason"].as_str().unwrap();
    assert_eq!(reason, "reading the volume failed: timed out");
    // Nothing half-written became a backup.
    assert!(app.engine.backup_info(project.as_str(), &id).await.is_err());
    // Its cluster goes away with everything in it: no removal that would wait for timeouts.
    std::mem::forget(v);
    drop(stop);
}

/// Runs `f` when dropped (also when the test panics).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
