//! The VBS API: cloudbackups create and restore as jobs, polled the way the Go SDK and
//! otcextensions poll them, and quotas.

use serde_json::{Value, json};

use crate::helpers::{MIB, Rng, assert_error, make_image, sha256, sha256_file, spawn_app, spawn_app_with};

async fn job_id(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 200, "VBS create and restore answer 200");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    v["job_id"].as_str().unwrap().to_owned()
}

fn is_job_time(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    // 2016-01-28T16:14:09.466Z
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn create_and_restore_through_jobs() {
    let app = spawn_app().await;
    let img = make_image(3 * MIB + 99, 70);
    let volume = app.volume_with(&img);
    let job = job_id(
        app.post(
            "/cloudbackups",
            &json!({"backup": {"volume_id": volume, "snapshot_id": null, "name": "backup1",
                "description": "Backup_Demo", "tags": [{"key": "key", "value": "value"}]}}),
        )
        .await,
    )
    .await;
    let done = app.wait_job(&job).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["job_type"], "bksCreateBackup");
    assert_eq!(done["job_id"], job.as_str());
    assert!(is_job_time(&done["begin_time"]) && is_job_time(&done["end_time"]), "{done}");
    assert_eq!(done["error_code"], Value::Null);
    assert_eq!(done["sub_jobs"], json!([]));
    let entities = done["entities"].as_object().unwrap();
    assert!(entities.values().all(Value::is_string), "the Go SDK needs string values: {done}");
    assert_eq!(entities["volume_id"], volume.as_str());
    assert_eq!(entities["bks_create_volume_name"], "backup1");
    assert_eq!(entities["progress"], "100");
    assert_eq!(entities["bytes_done"], img.len().to_string().as_str());
    let backup = entities["backup_id"].as_str().unwrap().to_owned();
    // otcextensions polls /v2/{project}/jobs/{id}; the Go SDK a 32-hex id at /v1 works too.
    let v2: Value = app.get(&format!("/jobs/{job}")).await.json().await.unwrap();
    assert_eq!(v2, done);
    let simple = uuid::Uuid::parse_str(&job).unwrap().simple().to_string();
    let v1: Value = app.get_url(&app.url_v("v1", &format!("/jobs/{simple}"))).await.json().await.unwrap();
    assert_eq!(v1["job_id"], job.as_str());

    let b = app.wait_backup(&backup, "available").await;
    assert_eq!(b["snapshot_id"], Value::Null);
    assert_eq!(b["description"], "Backup_Demo");
    let meta: Value = serde_json::from_str(b["service_metadata"].as_str().unwrap()).unwrap();
    // This file system cannot reflink: the live disk was read, and the backup says so.
    assert!(meta["crash_consistent"].is_boolean());

    // A second backup is incremental; FullBackup forces a full one.
    let mut img2 = img.clone();
    Rng(71).fill(&mut img2[MIB..MIB + 1000]);
    app.write_volume(&volume, &img2);
    let incr = app
        .wait_job(
            &job_id(app.post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "b2"}})).await)
                .await,
        )
        .await;
    let incr_id = incr["entities"]["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_backup(&incr_id, "available").await["is_incremental"], true);
    let full = app
        .wait_job(
            &job_id(
                app.post(
                    "/cloudbackups",
                    &json!({"backup": {"volume_id": volume, "name": "b3", "extend_param": {"FullBackup": "true"}}}),
                )
                .await,
            )
            .await,
        )
        .await;
    let full_id = full["entities"]["backup_id"].as_str().unwrap().to_owned();
    assert_eq!(app.wait_backup(&full_id, "available").await["is_incremental"], false);

    // Restore the first backup through the VBS API.
    let target = app.empty_volume(img.len() as u64);
    let restore = app
        .post(&format!("/cloudbackups/{backup}/restore"), &json!({"restore": {"volume_id": target}}))
        .await;
    let restored = app.wait_job(&job_id(restore).await).await;
    assert_eq!(restored["status"], "SUCCESS", "{restored}");
    assert_eq!(restored["job_type"], "bksRestoreBackup");
    assert_eq!(restored["entities"]["volume_id"], target.as_str());
    assert_eq!(restored["entities"]["backup_id"], backup.as_str());
    // A restore reports the bytes it wrote, however quickly it ran.
    assert_eq!(restored["entities"]["bytes_total"], img.len().to_string());
    assert_eq!(restored["entities"]["bytes_done"], img.len().to_string());
    assert_eq!(sha256_file(&app.disk(&target)), sha256(&img));

    // A deletion is a job too, visible through the backup's disappearance.
    assert_eq!(app.delete(&format!("/backups/{incr_id}")).await.status(), 202);
    app.wait_gone(&incr_id).await;
    assert_eq!(
        app.count("SELECT count(*) FROM jobs WHERE job_type = 'bksDeleteBackup' AND status = 'SUCCESS'")
            .await,
        1
    );

    // The vendor's deprecated delete, `POST …/cloudbackups/{backup_id}`: a job too.
    let deletion = app.post(&format!("/cloudbackups/{full_id}"), &json!({})).await;
    let deleted = app.wait_job(&job_id(deletion).await).await;
    assert_eq!(
        (deleted["status"].as_str(), deleted["job_type"].as_str()),
        (Some("SUCCESS"), Some("bksDeleteBackup"))
    );
    assert_eq!(deleted["entities"]["backup_id"], full_id.as_str());
    app.wait_gone(&full_id).await;
    let res = app.post(&format!("/cloudbackups/{full_id}"), &json!({})).await;
    crate::helpers::assert_error(res, 404, "VolumeBackup.0111").await;
    let res = app.post("/cloudbackups/not-an-id", &json!({})).await;
    crate::helpers::assert_error(res, 400, "VolumeBackup.0204").await;
}

#[tokio::test]
async fn a_failed_job_reports_its_code_and_reason() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 72));
    let job =
        job_id(app.post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "gone"}})).await)
            .await;
    // The volume disappears before (or while) the worker reads it.
    std::fs::remove_dir_all(app.disk(&volume).parent().unwrap()).unwrap();
    let done = app.wait_job(&job).await;
    if done["status"] == "FAIL" {
        assert_eq!(done["error_code"], "VolumeBackup.0021", "{done}");
        assert!(done["fail_reason"].as_str().unwrap().contains("does not exist"), "{done}");
        let backup = done["entities"]["backup_id"].as_str().unwrap();
        let b = app.wait_backup(backup, "error").await;
        assert_eq!(b["fail_reason"], done["fail_reason"]);
        // A failed backup can be deleted.
        assert_eq!(app.delete(&format!("/backups/{backup}")).await.status(), 202);
        app.wait_gone(backup).await;
    } else {
        // The worker was faster than the removal: a complete backup, equally fine.
        assert_eq!(done["status"], "SUCCESS");
    }
}

#[tokio::test]
async fn quotas_are_reported_and_enforced() {
    let app =
        spawn_app_with(|s| s.quotas = backup_service::config::Quotas { backups: 2, gigabytes: -1 }).await;
    let volume = app.volume_with(&make_image(MIB, 73));
    let quota = |v: &Value, t: &str| {
        v["quotas"]["resources"].as_array().unwrap().iter().find(|r| r["type"] == t).cloned().unwrap()
    };
    let v: Value = app.get("/cloudbackups/quota").await.json().await.unwrap();
    assert_eq!(quota(&v, "backups"), json!({"type": "backups", "used": 0, "reserved": 0, "quota": 2}));
    assert_eq!(
        quota(&v, "backup_gigabytes"),
        json!({"type": "backup_gigabytes", "used": 0, "reserved": 0, "quota": -1})
    );
    app.backup_available(&volume, "one").await;
    app.backup_available(&volume, "two").await;
    let v: Value = app.get("/cloudbackups/quota").await.json().await.unwrap();
    assert_eq!(quota(&v, "backups")["used"], 2);
    assert_eq!(quota(&v, "backup_gigabytes")["used"], 2);
    let res = app.post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "three"}})).await;
    assert_error(res, 400, "VolumeBackup.0080").await;
}
