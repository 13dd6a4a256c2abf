//! Tenant isolation: project A can never see, restore, restore into, back up or delete
//! anything of project B, whatever ids it learns.

use serde_json::{Value, json};

use crate::helpers::{
    MIB, assert_error, assert_fault, make_image, sha256, sha256_file, spawn_app, token_for,
};

#[tokio::test]
async fn projects_never_reach_each_other() {
    let app = spawn_app().await;
    let a = app.project.clone();
    let b = format!("q{}", uuid::Uuid::new_v4().simple());
    let a_img = make_image(2 * MIB + 3, 50);
    let a_volume = app.volume_with(&a_img);
    let a_backup = app.backup_available(&a_volume, "secret").await["id"].as_str().unwrap().to_owned();
    let a_job = app
        .post("/cloudbackups", &json!({"backup": {"volume_id": a_volume, "name": "secret2"}}))
        .await
        .json::<Value>()
        .await
        .unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_job(&a_job).await;

    let b_project = api_types::domain::ProjectId::parse(&b).unwrap();
    let b_volume = app.volume_in(&b_project, &make_image(2 * MIB + 3, 51));
    let tb = token_for(&[&b]);
    let as_b =
        |method: reqwest::Method, url: String| app.client.request(method, url).header("X-Auth-Token", &tb);
    let b_url = |path: &str| format!("{}/v2/{b}{path}", app.address);

    // B's token on A's paths: refused before anything is looked up.
    let res = as_b(reqwest::Method::GET, app.url(&format!("/backups/{a_backup}"))).send().await.unwrap();
    assert_fault(res, 403, "forbidden", json!("VolumeBackup.0042")).await;
    let res = as_b(reqwest::Method::GET, app.url_v("v1", &format!("/jobs/{a_job}"))).send().await.unwrap();
    assert_error(res, 403, "VolumeBackup.0042").await;

    // B's own paths naming A's ids: as if they did not exist.
    for url in [
        b_url(&format!("/backups/{a_backup}")),
        format!("{}/v3/{b}/backups/{a_backup}", app.address),
        format!("{}/v3/{b}/native/backups/{a_backup}", app.address),
    ] {
        let res = as_b(reqwest::Method::GET, url).send().await.unwrap();
        assert_fault(res, 404, "itemNotFound", json!(404)).await;
    }
    let res = as_b(reqwest::Method::DELETE, b_url(&format!("/backups/{a_backup}"))).send().await.unwrap();
    assert_fault(res, 404, "itemNotFound", json!(404)).await;
    let res = as_b(reqwest::Method::POST, b_url(&format!("/backups/{a_backup}/restore")))
        .json(&json!({"restore": {"volume_id": b_volume}}))
        .send()
        .await
        .unwrap();
    assert_fault(res, 404, "itemNotFound", json!(404)).await;
    let res = as_b(reqwest::Method::POST, b_url(&format!("/cloudbackups/{a_backup}/restore")))
        .json(&json!({"restore": {"volume_id": b_volume}}))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "VolumeBackup.0111").await;
    let res =
        as_b(reqwest::Method::GET, format!("{}/v1/{b}/jobs/{a_job}", app.address)).send().await.unwrap();
    assert_error(res, 404, "common.0011").await;
    let listed: Value =
        as_b(reqwest::Method::GET, b_url("/backups/detail")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["backups"], json!([]));

    // B cannot back up A's volume, nor A restore into B's.
    let snapshot = app.snapshot(&a_volume);
    let res = as_b(reqwest::Method::POST, b_url("/backups"))
        .json(&json!({"backup": {"volume_id": a_volume, "snapshot_id": snapshot}}))
        .send()
        .await
        .unwrap();
    assert_fault(res, 400, "badRequest", json!("VolumeBackup.0021")).await;
    let res = as_b(reqwest::Method::POST, b_url("/cloudbackups"))
        .json(&json!({"backup": {"volume_id": a_volume, "name": "steal"}}))
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "VolumeBackup.0021").await;
    let res =
        app.post(&format!("/backups/{a_backup}/restore"), &json!({"restore": {"volume_id": b_volume}})).await;
    assert_fault(res, 400, "badRequest", json!("VolumeBackup.0111")).await;

    // Nothing changed on either side.
    assert_eq!(sha256_file(&app.disk(&a_volume)), sha256(&a_img));
    assert_eq!(sha256_file(&app.disk_in(&b, &b_volume)), sha256(&make_image(2 * MIB + 3, 51)));
    assert_eq!(app.wait_backup(&a_backup, "available").await["name"], "secret");
    assert!(app.engine.list_backups(&b).await.unwrap().is_empty(), "B has nothing in the store");
    let _ = a;
}
