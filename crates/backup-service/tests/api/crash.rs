//! Crash safety with a real worker process: `backup-service --role worker` as a child,
//! SIGKILLed in the middle of a backup. The backup is never `available` with missing data;
//! another worker resumes it from the packs the killed attempt stored (or, past the attempt
//! limit, marks it `error` with a reason, and garbage collection reclaims those packs).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use backup_service::{config::Role, engine};
use serde_json::Value;

use service_kit::testing::BrokerProxy;

use crate::helpers::{MIB, Rng, TestApp, sha256, sha256_file, spawn_app_with};

fn spawn_worker(app: &TestApp, max_attempts: u32, log: &Path) -> Child {
    spawn_worker_via(app, &app.amqp.url, max_attempts, log)
}

/// A worker process reaching the broker at `amqp_url` (e.g. through a [`BrokerProxy`]).
fn spawn_worker_via(app: &TestApp, amqp_url: &str, max_attempts: u32, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_backup-service"))
        .arg("--role")
        .arg("worker")
        .env("VBS_BACKUP_DATABASE_URL", &app.settings.database.url)
        .env("VBS_CREATE_DATABASE", "false")
        .env("VBS_DB_POOL_SIZE", "4")
        .env("VBS_AMQP_URL", amqp_url)
        .env("VBS_AMQP_NAMESPACE", &app.amqp.namespace)
        .env("VBS_AMQP_EPHEMERAL", "true")
        .env("VBS_VOLUMES_ROOT", &app.volumes_root)
        .env("VBS_OBJECT_STORE", app.dirs.path().join("objects"))
        .env("VBS_BACKUP_ENGINE_THREADS", "1")
        .env("VBS_BACKUP_HEARTBEAT_SECS", "0.1")
        .env("VBS_BACKUP_JOB_TIMEOUT_SECS", "3")
        .env("VBS_BACKUP_REAP_INTERVAL_SECS", "0.5")
        .env("VBS_BACKUP_MAX_ATTEMPTS", max_attempts.to_string())
        .env("VBS_BACKUP_GC_INTERVAL_SECS", "0")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn progress(app: &TestApp, id: &str) -> (String, i64, i64) {
    let pool = app.pool.clone();
    let id = id.to_owned();
    tokio::task::spawn_blocking(move || {
        use backup_service::store::schema::backups::dsl as b;
        use diesel::prelude::*;
        b::backups
            .find(id)
            .select((b::status, b::progress_done, b::progress_total))
            .first::<(String, i64, i64)>(&mut pool.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap()
}

fn pack_files(app: &TestApp) -> usize {
    let dir = app.dirs.path().join("objects/vbs/projects").join(&app.project).join("packs");
    walk(&dir)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        usize::from(e.path().extension().is_some_and(|x| x == "pack"))
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Starts a backup on a child worker and SIGKILLs it half way; returns the backup id and
/// the volume's content.
async fn kill_mid_backup(app: &TestApp, log: &Path) -> (String, Vec<u8>, String) {
    // Incompressible data, large enough that the backup takes seconds in a debug build.
    let mut img = vec![0u8; 160 * MIB + 4097];
    Rng(7).fill(&mut img);
    let volume = app.volume_with(&img);
    let id = app.create_backup(&volume, "victim").await;
    let worker = Killed(spawn_worker(app, 3, log));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (status, done, total) = progress(app, &id).await;
        assert_eq!(status, "creating", "the backup must still be running when the worker is killed");
        // Half way: some of its packs are in the store, the rest and the manifest are not.
        if done > 0 && done < total && pack_files(app) > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker never started the backup");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(worker); // SIGKILL
    (id, img, volume)
}

#[tokio::test]
async fn a_killed_worker_s_backup_is_resumed_from_the_packs_it_stored() {
    // The API in this process; every job runs in child worker processes.
    let app = spawn_app_with(|s| s.role = Role::Api).await;
    let (id, img, _) = kill_mid_backup(&app, &app.dirs.path().join("worker1.log")).await;
    let (status, _, _) = progress(&app, &id).await;
    assert_eq!(status, "creating", "never available with missing data");
    let partial = pack_files(&app);
    assert!(partial > 0, "the killed attempt wrote packs");
    let show: Value = app.show(&id).await.json().await.unwrap();
    assert_eq!(show["backup"]["object_count"], Value::Null);

    // A new worker: the reaper finds the stale lease, the job runs again and completes.
    let _worker = Killed(spawn_worker(&app, 3, &app.dirs.path().join("worker2.log")));
    let b = app.wait_backup(&id, "available").await;
    let attempts = app.count("SELECT max(attempts)::bigint FROM jobs").await;
    assert_eq!(attempts, 2, "resumed once");
    let written = b["object_count"].as_u64().unwrap() as usize - 1;
    // Resumed from what the killed attempt stored: the second wrote only the rest.
    assert_eq!(pack_files(&app), partial + written, "every pack is the killed attempt's or the second's");

    // GC (no grace) finds nothing to reclaim: the backup references the killed attempt's packs
    // too. The backup is whole.
    let opts = engine::gc_options(&app.settings.worker);
    let report = engine::gc_project(&app.pool, &app.engine, &app.project_id(), &opts).await.unwrap().unwrap();
    assert_eq!(report.packs_deleted, 0, "{report:?}");
    assert_eq!(pack_files(&app), partial + written);
    assert!(app.engine.verify(&app.project, &id).await.unwrap().is_ok());
    let target = app.empty_volume(img.len() as u64);
    app.restore(&id, &target).await;
    assert_eq!(sha256_file(&app.disk(&target)), sha256(&img));
}

#[tokio::test]
async fn past_the_attempt_limit_a_killed_backup_is_an_error_and_gc_reclaims_everything() {
    let app = spawn_app_with(|s| s.role = Role::Api).await;
    let (id, _, volume) = kill_mid_backup(&app, &app.dirs.path().join("worker1.log")).await;
    assert!(pack_files(&app) > 0);
    // The only attempt allowed was the killed one.
    let _worker = Killed(spawn_worker(&app, 1, &app.dirs.path().join("worker2.log")));
    let b = app.wait_backup(&id, "error").await;
    let reason = b["fail_reason"].as_str().unwrap();
    assert!(reason.contains("stopped before it finished"), "{reason}");
    let job: Value = app
        .get_url(&app.url_v(
            "v1",
            &format!("/jobs/{}", {
                let pool = app.pool.clone();
                tokio::task::spawn_blocking(move || {
                    use backup_service::store::schema::jobs::dsl as j;
                    use diesel::prelude::*;
                    j::jobs.select(j::id).first::<String>(&mut pool.get().unwrap()).unwrap()
                })
                .await
                .unwrap()
            }),
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (job["status"].as_str(), job["error_code"].as_str()),
        (Some("FAIL"), Some("VolumeBackup.0027"))
    );

    // The dead attempt's marker is gone: GC takes every pack at once, not after a TTL.
    let opts = engine::gc_options(&app.settings.worker);
    let report = engine::gc_project(&app.pool, &app.engine, &app.project_id(), &opts).await.unwrap().unwrap();
    assert!(report.packs_deleted > 0, "{report:?}");
    assert_eq!(pack_files(&app), 0);
    // The volume is free again: a new backup succeeds.
    let again = app.create_backup(&volume, "again").await;
    app.wait_backup(&again, "available").await;
}

/// The broker goes away twice while a worker runs a backup: the worker keeps backing up (its
/// lease lives in the database), reconnects, and the backup ends `available` on its first
/// attempt, restoring byte for byte.
#[tokio::test]
async fn a_broker_outage_never_fails_or_restarts_a_running_backup() {
    let app = spawn_app_with(|s| s.role = Role::Api).await;
    let upstream = "127.0.0.1:5672".parse().unwrap();
    let proxy = BrokerProxy::start(upstream).await.unwrap();
    let mut img = vec![0u8; 384 * MIB + 4097];
    Rng(11).fill(&mut img);
    let volume = app.volume_with(&img);
    let log = app.dirs.path().join("worker.log");
    let _worker = Killed(spawn_worker_via(&app, &proxy.amqp_url(), 3, &log));
    let id = app.create_backup(&volume, "through-outages").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while progress(&app, &id).await.1 == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the worker never started the backup");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut outages = 0;
    for _ in 0..2 {
        let (status, done, total) = progress(&app, &id).await;
        if status != "creating" || done >= total {
            break;
        }
        proxy.cut().await;
        tokio::time::sleep(Duration::from_millis(3500)).await; // longer than the job timeout (3 s)
        proxy.restore();
        outages += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(outages >= 1, "the backup finished before the broker went away: make it bigger");

    let b = app.wait_backup(&id, "available").await;
    assert_eq!(app.count("SELECT max(attempts)::bigint FROM jobs").await, 1, "never restarted");
    assert_eq!(b["fail_reason"], Value::Null);
    let target = app.empty_volume(img.len() as u64);
    app.restore(&id, &target).await;
    app.wait_backup(&id, "available").await;
    assert_eq!(sha256_file(&app.disk(&target)), sha256(&img));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("consumer lost the broker"), "the outage was seen:\n{log}");
    eprintln!("{outages} broker outages of 3.5 s during the backup; finished on attempt 1");
}
