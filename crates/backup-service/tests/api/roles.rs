//! Roles: a reader reads and is refused every change; an admin acts on any project and lists
//! every project's backups with `all_tenants`; `all_tenants` from anyone else changes nothing.

use reqwest::Method;
use serde_json::{Value, json};
use service_kit::{auth::Role, testing::token_with_role};

use crate::helpers::{MIB, TestApp, assert_error, assert_fault, make_image, spawn_app};

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    url: String,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, url).header("X-Auth-Token", token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_reader_reads_and_is_refused_every_change() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 70));
    let backup = app.backup_available(&volume, "b").await["id"].as_str().unwrap().to_owned();
    let job = app.post("/cloudbackups", &json!({"backup": {"volume_id": volume, "name": "c"}})).await;
    let job = job.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    app.wait_job(&job).await;
    let target = app.empty_volume(MIB as u64);
    let reader = token_with_role(&[&app.project], Role::Reader);

    for url in [
        app.url("/backups"),
        app.url("/backups/detail"),
        app.url(&format!("/backups/{backup}")),
        app.url_v("v3", "/backups/detail"),
        app.url_v("v3", &format!("/native/backups/{backup}")),
        app.url("/cloudbackups/quota"),
        app.url_v("v1", &format!("/jobs/{job}")),
    ] {
        let res = call(&app, &reader, Method::GET, url.clone(), None).await;
        assert_eq!(res.status(), 200, "reader GET {url}");
    }

    let snapshot = app.snapshot(&volume);
    let native = [
        (
            Method::POST,
            app.url("/backups"),
            Some(json!({"backup": {"volume_id": volume, "snapshot_id": snapshot}})),
        ),
        (Method::DELETE, app.url(&format!("/backups/{backup}")), None),
        (
            Method::POST,
            app.url_v("v3", &format!("/native/backups/{backup}/restore")),
            Some(json!({"restore": {"volume_id": target}})),
        ),
    ];
    for (method, url, body) in native {
        let res = call(&app, &reader, method.clone(), url.clone(), body).await;
        let message = assert_fault(res, 403, "forbidden", json!("VolumeBackup.0042")).await;
        assert!(message.contains("member or admin"), "reader {method} {url}: {message}");
    }
    let vbs = [
        (app.url("/cloudbackups"), json!({"backup": {"volume_id": volume, "name": "d"}})),
        (app.url(&format!("/cloudbackups/{backup}/restore")), json!({"restore": {"volume_id": target}})),
    ];
    for (url, body) in vbs {
        let res = call(&app, &reader, Method::POST, url.clone(), Some(body)).await;
        assert_error(res, 403, "VolumeBackup.0042").await;
    }
    // Nothing changed: one backup each of the two requests above, both available.
    let listed: Value = app.get("/backups/detail").await.json().await.unwrap();
    let statuses: Vec<&str> =
        listed["backups"].as_array().unwrap().iter().map(|b| b["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["available", "available"]);
}

#[tokio::test]
async fn admins_act_on_any_project_and_list_every_project_with_all_tenants() {
    let app = spawn_app().await;
    let a_volume = app.volume_with(&make_image(MIB, 71));
    let a_backup = app.backup_available(&a_volume, "a").await["id"].as_str().unwrap().to_owned();
    let b = format!("q{}", uuid::Uuid::new_v4().simple());
    let b_project = api_types::domain::ProjectId::parse(&b).unwrap();
    let b_volume = app.volume_in(&b_project, &make_image(MIB, 72));
    let member_b = crate::helpers::token_for(&[&b]);
    let b_url = |path: &str| format!("{}/v2/{b}{path}", app.address);
    let res = call(
        &app,
        &member_b,
        Method::POST,
        b_url("/cloudbackups"),
        Some(json!({"backup": {"volume_id": b_volume, "name": "b"}})),
    )
    .await;
    let job = res.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_owned();
    let job_url = format!("{}/v1/{b}/jobs/{job}", app.address);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let job: Value =
            call(&app, &member_b, Method::GET, job_url.clone(), None).await.json().await.unwrap();
        if job["status"] == "SUCCESS" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // An admin scoped to a third project sees and acts on A's backups.
    let admin = token_with_role(&[&format!("r{}", uuid::Uuid::new_v4().simple())], Role::Admin);
    let res = call(&app, &admin, Method::GET, app.url(&format!("/backups/{a_backup}")), None).await;
    assert_eq!(res.status(), 200);
    let names = |v: Value| -> Vec<String> {
        let mut n: Vec<String> =
            v["backups"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap().to_owned()).collect();
        n.sort();
        n
    };
    let own: Value = call(&app, &admin, Method::GET, app.url("/backups"), None).await.json().await.unwrap();
    assert_eq!(names(own), ["a"], "without all_tenants: the path's project");
    let all: Value = call(&app, &admin, Method::GET, app.url("/backups/detail?all_tenants=1"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(all.clone()), ["a", "b"]);
    let b_row = all["backups"].as_array().unwrap().iter().find(|r| r["name"] == "b").unwrap().clone();
    assert_eq!(b_row["os-backup-project-attr:project_id"], b.as_str());

    // project_id narrows an admin's all_tenants list to one project.
    let only_b: Value =
        call(&app, &admin, Method::GET, app.url(&format!("/backups?all_tenants=True&project_id={b}")), None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(names(only_b), ["b"]);

    // all_tenants and project_id from a member are ignored.
    let mine: Value = call(
        &app,
        &member_b,
        Method::GET,
        b_url(&format!("/backups?all_tenants=1&project_id={}", app.project)),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(names(mine), ["b"]);
    let mine: Value = call(&app, &member_b, Method::GET, b_url("/backups/detail?all_tenants=1"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(mine), ["b"]);
    let res = call(&app, &admin, Method::DELETE, app.url(&format!("/backups/{a_backup}")), None).await;
    assert_eq!(res.status(), 202);
    app.wait_gone(&a_backup).await;
}
