//! The Cinder backup API beyond the seed endpoints, as the Python clients call it:
//! microversions, metadata and availability zone, restore into a new volume, update, the
//! metadata resource, admin actions, export and import.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use service_kit::{auth::Role, testing::token_with_role};

use crate::helpers::{MIB, TestApp, assert_fault, make_image, spawn_app};

/// A call under `/v3/{project}` at `version` (no header when `None`).
pub async fn v3(
    app: &TestApp,
    method: Method,
    path: &str,
    version: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut req = app.client.request(method, app.url_v("v3", path)).header("X-Auth-Token", &app.token);
    if let Some(v) = version {
        req = req.header("OpenStack-API-Version", format!("volume {v}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn microversions_are_negotiated_as_cinder_does() {
    let app = spawn_app().await;
    let header = |r: &Response, name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());

    // No header: 3.0, named in the answer, which varies on the header.
    let res = v3(&app, Method::GET, "/backups", None, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "OpenStack-API-Version").as_deref(), Some("volume 3.0"));
    assert!(header(&res, "Vary").unwrap().contains("OpenStack-API-Version"));
    for (asked, served) in [("3.64", "volume 3.64"), ("latest", "volume 3.64"), ("3.9", "volume 3.9")] {
        let res = v3(&app, Method::GET, "/backups/detail", Some(asked), None).await;
        assert_eq!(
            (res.status().as_u16(), header(&res, "OpenStack-API-Version")),
            (200, Some(served.to_owned()))
        );
    }
    // The legacy header, and other services' entries, as Cinder reads them.
    let res = app
        .client
        .get(app.url_v("v3", "/native/backups"))
        .header("X-Auth-Token", &app.token)
        .header("X-OpenStack-Volume-API-Version", "3.45")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "OpenStack-API-Version").as_deref(), Some("volume 3.45"));
    let res = app
        .client
        .get(app.url_v("v3", "/backups"))
        .header("X-Auth-Token", &app.token)
        .header("OpenStack-API-Version", "compute 2.1, volume 3.50")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "OpenStack-API-Version").as_deref(), Some("volume 3.50"));

    // Out of range: 406, malformed: 400, both as Cinder faults.
    for version in ["3.65", "4.0", "2.0"] {
        let res = v3(&app, Method::GET, "/backups", Some(version), None).await;
        let body: Value = res.json().await.unwrap();
        let fault = body.as_object().unwrap().values().next().unwrap().clone();
        assert!(fault["message"].as_str().unwrap().contains("Minimum is 3.0 and maximum is 3.64"), "{body}");
    }
    let res = v3(&app, Method::GET, "/backups", Some("3.99"), None).await;
    assert_eq!(res.status(), 406);
    assert_fault(
        v3(&app, Method::GET, "/backups", Some("three"), None).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;

    // The vendor's /v2 API has no microversions.
    let res = app.get("/backups").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("OpenStack-API-Version").is_none());
}

#[tokio::test]
async fn metadata_and_availability_zone_from_their_microversions() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 80));
    let body = json!({"backup": {"volume_id": volume, "name": "m", "metadata": {"k": "v", "env": "prod"}}});

    // Below 3.43 Cinder's schema has no `metadata`: refused, nothing created.
    assert_fault(
        v3(&app, Method::POST, "/backups", Some("3.42"), Some(body.clone())).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;
    for bad in [json!({"k": 1}), json!({"a+b": "v"}), json!("k=v")] {
        let body = json!({"backup": {"volume_id": volume, "metadata": bad}});
        assert_fault(
            v3(&app, Method::POST, "/backups", Some("3.43"), Some(body)).await,
            400,
            "badRequest",
            json!("VolumeBackup.0002"),
        )
        .await;
    }
    // The deployment's zone (VBS_AVAILABILITY_ZONE), from 3.51.
    let zone = app.settings.availability_zone.clone().unwrap();
    let az = json!({"backup": {"volume_id": volume, "availability_zone": zone}});
    assert_fault(
        v3(&app, Method::POST, "/backups", Some("3.50"), Some(az)).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;
    let other = json!({"backup": {"volume_id": volume, "availability_zone": "elsewhere"}});
    assert_fault(
        v3(&app, Method::POST, "/backups", Some("3.51"), Some(other)).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;

    let res = v3(
        &app,
        Method::POST,
        "/backups",
        Some("3.51"),
        Some(json!({"backup": {
            "volume_id": volume, "name": "m", "metadata": {"k": "v", "env": "prod"}, "availability_zone": zone
        }})),
    )
    .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["backup"]["id"].as_str().unwrap().to_owned();
    app.wait_backup(&id, "available").await;

    let shown: Value =
        v3(&app, Method::GET, &format!("/backups/{id}"), Some("3.43"), None).await.json().await.unwrap();
    assert_eq!(shown["backup"]["metadata"], json!({"k": "v", "env": "prod"}));
    assert_eq!(shown["backup"]["availability_zone"], zone.as_str());
    let old: Value = v3(&app, Method::GET, &format!("/backups/{id}"), None, None).await.json().await.unwrap();
    assert!(old["backup"].get("metadata").is_none(), "3.0 shows no metadata: {old}");
    let listed: Value =
        v3(&app, Method::GET, "/backups/detail", Some("3.64"), None).await.json().await.unwrap();
    assert_eq!(listed["backups"][0]["metadata"]["env"], "prod");
}

#[tokio::test]
async fn restore_without_a_volume_creates_one_as_cinder_does() {
    let app = spawn_app().await;
    let data = make_image(MIB + 4096, 81);
    let volume = app.volume_with(&data);
    let id = app.backup_available(&volume, "r").await["id"].as_str().unwrap().to_owned();

    // cinderclient's default body: no volume, no name.
    for (body, name) in [
        (json!({"restore": {"volume_id": null, "name": null}}), format!("restore_backup_{id}")),
        (json!({"restore": {"name": "from-backup"}}), "from-backup".to_owned()),
    ] {
        let res = app.post(&format!("/backups/{id}/restore"), &body).await;
        assert_eq!(res.status(), 202);
        let restore: Value = res.json().await.unwrap();
        assert_eq!(restore["restore"]["backup_id"], id.as_str());
        assert_eq!(restore["restore"]["volume_name"], name.as_str());
        let new = restore["restore"]["volume_id"].as_str().unwrap().to_owned();
        assert_ne!(new, volume);
        app.wait_backup(&id, "available").await;
        let shown: Value =
            v3(&app, Method::GET, &format!("/volumes/{new}"), None, None).await.json().await.unwrap();
        assert_eq!(shown["volume"]["name"], name.as_str());
        assert_eq!(std::fs::read(app.disk(&new)).unwrap(), data, "restored byte for byte");
    }

    // A backup that cannot be restored leaves no volume behind.
    let before = app.volumes.volumes(&app.project_id()).unwrap().len();
    let res = app.post(&format!("/backups/{}/restore", uuid::Uuid::new_v4()), &json!({"restore": {}})).await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.volumes.volumes(&app.project_id()).unwrap().len(), before);
}

/// A call with `token` (the app's own when `None`) at `version`.
async fn as_(
    app: &TestApp,
    token: &str,
    method: Method,
    url: String,
    version: &str,
    body: Option<Value>,
) -> Response {
    let mut req = app
        .client
        .request(method, url)
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("volume {version}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn update_and_the_metadata_resource() {
    let app = spawn_app().await;
    let volume = app.volume_with(&make_image(MIB, 82));
    let id = app.backup_available(&volume, "u").await["id"].as_str().unwrap().to_owned();
    let path = format!("/backups/{id}");

    // Update is Cinder 3.9: below it, no such call.
    let rename = json!({"backup": {"name": "renamed", "description": "before the upgrade"}});
    assert_fault(
        v3(&app, Method::PUT, &path, None, Some(rename.clone())).await,
        404,
        "itemNotFound",
        json!(404),
    )
    .await;
    let res = v3(&app, Method::PUT, &path, Some("3.9"), Some(rename)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["backup"]["id"].as_str(), v["backup"]["name"].as_str()),
        (Some(id.as_str()), Some("renamed"))
    );
    let with_meta = json!({"backup": {"metadata": {"a": "1"}}});
    assert_fault(
        v3(&app, Method::PUT, &path, Some("3.42"), Some(with_meta.clone())).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;
    assert_eq!(v3(&app, Method::PUT, &path, Some("3.43"), Some(with_meta)).await.status(), 200);
    for bad in [
        json!({"backup": {}}),
        json!({"backup": {"name": "autobk_x"}}),
        json!({"backup": {"description": "<b>"}}),
    ] {
        let res = v3(&app, Method::PUT, &path, Some("3.64"), Some(bad.clone())).await;
        assert_eq!(res.status(), 400, "{bad}");
    }
    // The vendor's /v2 path has no microversions.
    let res = app
        .client
        .put(app.url(&path))
        .header("X-Auth-Token", &app.token)
        .json(&json!({"backup": {"description": "v2"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let shown: Value = v3(&app, Method::GET, &path, Some("3.64"), None).await.json().await.unwrap();
    assert_eq!(shown["backup"]["name"], "renamed");
    assert_eq!(shown["backup"]["description"], "v2");
    assert_eq!(shown["backup"]["metadata"], json!({"a": "1"}));

    // The metadata resource, as openstacksdk's metadata mixin calls it: without a microversion.
    let meta = format!("{path}/metadata");
    let v: Value = v3(&app, Method::GET, &meta, None, None).await.json().await.unwrap();
    assert_eq!(v, json!({"metadata": {"a": "1"}}));
    let v: Value = v3(&app, Method::POST, &meta, Some("3.43"), Some(json!({"metadata": {"b": "2"}})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"metadata": {"a": "1", "b": "2"}}));
    let v: Value = v3(&app, Method::GET, &meta, Some("3.43"), None).await.json().await.unwrap();
    assert_eq!(v, json!({"metadata": {"a": "1", "b": "2"}}));
    let v: Value = v3(&app, Method::PUT, &meta, Some("3.43"), Some(json!({"metadata": {"c": "3"}})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"metadata": {"c": "3"}}));
    let item = format!("{meta}/c");
    let v: Value = v3(&app, Method::GET, &item, Some("3.43"), None).await.json().await.unwrap();
    assert_eq!(v, json!({"meta": {"c": "3"}}));
    let v: Value =
        v3(&app, Method::PUT, &format!("{meta}/d"), Some("3.43"), Some(json!({"meta": {"d": "4"}})))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(v, json!({"meta": {"d": "4"}}));
    let res =
        v3(&app, Method::PUT, &format!("{meta}/d"), Some("3.43"), Some(json!({"meta": {"e": "4"}}))).await;
    assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    assert_eq!(v3(&app, Method::DELETE, &item, Some("3.43"), None).await.status(), 200);
    assert_fault(v3(&app, Method::DELETE, &item, Some("3.43"), None).await, 404, "itemNotFound", json!(404))
        .await;
    assert_fault(v3(&app, Method::GET, &item, Some("3.43"), None).await, 404, "itemNotFound", json!(404))
        .await;
    let res = v3(&app, Method::POST, &meta, Some("3.43"), Some(json!({"metadata": {"bad key!": "x"}}))).await;
    assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    let v: Value = v3(&app, Method::GET, &meta, Some("3.43"), None).await.json().await.unwrap();
    assert_eq!(v, json!({"metadata": {"d": "4"}}));

    // A reader reads it and changes nothing.
    let reader = token_with_role(&[&app.project], Role::Reader);
    assert_eq!(as_(&app, &reader, Method::GET, app.url_v("v3", &meta), "3.43", None).await.status(), 200);
    for (method, url, body) in [
        (Method::PUT, app.url_v("v3", &path), Some(json!({"backup": {"name": "x"}}))),
        (Method::POST, app.url_v("v3", &meta), Some(json!({"metadata": {"x": "y"}}))),
        (Method::PUT, app.url_v("v3", &meta), Some(json!({"metadata": {}}))),
        (Method::PUT, app.url_v("v3", &format!("{meta}/d")), Some(json!({"meta": {"d": "5"}}))),
        (Method::DELETE, app.url_v("v3", &format!("{meta}/d")), None),
    ] {
        assert_fault(
            as_(&app, &reader, method, url, "3.64", body).await,
            403,
            "forbidden",
            json!("VolumeBackup.0042"),
        )
        .await;
    }
}

#[tokio::test]
async fn admin_actions_export_and_import_and_refusals_for_members_and_readers() {
    let app = spawn_app().await;
    let data = make_image(MIB + 512, 83);
    let volume = app.volume_with(&data);
    let id = app.backup_available(&volume, "adm").await["id"].as_str().unwrap().to_owned();
    // An admin scoped to a project of its own, calling under that project's URL, as Cinder's
    // admin context does.
    let own = format!("adm{}", uuid::Uuid::new_v4().simple());
    let admin = token_with_role(&[&own], Role::Admin);
    let url = |path: &str| format!("{}/v3/{own}{path}", app.address);
    let action = url(&format!("/backups/{id}/action"));

    // Members and readers of the backup's project are refused every admin call.
    for role in [Role::Member, Role::Reader] {
        let token = token_with_role(&[&app.project], role);
        for (method, url, body) in [
            (
                Method::POST,
                app.url_v("v3", &format!("/backups/{id}/action")),
                Some(json!({"os-reset_status": {"status": "error"}})),
            ),
            (
                Method::POST,
                app.url_v("v3", &format!("/backups/{id}/action")),
                Some(json!({"os-force_delete": {}})),
            ),
            (Method::GET, app.url_v("v3", &format!("/backups/{id}/export_record")), None),
            (
                Method::POST,
                app.url_v("v3", "/backups/import_record"),
                Some(json!({"backup-record": {"backup_service": "x", "backup_url": "y"}})),
            ),
        ] {
            let res = as_(&app, &token, method.clone(), url.clone(), "3.64", body).await;
            assert_fault(res, 403, "forbidden", json!("VolumeBackup.0042")).await;
        }
    }

    // Reset status: error, then available again.
    for status in ["error", "available"] {
        let res = as_(
            &app,
            &admin,
            Method::POST,
            action.clone(),
            "3.64",
            Some(json!({"os-reset_status": {"status": status}})),
        )
        .await;
        assert_eq!(res.status(), 202, "{status}");
        let shown: Value = as_(&app, &admin, Method::GET, url(&format!("/backups/{id}")), "3.64", None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["backup"]["status"], status);
    }
    for bad in [
        json!({"os-reset_status": {"status": "creating"}}),
        json!({}),
        json!({"os-reset_status": {"status": "error"}, "os-force_delete": {}}),
    ] {
        let res = as_(&app, &admin, Method::POST, action.clone(), "3.64", Some(bad)).await;
        assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    }

    // Export; importing a backup that exists is refused; a forged record too.
    let record: Value =
        as_(&app, &admin, Method::GET, url(&format!("/backups/{id}/export_record")), "3.64", None)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(record["backup-record"]["backup_service"], "vbs.backup_engine");
    let import = url("/backups/import_record");
    let res = as_(&app, &admin, Method::POST, import.clone(), "3.64", Some(record.clone())).await;
    let message = assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    assert!(message.contains("already exists"), "{message}");
    let forged =
        json!({"backup-record": {"backup_service": "vbs.backup_engine", "backup_url": "bm90IGEgcmVjb3Jk"}});
    assert_fault(
        as_(&app, &admin, Method::POST, import.clone(), "3.64", Some(forged)).await,
        400,
        "badRequest",
        json!("VolumeBackup.0002"),
    )
    .await;

    // The metadata database loses the row (a fresh database over the same object store):
    // the record brings the backup back, and it restores byte for byte.
    app.execute(format!("DELETE FROM backups WHERE id = '{id}'")).await;
    app.execute(format!("DELETE FROM jobs WHERE backup_id = '{id}'")).await;
    assert_eq!(app.show(&id).await.status(), 404);
    let res = as_(&app, &admin, Method::POST, import.clone(), "3.64", Some(record.clone())).await;
    assert_eq!(res.status(), 201);
    let imported: Value = res.json().await.unwrap();
    assert_eq!(imported["backup"]["id"], id.as_str());
    let shown = app.wait_backup(&id, "available").await;
    assert_eq!(shown["name"], "adm");
    let target = app.empty_volume(data.len() as u64);
    app.restore(&id, &target).await;
    assert_eq!(std::fs::read(app.disk(&target)).unwrap(), data);

    // A record whose data is not in the object store is refused.
    app.execute(format!("DELETE FROM backups WHERE id = '{id}'")).await;
    app.engine.delete_backup(&app.project, &id).await.unwrap();
    let res = as_(&app, &admin, Method::POST, import, "3.64", Some(record)).await;
    let message = assert_fault(res, 400, "badRequest", json!("VolumeBackup.0002")).await;
    assert!(message.contains("holds no backup"), "{message}");
}

#[tokio::test]
async fn force_delete_cancels_the_work_on_a_backup() {
    // The API alone: nothing runs the jobs, so the backup is caught `creating`.
    let app = crate::helpers::spawn_app_with(|s| s.role = backup_service::config::Role::Api).await;
    let volume = app.volume_with(&make_image(MIB, 85));
    let id = app.create_backup(&volume, "caught").await;
    let admin = token_with_role(&[&app.project], Role::Admin);
    let action = app.url_v("v3", &format!("/backups/{id}/action"));
    // An ordinary delete is refused while it is created; a force delete is not.
    assert_fault(app.delete(&format!("/backups/{id}")).await, 400, "badRequest", json!("VolumeBackup.0089"))
        .await;
    // As openstacksdk sends it.
    let res = as_(&app, &admin, Method::POST, action, "3.64", Some(json!({"os-force_delete": null}))).await;
    assert_eq!(res.status(), 202);
    let shown: Value = app.show(&id).await.json().await.unwrap();
    assert_eq!(shown["backup"]["status"], "deleting");
    let cancelled = app
        .count("SELECT count(*) FROM jobs WHERE job_type = 'bksCreateBackup' AND status = 'FAIL' AND fail_reason LIKE 'cancelled%' AND busy_volume IS NULL")
        .await;
    let deleting =
        app.count("SELECT count(*) FROM jobs WHERE job_type = 'bksDeleteBackup' AND status = 'INIT'").await;
    assert_eq!((cancelled, deleting), (1, 1));
    // The volume is free for another backup at once.
    assert_eq!(app.post("/backups", &json!({"backup": {"volume_id": volume}})).await.status(), 202);
}

#[tokio::test]
async fn force_delete_while_a_worker_runs_the_backup() {
    let app =
        crate::helpers::spawn_app_with(|s| s.worker.heartbeat = std::time::Duration::from_millis(50)).await;
    let volume = app.volume_with(&make_image(64 * MIB, 84));
    let id = app.create_backup(&volume, "slow").await;
    let admin = token_with_role(&[&app.project], Role::Admin);
    let action = app.url_v("v3", &format!("/backups/{id}/action"));
    let res = as_(&app, &admin, Method::POST, action, "3.64", Some(json!({"os-force_delete": {}}))).await;
    assert_eq!(res.status(), 202);
    app.wait_gone(&id).await;
    // The volume is free again: a new backup of it runs to the end.
    let again = app.backup_available(&volume, "after").await;
    assert_eq!(again["status"], "available");
    let jobs = app.count("SELECT count(*) FROM jobs WHERE status IN ('INIT', 'RUNNING')").await;
    assert_eq!(jobs, 0);
}

/// A policy backup force-deleted while it runs ends its task at once (`EXECUTE_FAIL`,
/// cancelled), instead of leaving it open until its deadline.
#[tokio::test]
async fn force_deleting_a_running_policy_backup_fails_its_task_at_once() {
    use api_types::{
        domain::ResourceId,
        message::{BackupRequested, RequestedTask, RetentionRule, TaskOutcome, TaskStatus},
    };
    let app =
        crate::helpers::spawn_app_with(|s| s.worker.heartbeat = std::time::Duration::from_millis(50)).await;
    let mut statuses = app.listener(service_kit::amqp::Queue::SchedulerTaskStatus).await;
    let mut img = vec![0u8; 128 * MIB];
    crate::helpers::Rng(86).fill(&mut img);
    let volume = app.volume_with(&img);
    let now = chrono::Utc::now();
    let task = ResourceId::new_v4();
    app.publish(BackupRequested {
        project_id: app.project_id(),
        policy_id: ResourceId::new_v4(),
        retention: RetentionRule { count: Some(3), days: None, keep_first_of_month: false },
        utc_offset_minutes: 0,
        scheduled_at: now,
        deadline: now + chrono::Duration::hours(1),
        tasks: vec![RequestedTask {
            task_id: task,
            volume_id: ResourceId::parse("volume_id", &volume).unwrap(),
            backup_name: "autobk_f0rc".into(),
        }],
    })
    .await;
    let running = statuses.next::<TaskStatus>().await;
    assert_eq!((running.payload.task_id, &running.payload.outcome), (task, &TaskOutcome::Running));
    let list: Value = app.get("/backups").await.json().await.unwrap();
    let id = list["backups"][0]["id"].as_str().unwrap().to_owned();

    let admin = token_with_role(&[&app.project], Role::Admin);
    let action = app.url_v("v3", &format!("/backups/{id}/action"));
    let res = as_(&app, &admin, Method::POST, action, "3.64", Some(json!({"os-force_delete": {}}))).await;
    assert_eq!(res.status(), 202);
    let ended = statuses.next::<TaskStatus>().await;
    assert_eq!(ended.payload.task_id, task);
    let TaskOutcome::ExecuteFail { message, .. } = &ended.payload.outcome else {
        panic!("the task ended {:?}", ended.payload.outcome)
    };
    assert!(message.starts_with("cancelled"), "{message}");
    app.wait_gone(&id).await;
    statuses.assert_quiet(std::time::Duration::from_millis(500)).await;
}

#[tokio::test]
async fn links_follow_the_api_the_client_called() {
    let app = crate::helpers::spawn_app_with(|s| s.role = backup_service::config::Role::Api).await;
    let volume = app.volume_with(&make_image(MIB, 86));
    let p = app.project.clone();
    for (prefix, self_link, bookmark) in [
        ("/v2", format!("/v2/{p}/backups/"), format!("/{p}/backups/")),
        ("/v3", format!("/v3/{p}/backups/"), format!("/{p}/backups/")),
        ("/v3/native", format!("/v3/{p}/native/backups/"), format!("/{p}/native/backups/")),
    ] {
        let (version, native) = prefix.split_once("/native").map_or((prefix, ""), |(v, _)| (v, "/native"));
        let url = format!("{}{version}/{p}{native}/backups", app.address);
        let res = app
            .client
            .post(&url)
            .header("X-Auth-Token", &app.token)
            .json(&json!({"backup": {"volume_id": volume}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202, "{url}");
        let created: Value = res.json().await.unwrap();
        let id = created["backup"]["id"].as_str().unwrap().to_owned();
        let links = &created["backup"]["links"];
        assert!(
            links[0]["href"].as_str().unwrap().ends_with(&format!("{self_link}{id}")),
            "{prefix}: {links}"
        );
        assert!(
            links[1]["href"].as_str().unwrap().ends_with(&format!("{bookmark}{id}")),
            "{prefix}: {links}"
        );
        app.execute(format!("DELETE FROM jobs WHERE backup_id = '{id}'")).await;
    }
}
