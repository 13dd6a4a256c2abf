//! Every bad input gets a 4xx in its API's envelope: Cinder faults on the native endpoints,
//! `{"error":…}` on the VBS ones; never a 500, never actix's plain text, and never a path that
//! reaches the file system.

use serde_json::{Value, json};

use crate::helpers::{MIB, assert_error, assert_fault, make_image, spawn_app};

#[tokio::test]
async fn native_create_validation() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 60));
    let snapshot = app.snapshot(&volume);
    let code = |c: &str| json!(c);
    let cases = [
        (json!({"snapshot_id": snapshot}), "VolumeBackup.0010"),
        (json!({"volume_id": "", "snapshot_id": snapshot}), "VolumeBackup.0010"),
        (json!({"volume_id": "../../etc/passwd", "snapshot_id": snapshot}), "VolumeBackup.0011"),
        (json!({"volume_id": volume, "snapshot_id": "../x"}), "VolumeBackup.0020"),
        (json!({"volume_id": volume, "snapshot_id": uuid::Uuid::new_v4()}), "VolumeBackup.0020"),
        (json!({"volume_id": uuid::Uuid::new_v4(), "snapshot_id": snapshot}), "VolumeBackup.0021"),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "name": ""}), "VolumeBackup.0007"),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "name": "x".repeat(65)}), "VolumeBackup.0003"),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "name": "a b"}), "VolumeBackup.0004"),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "name": "autobk_1234"}), "VolumeBackup.0005"),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "description": "<b>"}), "VolumeBackup.0006"),
        (
            json!({"volume_id": volume, "snapshot_id": snapshot, "description": "d".repeat(256)}),
            "VolumeBackup.0006",
        ),
        (json!({"volume_id": volume, "snapshot_id": snapshot, "force": "yes"}), "VolumeBackup.0002"),
        (json!({"volume_id": 12, "snapshot_id": snapshot}), "VolumeBackup.0002"),
    ];
    for (body, expected) in cases {
        let msg = assert_fault(
            app.post("/backups", &json!({"backup": body})).await,
            400,
            "badRequest",
            code(expected),
        )
        .await;
        assert!(!msg.contains(app.dirs.path().to_str().unwrap()), "no paths in messages: {msg}");
    }
    let raw = |body: &'static str| {
        app.client
            .post(app.url("/backups"))
            .header("X-Auth-Token", &app.token)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for body in ["", "{", "[]", "{\"volume_id\": \"x\"}", "{\"backup\": 1}"] {
        assert_fault(raw(body).await.unwrap(), 400, "badRequest", code("VolumeBackup.0002")).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM backups").await, 0);
}

#[tokio::test]
async fn ids_in_paths_and_restore_bodies() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB + 1, 61));
    let id = app.backup_available(&volume, "b").await["id"].as_str().unwrap().to_owned();
    for bad in ["..", "..%2F..%2Fetc", "not-a-uuid", "%00", &"a".repeat(300)] {
        for url in [app.url(&format!("/backups/{bad}")), app.url_v("v3", &format!("/native/backups/{bad}"))] {
            let res = app.get_url(&url).await;
            assert!(res.status() == 404, "{url}: {}", res.status());
            let v: Value = res.json().await.unwrap();
            assert!(v["itemNotFound"]["code"] == 404 || v["badRequest"].is_object(), "{v}");
        }
        assert_fault(app.delete(&format!("/backups/{bad}")).await, 404, "itemNotFound", json!(404)).await;
    }
    let restore_url = format!("/backups/{id}/restore");
    assert_fault(app.post(&restore_url, &json!({})).await, 400, "badRequest", json!("VolumeBackup.0002"))
        .await;
    // (`{"restore": {}}` restores into a new volume: tests/api/cinder.rs.)
    for bad_name in [json!(""), json!("a\u{0}b"), json!("n".repeat(256))] {
        assert_fault(
            app.post(&restore_url, &json!({"restore": {"name": bad_name}})).await,
            400,
            "badRequest",
            json!("VolumeBackup.0002"),
        )
        .await;
    }
    assert_fault(
        app.post(&restore_url, &json!({"restore": {"volume_id": "/etc"}})).await,
        400,
        "badRequest",
        json!("VolumeBackup.0208"),
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    assert_fault(
        app.post(&restore_url, &json!({"restore": {"volume_id": unknown}})).await,
        400,
        "badRequest",
        json!("VolumeBackup.0111"),
    )
    .await;
    let small = app.empty_volume(MIB as u64);
    let msg = assert_fault(
        app.post(&restore_url, &json!({"restore": {"volume_id": small}})).await,
        400,
        "badRequest",
        json!("VolumeBackup.0209"),
    )
    .await;
    assert!(msg.contains("smaller"), "{msg}");
    let res =
        app.post(&format!("/backups/{unknown}/restore"), &json!({"restore": {"volume_id": volume}})).await;
    assert_fault(res, 404, "itemNotFound", json!(404)).await;
}

#[tokio::test]
async fn vbs_endpoints_answer_the_error_envelope() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 62));
    let cases = [
        (json!({"name": "n"}), "VolumeBackup.0010"),
        (json!({"volume_id": "x", "name": "n"}), "VolumeBackup.0011"),
        (json!({"volume_id": volume}), "VolumeBackup.0007"),
        (json!({"volume_id": volume, "name": "auto1"}), "VolumeBackup.0005"),
        (json!({"volume_id": volume, "name": "n", "description": "d".repeat(65)}), "VolumeBackup.0006"),
        (
            json!({"volume_id": volume, "name": "n", "tags": [{"key": "a=b", "value": "v"}]}),
            "VolumeBackup.0049",
        ),
        (json!({"volume_id": volume, "name": "n", "tags": "x"}), "VolumeBackup.0049"),
        (json!({"volume_id": volume, "name": 5}), "VolumeBackup.0004"),
        (
            json!({"volume_id": volume, "name": "n", "extend_param": {"FullBackup": "maybe"}}),
            "VolumeBackup.0002",
        ),
        (json!({"volume_id": uuid::Uuid::new_v4(), "name": "n"}), "VolumeBackup.0021"),
        (json!({"volume_id": volume, "name": "n", "snapshot_id": uuid::Uuid::new_v4()}), "VolumeBackup.0020"),
    ];
    for (body, code) in cases {
        assert_error(app.post("/cloudbackups", &json!({"backup": body})).await, 400, code).await;
    }
    let res = app
        .client
        .post(app.url("/cloudbackups"))
        .header("X-Auth-Token", &app.token)
        .header("Content-Type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VolumeBackup.0002").await;
    let restore =
        app.post("/cloudbackups/not-a-uuid/restore", &json!({"restore": {"volume_id": volume}})).await;
    assert_error(restore, 400, "VolumeBackup.0204").await;
    let restore =
        app.post(&format!("/cloudbackups/{}/restore", uuid::Uuid::new_v4()), &json!({"restore": "x"})).await;
    assert_error(restore, 400, "VolumeBackup.0210").await;
    assert_error(app.get_url(&app.url_v("v1", "/jobs/nope")).await, 404, "common.0011").await;
    assert_error(
        app.get_url(&app.url_v("v1", &format!("/jobs/{}", uuid::Uuid::new_v4()))).await,
        404,
        "common.0011",
    )
    .await;
    // Routing errors inside the VBS scopes keep the VBS envelope.
    assert_error(app.get("/cloudbackups/x/y/z").await, 404, "VolumeBackup.0404").await;
    assert_error(app.get("/cloudbackups").await, 405, "VolumeBackup.0405").await;
    let res = app.client.get(app.url_v("v1", "/jobs/x")).send().await.unwrap();
    assert_error(res, 401, "VolumeBackup.0044").await;
}

#[tokio::test]
async fn auth_and_routing_errors_on_native_endpoints() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/backups")).send().await.unwrap();
    assert_fault(res, 401, "unauthorized", json!("VolumeBackup.0044")).await;
    let res = app.client.get(app.url("/backups")).header("X-Auth-Token", "garbage").send().await.unwrap();
    assert_fault(res, 401, "unauthorized", json!("VolumeBackup.0044")).await;
    assert_fault(app.get("/nothing").await, 404, "itemNotFound", json!(404)).await;
    let res = app.client.put(app.url("/backups")).header("X-Auth-Token", &app.token).send().await.unwrap();
    assert_fault(res, 405, "badMethod", json!("VolumeBackup.0405")).await;
    let res = app.client.get(format!("{}/health", app.address)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A NUL character can reach no text column: every body field and query filter holding one is
/// a 400 naming it, in the envelope of the API called.
#[tokio::test]
async fn nul_characters_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 64));
    let nul = "a\u{0}b";
    let res = app.post("/backups", &json!({"backup": {"volume_id": volume, "description": nul}})).await;
    let message = assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    assert!(message.starts_with("backup.description: contains a NUL"), "{message}");
    let res = app
        .post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "n", "description": nul}}))
        .await;
    let message = crate::helpers::assert_error(res, 400, "VolumeBackup.0006").await;
    assert!(message.contains("NUL"), "{message}");
    for url in [
        app.url("/backups?name=%00"),
        app.url("/backups/detail?name=a%00"),
        app.url_v("v3", "/native/backups?name=%00"),
        app.url_v("v3", "/backups/detail?name=%00"),
    ] {
        let message =
            assert_fault(app.get_url(&url).await, 400, "badRequest", json!("VolumeBackup.0002")).await;
        assert!(message.starts_with("name: contains a NUL"), "{url}: {message}");
    }
    let res = app.get("/os-vendor-backup-sharing/detail?name=%00").await;
    crate::helpers::assert_error(res, 400, "VolumeBackup.0300").await;
    let res = app
        .post("/os-vendor-backup-sharing", &json!({"shared": {"backup_id": nul, "to_project_ids": ["x"]}}))
        .await;
    crate::helpers::assert_error(res, 400, "VolumeBackup.0002").await;
    // Nothing was recorded.
    assert_eq!(app.count("SELECT count(*) FROM backups").await, 0);
}
