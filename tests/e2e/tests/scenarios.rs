//! The product end to end, only through the gateway: policies drive the scheduler, workers back
//! up real disk images, backups restore byte for byte, retention prunes, tenants stay apart.

#![allow(clippy::unwrap_used, reason = "a failed step fails the scenario loudly")]

use std::time::{Duration, Instant};

#[allow(dead_code, reason = "each test binary uses part of the harness")]
mod support;

use serde_json::{Value, json};
use support::{Api, Stack, Topology, mixed_image};

const WAIT: Duration = Duration::from_secs(120);

fn project() -> String {
    format!("e2e{}", uuid::Uuid::new_v4().simple())
}

async fn create_policy(api: &Api, name: &str, retention: u32) -> String {
    let (status, body) = api
        .post(
            "/v2/{p}/backuppolicy",
            &json!({
                "backup_policy_name": name,
                "scheduled_policy": {"start_time": "03:00", "frequency": 1, "rentention_num": retention, "status": "ON"},
                "time_zone": "UTC+02:00"
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["backup_policy_id"].as_str().unwrap().to_owned()
}

/// Associates the volumes and waits until the scheduler has seen the policy with them (the
/// scheduler learns of policies through `policy.changed`, a few milliseconds later).
async fn associate(api: &Api, policy: &str, volumes: &[&str]) {
    let resources: Vec<Value> =
        volumes.iter().map(|v| json!({"resource_id": v, "resource_type": "volume"})).collect();
    let (status, body) = api
        .post("/v2/{p}/backuppolicyresources", &json!({"backup_policy_id": policy, "resources": resources}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success_resources"].as_array().unwrap().len(), volumes.len(), "{body}");
    api.eventually("the scheduler to know the policy", WAIT, || async {
        let (status, _) = api.get(&format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks")).await;
        (status == 200).then_some(())
    })
    .await;
}

async fn tasks(api: &Api, policy: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks?limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().unwrap().clone()
}

/// Executes the policy and follows the new task of `volume` until it ends; returns the statuses
/// seen, in order, and the final task.
async fn execute_and_follow(api: &Api, policy: &str, volume: &str) -> (Vec<String>, Value) {
    let before: Vec<Value> = tasks(api, policy).await.iter().map(|t| t["job_id"].clone()).collect();
    let (status, body) = api.post(&format!("/v2/{{p}}/backuppolicy/{policy}/action"), &json!({})).await;
    assert_eq!(status, 204, "{body}");
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let task = tasks(api, policy)
            .await
            .into_iter()
            .find(|t| t["resource_id"] == volume && !before.contains(&t["job_id"]));
        if let Some(task) = task {
            let s = task["status"].as_str().unwrap().to_owned();
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if !matches!(s.as_str(), "WAITING" | "RUNNING") {
                return (seen, task);
            }
        }
        assert!(Instant::now() < deadline, "the task did not finish; statuses seen: {seen:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn backups_of(api: &Api, volume: &str) -> Vec<Value> {
    let (status, body) = api.get(&format!("/v2/{{p}}/backups/detail?volume_id={volume}&limit=1000")).await;
    assert_eq!(status, 200, "{body}");
    body["backups"].as_array().unwrap().clone()
}

async fn wait_backup_status(api: &Api, id: &str, wanted: &str) -> Value {
    api.eventually(&format!("backup {id} to be {wanted}"), WAIT, || async {
        let (status, body) = api.get(&format!("/v3/{{p}}/native/backups/{id}")).await;
        (status == 200 && body["backup"]["status"] == wanted).then(|| body["backup"].clone())
    })
    .await
}

#[tokio::test]
async fn policy_to_backup_to_restore_with_retention_and_tenancy() {
    let started = Instant::now();
    let stack = Stack::start(Topology::default()).await;
    let p = project();
    let api = stack.client(&p);
    // 48 MiB and a bit: big enough that the task is seen RUNNING, not a multiple of the block.
    let image = mixed_image(48 * 1024 * 1024 + 12_345, 7);
    let source = stack.create_volume(&p, &image);
    let target = stack.create_volume(&p, &vec![0u8; image.len() + 4096]);
    let up = started.elapsed();

    // A policy with retention 2, the volume associated, executed now.
    let policy = create_policy(&api, "e2e_daily", 2).await;
    associate(&api, &policy, &[&source]).await;
    let t = Instant::now();
    let (seen, task) = execute_and_follow(&api, &policy, &source).await;
    let first_backup = t.elapsed();
    // In order; a fast deployment (release binaries in compose) may pass a state between polls.
    let order = ["WAITING", "RUNNING", "EXECUTE_SUCCESS"];
    let mut rest = order.iter();
    assert!(
        seen.last().map(String::as_str) == Some("EXECUTE_SUCCESS")
            && seen.iter().all(|s| rest.any(|o| o == s)),
        "{seen:?} is not in the order {order:?}: {task}\n{}",
        stack.logs()
    );
    let name = task["backup_name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("autobk_"), "{task}");
    assert!(task["finished_at"].as_str().is_some_and(|t| !t.ends_with('Z')), "{task}");

    // The backup, read through the v3 native API.
    let listed = backups_of(&api, &source).await;
    let id = listed.iter().find(|b| b["name"] == name.as_str()).unwrap()["id"].as_str().unwrap().to_owned();
    let (status, shown) = api.get(&format!("/v3/{{p}}/native/backups/{id}")).await;
    assert_eq!(status, 200, "{shown}");
    let b = &shown["backup"];
    assert_eq!(b["status"], "available");
    assert_eq!(b["volume_id"], source.as_str());
    for key in [
        "os-backup-project-attr:tenant_id",
        "os-backup-project-attr:project_id",
        "os-bak-tenant-attr:tenant_id",
    ] {
        assert_eq!(b[key], p.as_str(), "{key}");
    }
    assert_eq!(b["size"], 1, "48 MiB rounds up to 1 GiB");
    assert!(b["object_count"].as_i64().unwrap() >= 1, "{b}");
    assert_eq!(b["created_at"].as_str().unwrap().len(), "2013-06-27T08:48:03.000000".len(), "{b}");

    // Restore into the second volume: byte for byte.
    let t = Instant::now();
    let (status, body) = api
        .post(&format!("/v3/{{p}}/native/backups/{id}/restore"), &json!({"restore": {"volume_id": target}}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["restore"]["backup_id"], id.as_str());
    wait_backup_status(&api, &id, "available").await;
    let restored = std::fs::read(stack.volume_path(&p, &target)).unwrap();
    assert!(restored[..image.len()] == image[..], "restored bytes differ");
    assert!(restored[image.len()..].iter().all(|b| *b == 0), "the rest of the target is zero");
    let restore = t.elapsed();

    // Twice more with retention 2: the oldest automatic backup is pruned.
    let (_, second) = execute_and_follow(&api, &policy, &source).await;
    let (_, third) = execute_and_follow(&api, &policy, &source).await;
    assert_eq!(second["status"], "EXECUTE_SUCCESS", "{second}");
    assert_eq!(third["status"], "EXECUTE_SUCCESS", "{third}");
    let kept: Vec<String> = api
        .eventually("the oldest backup to be pruned", WAIT, || async {
            let names: Vec<String> = backups_of(&api, &source)
                .await
                .iter()
                .filter(|b| b["status"] != "deleting")
                .map(|b| b["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            (names.len() == 2).then_some(names)
        })
        .await;
    assert!(!kept.contains(&name), "the first backup was pruned: {kept:?}");
    assert!(kept.contains(&second["backup_name"].as_str().unwrap().to_owned()), "{kept:?}");
    assert!(kept.contains(&third["backup_name"].as_str().unwrap().to_owned()), "{kept:?}");

    // Native create from a snapshot, restore over other data, delete.
    let snapshot = stack.create_snapshot(&p, &source);
    let (status, body) = api
        .post(
            "/v2/{p}/backups",
            &json!({"backup": {"volume_id": source, "snapshot_id": snapshot, "name": "manual1", "description": "e2e"}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let manual = body["backup"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["backup"]["links"][0]["rel"], "self");
    wait_backup_status(&api, &manual, "available").await;
    std::fs::write(stack.volume_path(&p, &target), vec![0xAAu8; image.len() + 4096]).unwrap();
    let (status, body) = api
        .post(&format!("/v2/{{p}}/backups/{manual}/restore"), &json!({"restore": {"volume_id": target}}))
        .await;
    assert_eq!(status, 202, "{body}");
    wait_backup_status(&api, &manual, "available").await;
    let restored = std::fs::read(stack.volume_path(&p, &target)).unwrap();
    assert!(restored[..image.len()] == image[..], "restore over old data differs");
    let (status, _) = api.delete(&format!("/v2/{{p}}/backups/{manual}")).await;
    assert_eq!(status, 202);
    api.eventually("the manual backup to be deleted", WAIT, || async {
        let (status, _) = api.get(&format!("/v3/{{p}}/native/backups/{manual}")).await;
        (status == 404).then_some(())
    })
    .await;

    // Another project's token is refused on every path of this project.
    let intruder = api.with_token(stack.token(&[&project()]));
    let probes = [
        (reqwest::Method::GET, "/v2/{p}/backuppolicy".to_owned()),
        (reqwest::Method::POST, format!("/v2/{{p}}/backuppolicy/{policy}/action")),
        (reqwest::Method::GET, format!("/v2/{{p}}/backuppolicy/{policy}/backuptasks")),
        (reqwest::Method::GET, "/v2/{p}/backups/detail".to_owned()),
        (reqwest::Method::GET, format!("/v3/{{p}}/native/backups/{id}")),
        (reqwest::Method::POST, format!("/v3/{{p}}/native/backups/{id}/restore")),
        (reqwest::Method::DELETE, format!("/v2/{{p}}/backups/{id}")),
        (reqwest::Method::POST, "/v2/{p}/cloudbackups".to_owned()),
        (reqwest::Method::GET, format!("/v1/{{p}}/jobs/{}", uuid::Uuid::new_v4())),
    ];
    for (method, path) in probes {
        let (status, body) = intruder.call(method.clone(), &path, Some(&json!({}))).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    eprintln!(
        "timings: stack up {up:?}, first policy backup {first_backup:?}, restore {restore:?}, whole scenario {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn two_schedulers_and_two_workers_run_each_task_exactly_once() {
    let started = Instant::now();
    let stack = Stack::start(Topology { schedulers: 2, workers: 2 }).await;
    let p = project();
    let api = stack.client(&p);
    let volumes: Vec<String> =
        (0..3).map(|i| stack.create_volume(&p, &mixed_image(6 * 1024 * 1024 + 999, 100 + i))).collect();
    let refs: Vec<&str> = volumes.iter().map(String::as_str).collect();
    let policy = create_policy(&api, "e2e_replicas", 14).await;
    associate(&api, &policy, &refs).await;
    for _ in 0..3 {
        let (status, _) = api.post(&format!("/v2/{{p}}/backuppolicy/{policy}/action"), &json!({})).await;
        assert_eq!(status, 204);
    }
    let done = api
        .eventually("nine tasks to finish", WAIT, || async {
            let all = tasks(&api, &policy).await;
            (all.len() >= 9
                && all.iter().all(|t| !matches!(t["status"].as_str(), Some("WAITING" | "RUNNING"))))
            .then_some(all)
        })
        .await;
    assert_eq!(done.len(), 9, "one task per volume and execution: {done:?}");
    let mut ids: Vec<&str> = done.iter().map(|t| t["job_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 9, "no task twice");
    // An execution that reaches a volume whose previous task is still open is a SKIP by
    // design; the others succeed, and each success made exactly one backup.
    assert!(
        done.iter().all(|t| matches!(t["status"].as_str(), Some("EXECUTE_SUCCESS" | "SKIP"))),
        "{done:?}\n{}",
        stack.logs()
    );
    let succeeded = done.iter().filter(|t| t["status"] == "EXECUTE_SUCCESS").count();
    assert!(succeeded >= 3, "each volume backed up at least once: {done:?}");
    let mut backups = 0;
    for v in &volumes {
        let list = backups_of(&api, v).await;
        let mut names: Vec<&str> = list.iter().map(|b| b["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), list.len(), "no backup twice for {v}");
        backups += list.len();
    }
    assert_eq!(backups, succeeded, "one backup per successful task");
    eprintln!("timings: two-replica scenario {:?}", started.elapsed());
}

/// What nginx answers itself is JSON in the envelope of the API the path belongs to (a request
/// line it cannot parse has no path: the VBS envelope), never an HTML page.
#[tokio::test]
async fn the_gateway_answers_its_own_errors_in_the_envelope() {
    let stack = Stack::start(Topology::default()).await;
    let http = reqwest::Client::new();
    let base = &stack.base_url;
    let long = "a".repeat(20_000);
    let big_header = "a".repeat(100_000);
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, &str)> = vec![
        (
            http.post(format!("{base}/v2/p/backuppolicy")).body(vec![b' '; 2 << 20]),
            413,
            "error",
            "AutoBackup.0413",
        ),
        (
            http.post(format!("{base}/v2/p/backups")).body(vec![b' '; 2 << 20]),
            413,
            "requestEntityTooLarge",
            "VolumeBackup.0413",
        ),
        (http.get(format!("{base}/v2/p/backups/%00")), 400, "error", "AutoBackup.0008"),
        (http.get(format!("{base}/v2/p/backuppolicy?x={long}")), 414, "error", "AutoBackup.0008"),
        (
            http.get(format!("{base}/v2/p/backuppolicy")).header("X-Auth-Token", &big_header),
            431,
            "error",
            "AutoBackup.0008",
        ),
        (
            http.get(format!("{base}/v3/p/backups")).header("X-Auth-Token", &big_header),
            431,
            "badRequest",
            "VolumeBackup.0002",
        ),
        (
            http.request(reqwest::Method::TRACE, format!("{base}/v2/p/backuppolicy")),
            405,
            "error",
            "AutoBackup.0405",
        ),
        (
            http.request(reqwest::Method::TRACE, format!("{base}/v3/p/backups")),
            405,
            "badMethod",
            "VolumeBackup.0405",
        ),
    ];
    for (request, status, key, code) in cases {
        let res = request.send().await.unwrap();
        let got = res.status().as_u16();
        let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let body: Value = res.json().await.unwrap_or_else(|e| panic!("{status} {key}: not JSON: {e}"));
        assert_eq!((got, content_type.as_deref()), (status, Some("application/json")), "{body}");
        assert_eq!(body[key]["code"], code, "{body}");
    }
}
