//! Contracts. As a consumer, the scheduler pins the `policy.changed` / `policy.execute` messages
//! of policy-service and the `task.status` messages of backup-service: every message of those
//! pacts is fed to the real handler, which must apply it. As a provider, it verifies the
//! `backup.requested` pact of backup-service and the HTTP pact of `vbsctl` (the task query)
//! against its real code.

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{PolicyExecute, RetentionRule, TaskOutcome},
};
use contract_testing::{Callback, INSTANT, PROJECT, PactOutput, UUID};
use pact_consumer::prelude::*;
use serde_json::{Value, json};
use service_kit::amqp::Queue;
use task_scheduler::{
    clock::Clock,
    messaging::{Applied, task_status},
    store::schema::tasks,
};

use crate::helpers::{
    Listener, TestApp, apply_policy_event, at, changed, hourly, new_id, snapshot, spawn_app, token_for,
};

const POLICY: &str = "5b0ab9d5-56e4-4b1f-a7a9-2d0f5f3c3a11";
const VOLUME: &str = "0b4a2a0e-5d3f-4c8e-9f51-7d3f2e1c9a01";
const TASK: &str = "7d3c2b1a-0f9e-4d8c-b7a6-958473625140";
const WEEK_DAY: &str = "^(SUN|MON|TUE|WED|THU|FRI|SAT)$";
const BACKUP_NAME: &str = "^autobk_[0-9a-f]{4}$";

fn id(s: &str) -> ResourceId {
    ResourceId::parse("id", s).unwrap()
}

fn envelope(message_id: &str, message_type: &str, payload: JsonPattern) -> JsonPattern {
    json_pattern!({
        "message_id": term!(UUID, message_id),
        "message_type": message_type,
        "schema_version": 1,
        "occurred_at": term!(INSTANT, "2026-11-23T08:00:00.123456Z"),
        "payload": payload
    })
}

/// The message body of an interaction, as the consumer receives it.
fn body(message: &pact_models::v4::async_message::AsynchronousMessage) -> Vec<u8> {
    message.contents.contents.value().unwrap().to_vec()
}

#[tokio::test]
async fn consumes_the_policy_messages_of_policy_service() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("task-scheduler", "policy-service");
    pact.with_output_dir(output.dir());
    pact.message_interaction("a weekly policy with a time zone, volumes and tags changed", |mut i| {
        i.json_body(envelope(
            "0190a1b2-0000-7000-8000-000000000001",
            "policy.changed",
            json_pattern!({
                "project_id": like!(PROJECT),
                "policy_id": term!(UUID, POLICY),
                "version": like!(2),
                "change": "upserted",
                "policy": {
                    "name": like!("nightly_db"),
                    "enabled": like!(true),
                    "start_hours_utc": each_like!(22),
                    "frequency_days": null,
                    "week_days": each_like!(term!(WEEK_DAY, "MON")),
                    "utc_offset_minutes": like!(120),
                    "retention": {"count": like!(7), "days": null, "keep_first_of_month": like!(true)},
                    "volumes": each_like!(term!(UUID, VOLUME)),
                    "tags": each_like!({"key": like!("team"), "value": like!("db")})
                }
            }),
        ));
        i
    });
    pact.message_interaction("a policy backing up every few days with retention by days changed", |mut i| {
        i.json_body(envelope(
            "0190a1b2-0000-7000-8000-000000000002",
            "policy.changed",
            json_pattern!({
                "project_id": like!(PROJECT),
                "policy_id": term!(UUID, "6c1bbae6-67f5-4c2a-b8ba-3e1a6a4d4b22"),
                "version": like!(1),
                "change": "upserted",
                "policy": {
                    "name": like!("every_third_day"),
                    "enabled": like!(true),
                    "start_hours_utc": each_like!(3),
                    "frequency_days": like!(3),
                    "week_days": null,
                    "utc_offset_minutes": like!(0),
                    "retention": {"count": null, "days": like!(30), "keep_first_of_month": like!(false)},
                    "volumes": [],
                    "tags": []
                }
            }),
        ));
        i
    });
    pact.message_interaction("a policy was deleted", |mut i| {
        i.given("a backup policy exists");
        i.json_body(envelope(
            "0190a1b2-0000-7000-8000-000000000003",
            "policy.changed",
            json_pattern!({
                "project_id": like!(PROJECT),
                "policy_id": term!(UUID, "7d2cc0f7-78a6-4d3b-89cb-4f2b7b5e5c33"),
                "version": like!(2),
                "change": "deleted"
            }),
        ));
        i
    });
    pact.message_interaction("a policy is to be executed now", |mut i| {
        i.given("a backup policy with a volume exists");
        i.json_body(envelope(
            "0190a1b2-0000-7000-8000-000000000004",
            "policy.execute",
            json_pattern!({
                "project_id": like!(PROJECT),
                "policy_id": term!(UUID, "8e3dd108-89b7-4e4c-9adc-503c8c6f6d44"),
                "version": like!(1),
                "requested_at": term!(INSTANT, "2026-11-23T08:00:00.123456Z")
            }),
        ));
        i
    });

    let app = spawn_app().await;
    let mut applied = 0;
    for message in pact.messages() {
        let raw = body(&message);
        let parsed: Value = serde_json::from_slice(&raw).unwrap();
        let payload = &parsed["payload"];
        let project = payload["project_id"].as_str().unwrap();
        let policy = id(payload["policy_id"].as_str().unwrap());
        // The consumer side of the provider states: what the scheduler already knows.
        if message.description.starts_with("a policy was deleted")
            || message.description.starts_with("a policy is to be executed")
        {
            let known = app.envelope(changed(project, policy, 1, hourly(&[new_id()])));
            apply_policy_event(&app.scheduler, &known).await.unwrap();
        }
        let result = task_scheduler::messaging::policy_events::apply(&app.scheduler, raw).await;
        assert!(matches!(result, Ok(Applied::Done(_))), "{}: {result:?}", message.description);
        let row = app.policy_row(policy).await;
        assert_eq!(row.project_id.as_str(), project);
        match message.description.as_str() {
            d if d.starts_with("a weekly") => {
                assert_eq!(row.week_days.as_deref(), Some("MON"));
                assert_eq!(row.utc_offset_minutes, 120);
                assert_eq!(row.retention_count, Some(7));
                assert!(row.enabled && !row.deleted);
            }
            d if d.starts_with("a policy backing up every few days") => {
                assert_eq!(row.frequency_days, Some(3));
                assert_eq!(row.retention_count, None);
            }
            d if d.starts_with("a policy was deleted") => assert!(row.deleted),
            _ => assert_eq!(app.task_rows(policy).await.len(), 1, "execute creates the task"),
        }
        applied += 1;
    }
    assert_eq!(applied, 4);
    assert_eq!(output.settle("task-scheduler", "policy-service").unwrap(), 4);
}

#[tokio::test]
async fn consumes_the_task_status_messages_of_backup_service() {
    let output = PactOutput::new().unwrap();
    let mut pact = PactBuilder::new_v4("task-scheduler", "backup-service");
    pact.with_output_dir(output.dir());
    let task = |status: &str, extra: JsonPattern| {
        let mut payload = json_pattern!({
            "task_id": term!(UUID, TASK),
            "project_id": like!(PROJECT),
            "policy_id": term!(UUID, POLICY),
            "volume_id": term!(UUID, VOLUME),
            "at": term!(INSTANT, "2026-11-23T08:00:01.5Z"),
            "status": (status.to_owned())
        });
        if let (JsonPattern::Object(p), JsonPattern::Object(e)) = (&mut payload, extra) {
            p.extend(e);
        }
        payload
    };
    pact.message_interaction("a worker started backing up a volume", |mut i| {
        i.given("a policy backup of the volume was requested");
        let extra = json_pattern!({"vbs_job_id": term!(UUID, "2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c91")});
        i.json_body(envelope("0190a1b2-0000-7000-8000-000000000011", "task.status", task("RUNNING", extra)));
        i
    });
    pact.message_interaction("a worker backed up a volume", |mut i| {
        i.given("a policy backup of the volume was requested");
        let extra = json_pattern!({
            "vbs_job_id": term!(UUID, "2a1b0c9d-8e7f-4a6b-9c5d-4e3f2a1b0c91"),
            "backup_id": term!(UUID, "3f9c1a52-7e44-4b0a-9d1e-8b6f0c2d4e03"),
            "backup_name": term!(BACKUP_NAME, "autobk_4f2a"),
            "pruned_backup_ids": []
        });
        i.json_body(envelope(
            "0190a1b2-0000-7000-8000-000000000012",
            "task.status",
            task("EXECUTE_SUCCESS", extra),
        ));
        i
    });
    pact.message_interaction("a worker skipped a task because the volume does not exist", |mut i| {
        i.given("a policy backup of a missing volume was requested");
        let extra =
            json_pattern!({"message": like!("volume 0b4a2a0e-5d3f-4c8e-9f51-7d3f2e1c9a01 does not exist")});
        i.json_body(envelope("0190a1b2-0000-7000-8000-000000000013", "task.status", task("SKIP", extra)));
        i
    });

    let mut applied = 0;
    for message in pact.messages() {
        let raw = body(&message);
        let parsed: Value = serde_json::from_slice(&raw).unwrap();
        let payload = &parsed["payload"];
        // State, in a scheduler of its own: the policy is known and was executed for the volume;
        // the task has the message's id.
        let app = spawn_app().await;
        let policy = id(payload["policy_id"].as_str().unwrap());
        let volume = id(payload["volume_id"].as_str().unwrap());
        let project = payload["project_id"].as_str().unwrap().to_owned();
        let known = app.envelope(changed(&project, policy, 1, hourly(&[volume])));
        apply_policy_event(&app.scheduler, &known).await.unwrap();
        let execute = app.envelope(PolicyExecute {
            project_id: ProjectId::parse(&project).unwrap(),
            policy_id: policy,
            version: 1,
            requested_at: at("2026-11-22T12:00:00Z"),
        });
        apply_policy_event(&app.scheduler, &execute).await.unwrap();
        let task_id = payload["task_id"].as_str().unwrap().to_owned();
        let policy_key = policy.to_string();
        app.db(move |c| {
            use diesel::prelude::*;
            diesel::delete(tasks::table.filter(tasks::id.eq(&task_id))).execute(c).unwrap();
            diesel::update(tasks::table.filter(tasks::policy_id.eq(policy_key)))
                .set(tasks::id.eq(&task_id))
                .execute(c)
                .unwrap();
        })
        .await;

        let result = task_status::apply(&app.scheduler, raw).await;
        assert!(matches!(result, Ok(Applied::Done(_))), "{}: {result:?}", message.description);
        let rows = app.task_rows(policy).await;
        let expected = payload["status"].as_str().unwrap();
        assert_eq!(rows[0].status, expected, "{}", message.description);
        if expected == "EXECUTE_SUCCESS" {
            assert_eq!(rows[0].backup_id.map(|b| b.to_string()).as_deref(), payload["backup_id"].as_str());
            assert!(rows[0].finished_at.is_some());
        }
        applied += 1;
    }
    assert_eq!(applied, 3);
    assert_eq!(output.settle("task-scheduler", "backup-service").unwrap(), 3);
}

/// The next message of `message_type` on `listener` for which `wanted` holds, as produced.
/// Makes the real scheduler request a backup: a policy with one volume, executed now.
async fn produce_backup_request(
    app: &TestApp,
    requests: &mut Listener,
    description: &str,
) -> anyhow::Result<Value> {
    let policy = new_id();
    let mut s = snapshot(&[22, 0, 2], Some(&["MON", "THU"]), &[new_id()]);
    s.utc_offset_minutes = 120;
    s.retention = if description.contains("retention by days") {
        RetentionRule { count: None, days: Some(7), keep_first_of_month: true }
    } else {
        RetentionRule { count: Some(2), days: None, keep_first_of_month: false }
    };
    app.put_policy(policy, 1, s).await;
    let applied = apply_policy_event(&app.scheduler, &app.execute(policy, 1)).await?;
    anyhow::ensure!(matches!(applied, Applied::Done(_)), "{applied:?}");
    let key = policy.to_string();
    Ok(requests.next_json("backup.requested", |m| m["payload"]["policy_id"] == key.as_str()).await)
}

#[tokio::test]
async fn backup_requests_satisfy_the_pact_of_backup_service() {
    let app = spawn_app().await;
    let requests = tokio::sync::Mutex::new(app.listener(Queue::BackupRequests).await);
    let verified = contract_testing::verify("backup-service", "task-scheduler", None, None, |callback| {
        let (app, requests) = (&app, &requests);
        async move {
            match callback {
                Callback::Message { description, .. } => {
                    produce_backup_request(app, &mut *requests.lock().await, &description).await
                }
                Callback::State { .. } => Ok(Value::Null),
            }
        }
    })
    .await
    .unwrap();
    assert!(verified >= 2);
}

#[tokio::test]
async fn the_task_query_satisfies_the_pact_of_vbsctl() {
    let app = spawn_app().await;
    let port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let token = token_for(&[PROJECT]);
    let verified =
        contract_testing::verify("vbsctl", "task-scheduler", Some(port), Some(token), |callback| {
            let app = &app;
            async move {
                let Callback::State { name, setup: true, .. } = callback else { return Ok(Value::Null) };
                anyhow::ensure!(name == "a backup policy with two finished tasks", "unknown state {name}");
                // Two volumes fired by an execute; both reported done by a worker.
                let policy = new_id();
                let known = app.envelope(changed(PROJECT, policy, 1, hourly(&[new_id(), new_id()])));
                apply_policy_event(&app.scheduler, &known).await?;
                let execute = app.envelope(PolicyExecute {
                    project_id: ProjectId::parse(PROJECT).unwrap(),
                    policy_id: policy,
                    version: 1,
                    requested_at: app.clock.now(),
                });
                apply_policy_event(&app.scheduler, &execute).await?;
                for task in app.task_rows(policy).await {
                    let done = app.status(
                        &task,
                        TaskOutcome::ExecuteSuccess {
                            backup_id: new_id(),
                            backup_name: task.backup_name.clone(),
                            pruned_backup_ids: vec![],
                        },
                    );
                    app.apply_status(&done).await?;
                }
                Ok(json!({"policy_id": policy.to_string()}))
            }
        })
        .await
        .unwrap();
    assert_eq!(verified, 1);
}
