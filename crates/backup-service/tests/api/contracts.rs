//! Contracts. As a consumer, backup-service pins the `backup.requested` messages of the
//! scheduler: each message of the pact goes to the real workers over the broker and must be
//! backed up. As a provider, it verifies the `task.status` pact of the scheduler and the HTTP
//! pact of `vbsctl` (native create and show) against its real API and workers.

use std::{collections::HashMap, time::Duration};

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{BackupRequested, RequestedTask, RetentionRule, TaskOutcome, TaskStatus},
};
use contract_testing::{Callback, INSTANT, PROJECT, PactOutput, UUID};
use pact_consumer::prelude::*;
use serde_json::{Value, json};
use service_kit::amqp::Queue;

use crate::helpers::{Listener, MIB, TestApp, make_image, spawn_app, token_for};

const BACKUP_NAME: &str = "^autobk_[0-9a-f]{4}$";

pub(crate) fn resource(s: &str) -> ResourceId {
    ResourceId::parse("id", s).unwrap()
}

/// A volume of `project` with the given id, holding a little data.
pub(crate) fn volume_at(app: &TestApp, project: &str, volume: ResourceId, seed: u64) {
    let src = app.dirs.path().join(format!("src-{volume}"));
    std::fs::write(&src, make_image(2 * MIB, seed)).unwrap();
    let project = ProjectId::parse(project).unwrap();
    app.volumes.create_volume(&project, volume, 2 * MIB as u64, Some("vol"), Some(&src)).unwrap();
    std::fs::remove_file(src).unwrap();
}

fn backup_requested(message_id: &str, retention: JsonPattern) -> JsonPattern {
    json_pattern!({
        "message_id": term!(UUID, message_id),
        "message_type": "backup.requested",
        "schema_version": 2,
        "occurred_at": term!(INSTANT, "2026-11-23T22:00:00.000120Z"),
        "payload": {
            "project_id": like!(PROJECT),
            "policy_id": term!(UUID, "5b0ab9d5-56e4-4b1f-a7a9-2d0f5f3c3a11"),
            "retention": retention,
            "utc_offset_minutes": like!(120),
            "scheduled_at": term!(INSTANT, "2026-11-23T22:00:00Z"),
            "deadline": term!(INSTANT, "2026-11-24T22:00:00Z"),
            "tasks": each_like!({
                "task_id": term!(UUID, "7d3c2b1a-0f9e-4d8c-b7a6-958473625140"),
                "volume_id": term!(UUID, "0b4a2a0e-5d3f-4c8e-9f51-7d3f2e1c9a01"),
                "backup_name": term!(BACKUP_NAME, "autobk_4f2a")
            })
        }
    })
}

#[tokio::test]
async fn consumes_the_backup_requests_of_the_scheduler() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("backup-service", "task-scheduler");
    pact.with_output_dir(output.dir());
    pact.message_interaction("a policy's volume is due, retention by count", |mut i| {
        i.given("the volume exists");
        let retention = json_pattern!({"count": like!(2), "days": null, "keep_first_of_month": like!(false)});
        i.json_body(backup_requested("0190a1b2-0000-7000-8000-000000000021", retention));
        i
    });
    pact.message_interaction(
        "a policy's volume is due, retention by days keeping the first of the month",
        |mut i| {
            i.given("the volume exists");
            let retention =
                json_pattern!({"count": null, "days": like!(7), "keep_first_of_month": like!(true)});
            i.json_body(backup_requested("0190a1b2-0000-7000-8000-000000000022", retention));
            i
        },
    );

    let mut backed_up = 0;
    for message in pact.messages() {
        // Each message in a deployment of its own: the example ids are the same in both.
        let app = spawn_app().await;
        let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
        let raw = message.contents.contents.value().unwrap().to_vec();
        let request: Value = serde_json::from_slice(&raw).unwrap();
        let payload = &request["payload"];
        let task = &payload["tasks"][0];
        volume_at(
            &app,
            payload["project_id"].as_str().unwrap(),
            resource(task["volume_id"].as_str().unwrap()),
            7,
        );

        app.publish_raw("backup.requested", &raw).await;
        let running = statuses.next::<TaskStatus>().await.payload;
        assert_eq!(running.outcome, TaskOutcome::Running, "{}", message.description);
        assert_eq!(running.task_id.to_string(), task["task_id"].as_str().unwrap());
        let done = statuses.next::<TaskStatus>().await.payload;
        let TaskOutcome::ExecuteSuccess { backup_id, backup_name, .. } = done.outcome else {
            panic!("{}: {done:?}", message.description)
        };
        assert_eq!(backup_name, task["backup_name"].as_str().unwrap());
        let token = token_for(&[payload["project_id"].as_str().unwrap()]);
        let url = format!(
            "{}/v3/{}/native/backups/{backup_id}",
            app.address,
            payload["project_id"].as_str().unwrap()
        );
        let shown: Value =
            app.client.get(url).header("X-Auth-Token", token).send().await.unwrap().json().await.unwrap();
        assert_eq!(shown["backup"]["status"], "available");
        assert_eq!(shown["backup"]["name"], backup_name.as_str());
        backed_up += 1;
    }
    assert_eq!(backed_up, 2);
    assert_eq!(output.settle("backup-service", "task-scheduler").unwrap(), 2);
}

/// Makes the real workers report on a policy backup; the reports of one task, by status.
async fn report_task(app: &TestApp, statuses: &mut Listener, volume_exists: bool) -> HashMap<String, Value> {
    let volume = ResourceId::new_v4();
    if volume_exists {
        volume_at(app, &app.project, volume, 11);
    }
    let now = chrono::Utc::now();
    let request = app
        .publish(BackupRequested {
            project_id: app.project_id(),
            policy_id: ResourceId::new_v4(),
            retention: RetentionRule { count: Some(2), days: None, keep_first_of_month: false },
            utc_offset_minutes: 0,
            scheduled_at: now,
            deadline: now + chrono::Duration::hours(1),
            tasks: vec![RequestedTask {
                task_id: ResourceId::new_v4(),
                volume_id: volume,
                backup_name: "autobk_0c1d".into(),
            }],
        })
        .await;
    let mut reports = HashMap::new();
    loop {
        let raw = statuses.next_raw(Duration::from_secs(60)).await;
        let report: Value = serde_json::from_slice(&raw).unwrap();
        if report["payload"]["task_id"] != request.payload.tasks[0].task_id.to_string().as_str() {
            continue;
        }
        let status = report["payload"]["status"].as_str().unwrap().to_owned();
        let end = status != "RUNNING";
        reports.insert(status, report);
        if end {
            return reports;
        }
    }
}

#[tokio::test]
async fn task_reports_satisfy_the_pact_of_the_scheduler() {
    let app = spawn_app().await;
    let statuses = tokio::sync::Mutex::new(app.listener(Queue::SchedulerTaskStatus).await);
    let produced = tokio::sync::Mutex::new(HashMap::<String, Value>::new());
    let verified = contract_testing::verify("task-scheduler", "backup-service", None, None, |callback| {
        let (app, statuses, produced) = (&app, &statuses, &produced);
        async move {
            let Callback::Message { description, .. } = callback else { return Ok(Value::Null) };
            let wanted = match description.as_str() {
                d if d.contains("started") => "RUNNING",
                d if d.contains("backed up") => "EXECUTE_SUCCESS",
                d if d.contains("does not exist") => "SKIP",
                d => anyhow::bail!("no way to produce {d:?}"),
            };
            let mut produced = produced.lock().await;
            if !produced.contains_key(wanted) {
                let reports = report_task(app, &mut *statuses.lock().await, wanted != "SKIP").await;
                produced.extend(reports);
            }
            produced.get(wanted).cloned().ok_or_else(|| anyhow::anyhow!("the worker reported no {wanted}"))
        }
    })
    .await
    .unwrap();
    assert_eq!(verified, 3);
}

#[tokio::test]
async fn native_create_and_show_satisfy_the_pact_of_vbsctl() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified = contract_testing::verify("vbsctl", "backup-service", Some(port), Some(token.clone()), |callback| {
        let (app, token) = (&app, &token);
        async move {
            let Callback::State { name, params, setup: true } = callback else { return Ok(Value::Null) };
            let project = ProjectId::parse(PROJECT)?;
            match name.as_str() {
                "a volume with a snapshot exists" => {
                    let volume = resource(params["volume_id"].as_str().unwrap_or_default());
                    volume_at(app, PROJECT, volume, 3);
                    let snapshot = resource(params["snapshot_id"].as_str().unwrap_or_default());
                    app.volumes.create_snapshot(&project, volume, snapshot)?;
                    Ok(Value::Null)
                }
                "an available backup exists" => {
                    let volume = ResourceId::new_v4();
                    volume_at(app, PROJECT, volume, 5);
                    let snapshot = ResourceId::new_v4();
                    app.volumes.create_snapshot(&project, volume, snapshot)?;
                    let body = json!({"backup": {"volume_id": volume, "snapshot_id": snapshot, "name": "nightly"}});
                    let created: Value = app
                        .client
                        .post(format!("{}/v2/{PROJECT}/backups", app.address))
                        .header("X-Auth-Token", token)
                        .json(&body)
                        .send()
                        .await?
                        .json()
                        .await?;
                    let id = created["backup"]["id"].as_str().unwrap_or_default().to_owned();
                    let url = format!("{}/v3/{PROJECT}/native/backups/{id}", app.address);
                    for _ in 0..600 {
                        let shown: Value =
                            app.client.get(&url).header("X-Auth-Token", token).send().await?.json().await?;
                        if shown["backup"]["status"] == "available" {
                            return Ok(json!({"backup_id": id}));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    anyhow::bail!("backup {id} did not become available")
                }
                other => anyhow::bail!("unknown state {other}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(verified, 2);
}
