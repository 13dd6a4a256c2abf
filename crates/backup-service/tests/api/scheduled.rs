//! Policy backups over the real broker: `backup.requested` in (the tasks of a slot), a
//! `task.status` stream per task out, retention applied to the policy's automatic backups,
//! idempotent redelivery, poison messages dead-lettered.

use std::time::Duration;

use api_types::{
    domain::ResourceId,
    message::{BackupRequested, RequestedTask, RetentionRule, TaskOutcome, TaskStatus},
};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::Value;
use service_kit::amqp::Queue;

use crate::helpers::{Listener, MIB, TestApp, make_image, spawn_app};

fn request(app: &TestApp, policy: ResourceId, volume: &str, rule: RetentionRule) -> BackupRequested {
    let now = Utc::now();
    BackupRequested {
        project_id: app.project_id(),
        policy_id: policy,
        retention: rule,
        utc_offset_minutes: 0,
        scheduled_at: now,
        deadline: now + chrono::Duration::hours(1),
        tasks: vec![task(volume)],
    }
}

fn task(volume: &str) -> RequestedTask {
    RequestedTask {
        task_id: ResourceId::new_v4(),
        volume_id: ResourceId::parse("volume_id", volume).unwrap(),
        backup_name: format!("autobk_{:04x}", rand_suffix()),
    }
}

fn rand_suffix() -> u16 {
    (uuid::Uuid::new_v4().as_u128() & 0xffff) as u16
}

/// Publishes the request and follows its task to the end; returns the final outcome.
async fn run_task(app: &TestApp, statuses: &mut Listener, req: BackupRequested) -> TaskOutcome {
    let task = req.tasks[0].task_id;
    app.publish(req).await;
    let mut saw_running = false;
    loop {
        let s = statuses.next::<TaskStatus>().await.payload;
        assert_eq!(s.task_id, task);
        match s.outcome {
            TaskOutcome::Running => {
                assert!(s.vbs_job_id.is_some());
                saw_running = true;
            }
            TaskOutcome::ExecuteSuccess { .. } => {
                assert!(saw_running, "RUNNING comes first");
                assert!(s.vbs_job_id.is_some());
                return s.outcome;
            }
            other => return other,
        }
    }
}

fn rule(count: Option<u8>, days: Option<u32>, keep_first_of_month: bool) -> RetentionRule {
    RetentionRule { count, days, keep_first_of_month }
}

async fn success(app: &TestApp, statuses: &mut Listener, req: BackupRequested) -> (String, Vec<String>) {
    let name = req.tasks[0].backup_name.clone();
    match run_task(app, statuses, req).await {
        TaskOutcome::ExecuteSuccess { backup_id, backup_name, pruned_backup_ids } => {
            assert_eq!(backup_name, name);
            (backup_id.to_string(), pruned_backup_ids.iter().map(ToString::to_string).collect())
        }
        other => panic!("{other:?}"),
    }
}

/// Moves a backup's creation time (the retention clock).
async fn set_created(app: &TestApp, id: &str, at: chrono::DateTime<Utc>) {
    app.execute(format!("UPDATE backups SET created_at = '{}' WHERE id = '{id}'", at.naive_utc())).await;
}

#[tokio::test]
async fn a_policy_backup_reports_its_task_and_retention_keeps_the_newest_n() {
    let app = spawn_app().await;
    let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
    let volume = app.volume_with(&make_image(MIB + 5, 80));
    let policy = ResourceId::new_v4();
    let r = rule(Some(2), None, false);

    let (first, pruned) = success(&app, &mut statuses, request(&app, policy, &volume, r)).await;
    assert!(pruned.is_empty());
    let b = app.wait_backup(&first, "available").await;
    assert!(b["name"].as_str().unwrap().starts_with("autobk_"));
    assert_eq!(b["is_incremental"], false);
    // A manual backup of the same volume is never pruned and takes no slot.
    let manual = app.backup_available(&volume, "manual").await["id"].as_str().unwrap().to_owned();
    let (second, pruned) = success(&app, &mut statuses, request(&app, policy, &volume, r)).await;
    assert!(pruned.is_empty());
    assert_eq!(app.wait_backup(&second, "available").await["is_incremental"], true);
    let (third, pruned) = success(&app, &mut statuses, request(&app, policy, &volume, r)).await;
    assert_eq!(pruned, std::slice::from_ref(&first));
    app.wait_gone(&first).await;
    for id in [&manual, &second, &third] {
        app.wait_backup(id, "available").await;
    }
    // Another policy's backups of the volume are its own business.
    let (_, pruned) = success(
        &app,
        &mut statuses,
        request(&app, ResourceId::new_v4(), &volume, rule(Some(2), None, false)),
    )
    .await;
    assert!(pruned.is_empty());
}

#[tokio::test]
async fn retention_by_days_and_keeping_the_first_of_the_month() {
    let app = spawn_app().await;
    let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
    let volume = app.volume_with(&make_image(MIB, 81));
    let policy = ResourceId::new_v4();
    let now = Utc::now();

    // By days: a backup 10 days old goes, one 2 days old stays.
    let days = rule(None, Some(7), false);
    let (old, _) = success(&app, &mut statuses, request(&app, policy, &volume, days)).await;
    let (young, _) = success(&app, &mut statuses, request(&app, policy, &volume, days)).await;
    set_created(&app, &old, now - chrono::Duration::days(10)).await;
    set_created(&app, &young, now - chrono::Duration::days(2)).await;
    let (_, pruned) = success(&app, &mut statuses, request(&app, policy, &volume, days)).await;
    assert_eq!(pruned, std::slice::from_ref(&old));
    app.wait_gone(&old).await;
    app.wait_backup(&young, "available").await;

    // Keep-first-of-month: with a count of 1, the first backup of this month stays too.
    let policy = ResourceId::new_v4();
    let monthly = rule(Some(1), None, true);
    let month_start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).unwrap();
    // Three backups under no retention, then moved in time.
    let none = rule(None, None, false);
    let (first, _) = success(&app, &mut statuses, request(&app, policy, &volume, none)).await;
    let (middle, _) = success(&app, &mut statuses, request(&app, policy, &volume, none)).await;
    let (last_month, _) = success(&app, &mut statuses, request(&app, policy, &volume, none)).await;
    set_created(&app, &last_month, month_start - chrono::Duration::days(3)).await;
    set_created(&app, &first, month_start + chrono::Duration::seconds(1)).await;
    set_created(&app, &middle, month_start + chrono::Duration::seconds(2)).await;
    let (newest, mut pruned) = success(&app, &mut statuses, request(&app, policy, &volume, monthly)).await;
    pruned.sort();
    let mut expected = vec![last_month.clone(), middle.clone()];
    expected.sort();
    assert_eq!(pruned, expected, "kept: the newest and the first of this month");
    for id in [&last_month, &middle] {
        app.wait_gone(id).await;
    }
    for id in [&first, &newest] {
        app.wait_backup(id, "available").await;
    }
}

#[tokio::test]
async fn missing_or_busy_volumes_are_skipped_and_redelivery_changes_nothing() {
    let app = spawn_app().await;
    let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
    let policy = ResourceId::new_v4();
    let r = rule(Some(3), None, false);

    let missing = uuid::Uuid::new_v4().to_string();
    match run_task(&app, &mut statuses, request(&app, policy, &missing, r)).await {
        TaskOutcome::Skip { message } => assert!(message.contains("does not exist"), "{message}"),
        other => panic!("{other:?}"),
    }

    // The volume is busy: a job (of a backup no worker will run) holds it.
    let volume = app.volume_with(&make_image(MIB, 82));
    app.execute(format!(
        "INSERT INTO jobs (id, project_id, job_type, status, backup_id, volume_id, busy_volume, created_at, updated_at) \
         VALUES ('{}', '{}', 'bksCreateBackup', 'INIT', '{}', '{volume}', '{volume}', now(), now())",
        uuid::Uuid::new_v4(),
        app.project,
        uuid::Uuid::new_v4()
    ))
    .await;
    match run_task(&app, &mut statuses, request(&app, policy, &volume, r)).await {
        TaskOutcome::Skip { message } => assert!(message.contains("in progress"), "{message}"),
        other => panic!("{other:?}"),
    }
    app.execute("DELETE FROM jobs".to_owned()).await;

    // The same message twice (the broker or the scheduler's relay redelivering): one backup.
    let req = request(&app, policy, &volume, r);
    let env = app.publish(req.clone()).await;
    app.publish_envelope(&env).await;
    loop {
        if let TaskOutcome::ExecuteSuccess { .. } = statuses.next::<TaskStatus>().await.payload.outcome {
            break;
        }
    }
    // And the same task under a new message id: still one backup.
    app.publish(req).await;
    statuses.assert_quiet(Duration::from_millis(1500)).await;
    assert_eq!(app.count("SELECT count(*) FROM backups").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 1);
}

#[tokio::test]
async fn one_request_carries_the_tasks_of_a_slot_and_each_ends_on_its_own() {
    let app = spawn_app().await;
    let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
    let (a, b) = (app.volume_with(&make_image(MIB, 84)), app.volume_with(&make_image(MIB, 85)));
    let missing = uuid::Uuid::new_v4().to_string();
    let mut req = request(&app, ResourceId::new_v4(), &a, rule(Some(2), None, false));
    req.tasks.extend([task(&b), task(&missing)]);
    let names: std::collections::HashMap<ResourceId, String> =
        req.tasks.iter().map(|t| (t.task_id, t.backup_name.clone())).collect();
    let env = app.publish(req.clone()).await;
    // Delivered twice: the tasks are recorded once.
    app.publish_envelope(&env).await;

    let mut ended = std::collections::HashMap::new();
    while ended.len() < 3 {
        let s = statuses.next::<TaskStatus>().await.payload;
        assert!(names.contains_key(&s.task_id), "a status of another task: {s:?}");
        assert_eq!(s.policy_id, req.policy_id);
        if s.outcome != TaskOutcome::Running {
            assert!(ended.insert(s.task_id, (s.volume_id, s.outcome)).is_none(), "one end per task");
        }
    }
    for t in &req.tasks {
        let (volume, outcome) = &ended[&t.task_id];
        assert_eq!(*volume, t.volume_id);
        match outcome {
            TaskOutcome::ExecuteSuccess { backup_name, .. } => {
                assert_ne!(t.volume_id.to_string(), missing);
                assert_eq!(backup_name, &names[&t.task_id]);
            }
            TaskOutcome::Skip { message } => {
                assert_eq!(t.volume_id.to_string(), missing);
                assert!(message.contains("does not exist"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    statuses.assert_quiet(Duration::from_millis(1500)).await;
    assert_eq!(app.count("SELECT count(*) FROM backups WHERE status = 'available'").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM jobs").await, 2);
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_queue() {
    let app = spawn_app().await;
    let mut dead = Listener::on_queue(&app.amqp, &app.amqp.dead_letter_queue()).await;
    app.publish_raw("backup.job", b"not json").await;
    assert_eq!(dead.next_raw(Duration::from_secs(20)).await, b"not json");
    let mut bad: Value = serde_json::to_value(api_types::message::Envelope::new(
        request(&app, ResourceId::new_v4(), &uuid::Uuid::new_v4().to_string(), rule(None, None, false)),
        Utc::now(),
        None,
    ))
    .unwrap();
    bad["payload"]["project_id"] = "../../etc".into();
    let body = serde_json::to_vec(&bad).unwrap();
    app.publish_raw("backup.requested", &body).await;
    assert_eq!(dead.next_raw(Duration::from_secs(20)).await, body);
    // A request without tasks, and one of the previous schema version (a task at the top).
    bad["payload"]["project_id"] = app.project.as_str().into();
    bad["payload"]["tasks"] = serde_json::json!([]);
    let empty = serde_json::to_vec(&bad).unwrap();
    app.publish_raw("backup.requested", &empty).await;
    assert_eq!(dead.next_raw(Duration::from_secs(20)).await, empty);
    bad["schema_version"] = 1.into();
    let old = serde_json::to_vec(&bad).unwrap();
    app.publish_raw("backup.requested", &old).await;
    assert_eq!(dead.next_raw(Duration::from_secs(20)).await, old);
    // The worker is still consuming: a good request after the bad ones is handled.
    let mut statuses = app.listener(Queue::SchedulerTaskStatus).await;
    let volume = app.volume_with(&make_image(MIB, 83));
    success(&app, &mut statuses, request(&app, ResourceId::new_v4(), &volume, rule(Some(2), None, false)))
        .await;
}
