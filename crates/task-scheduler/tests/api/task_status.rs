//! `task.status` moves tasks: RUNNING, EXECUTE_SUCCESS with the backup, EXECUTE_FAIL with code
//! and message, SKIP; the sweeper times out overdue tasks; late and repeated reports.

use std::time::Duration;

use api_types::{
    domain::{ProjectId, ResourceId},
    message::TaskOutcome,
};
use chrono::TimeDelta;
use task_scheduler::{
    messaging::{Applied, ApplyError},
    store::{naive, tasks::TaskRow},
};

use crate::helpers::{TestApp, at, hourly, new_id, spawn_app};

/// A policy with `volumes` volumes that fired once at 13:00; its tasks.
async fn fired(app: &TestApp, volumes: usize) -> (ResourceId, Vec<TaskRow>) {
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&(0..volumes).map(|_| new_id()).collect::<Vec<_>>())).await;
    app.clock.set(at("2026-11-22T13:00:00Z"));
    assert_eq!(app.scheduler.tick().await.unwrap().requested, volumes);
    (policy, app.task_rows(policy).await)
}

#[tokio::test]
async fn reports_on_the_broker_move_a_task_to_success() {
    let app = spawn_app().await;
    let (policy, tasks) = fired(&app, 1).await;
    let task = &tasks[0];

    app.clock.set(at("2026-11-22T13:00:04.100Z"));
    let job = new_id();
    let mut running = app.status(task, TaskOutcome::Running);
    running.payload.vbs_job_id = Some(job);
    app.publish(&running).await;
    app.wait_handled(running.message_id).await;
    let body = app.tasks(policy, "").await;
    assert_eq!(body["tasks"][0]["status"], "RUNNING");
    assert_eq!(body["tasks"][0]["vbs_job_id"], job.to_string());
    assert!(body["tasks"][0].get("finished_at").is_none());

    app.clock.set(at("2026-11-22T13:12:00.121Z"));
    let backup = new_id();
    let done = app.status(
        task,
        TaskOutcome::ExecuteSuccess {
            backup_id: backup,
            backup_name: task.backup_name.clone(),
            pruned_backup_ids: vec![new_id()],
        },
    );
    app.publish(&done).await;
    app.wait_handled(done.message_id).await;

    let body = app.tasks(policy, "").await;
    let t = &body["tasks"][0];
    assert_eq!(t["status"], "EXECUTE_SUCCESS");
    assert_eq!(t["created_at"], "2026-11-22T13:00:00.000");
    assert_eq!(t["finished_at"], "2026-11-22T13:12:00.121");
    assert_eq!(t["backup_name"], task.backup_name.as_str());
    assert_eq!(t["vbs_job_id"], job.to_string());
    let row = app.task_rows(policy).await.remove(0);
    assert_eq!(row.backup_id, Some(backup.into()));
    assert_eq!(row.finished_at, Some(naive(at("2026-11-22T13:12:00.121Z"))));
}

#[tokio::test]
async fn failures_and_worker_skips_are_recorded_with_their_reasons() {
    let app = spawn_app().await;
    let (policy, tasks) = fired(&app, 2).await;
    app.clock.set(at("2026-11-22T13:01:00Z"));
    let fail = TaskOutcome::ExecuteFail {
        code: "VolumeBackup.0027".into(),
        message: "Failed to create the backup.".into(),
    };
    app.apply_status(&app.status(&tasks[0], fail)).await.unwrap();
    let skip = TaskOutcome::Skip { message: "the volume does not exist".into() };
    app.apply_status(&app.status(&tasks[1], skip)).await.unwrap();

    let body = app.tasks(policy, "?status=EXECUTE_FAIL").await;
    assert_eq!(body["count"], 1);
    let t = &body["tasks"][0];
    assert_eq!(t["job_id"], tasks[0].id.to_string());
    assert_eq!(
        (t["code"].as_str(), t["message"].as_str()),
        (Some("VolumeBackup.0027"), Some("Failed to create the backup."))
    );
    assert_eq!(t["finished_at"], "2026-11-22T13:01:00.000");
    let body = app.tasks(policy, "?status=SKIP").await;
    assert_eq!(body["tasks"][0]["job_id"], tasks[1].id.to_string());
    assert_eq!(body["tasks"][0]["message"], "the volume does not exist");
    assert!(body["tasks"][0].get("code").is_none());
}

#[tokio::test]
async fn reports_after_the_end_and_repeated_reports_change_nothing() {
    let app = spawn_app().await;
    let (policy, tasks) = fired(&app, 1).await;
    let task = &tasks[0];
    let done = app.status(
        task,
        TaskOutcome::ExecuteSuccess {
            backup_id: new_id(),
            backup_name: task.backup_name.clone(),
            pruned_backup_ids: vec![],
        },
    );
    assert!(matches!(app.apply_status(&done).await.unwrap(), Applied::Done(_)));
    let after = app.task_rows(policy).await;

    // A RUNNING overtaken by its own success, a second outcome, and a redelivery.
    let late_running = app.status(task, TaskOutcome::Running);
    assert!(matches!(app.apply_status(&late_running).await.unwrap(), Applied::Ignored(_)));
    let fail = app.status(task, TaskOutcome::ExecuteFail { code: "X".into(), message: "m".into() });
    assert!(matches!(app.apply_status(&fail).await.unwrap(), Applied::Ignored(_)));
    assert_eq!(app.apply_status(&done).await.unwrap(), Applied::Duplicate);
    assert_eq!(app.task_rows(policy).await, after);
}

#[tokio::test]
async fn the_sweeper_times_out_overdue_tasks_and_a_late_success_is_still_recorded() {
    let app = spawn_app().await;
    let (policy, tasks) = fired(&app, 2).await;
    // One task is RUNNING, the other never left WAITING; the deadline is 6 h after creation.
    app.apply_status(&app.status(&tasks[0], TaskOutcome::Running)).await.unwrap();
    app.clock.set(at("2026-11-22T19:00:00Z"));
    assert_eq!(app.scheduler.sweep().await.unwrap(), 0, "not past the deadline yet");
    app.clock.set(at("2026-11-22T19:00:01Z"));
    assert_eq!(app.scheduler.sweep().await.unwrap(), 2);
    assert_eq!(app.scheduler.sweep().await.unwrap(), 0, "once");
    let body = app.tasks(policy, "?status=EXECUTE_TIMEOUT").await;
    assert_eq!(body["count"], 2);
    for t in body["tasks"].as_array().unwrap() {
        assert_eq!(t["finished_at"], "2026-11-22T19:00:01.000");
        assert!(t["message"].as_str().unwrap().contains("deadline"));
    }

    // The worker finishes after all.
    app.clock.set(at("2026-11-22T19:30:00Z"));
    let backup = new_id();
    let late = app.status(
        &tasks[0],
        TaskOutcome::ExecuteSuccess {
            backup_id: backup,
            backup_name: tasks[0].backup_name.clone(),
            pruned_backup_ids: vec![],
        },
    );
    assert!(matches!(app.apply_status(&late).await.unwrap(), Applied::Done(_)));
    let row = app.task_rows(policy).await.into_iter().find(|t| t.id == tasks[0].id).unwrap();
    assert_eq!(row.status, "EXECUTE_TIMEOUT", "the status stays");
    assert_eq!(row.backup_id, Some(backup.into()));
    assert_eq!(row.backup_name, tasks[0].backup_name);
    assert_eq!(row.finished_at, Some(naive(at("2026-11-22T19:30:00Z"))));
    let message = row.message.unwrap();
    assert!(
        message.contains("deadline")
            && message.contains("succeeded")
            && message.contains(&backup.to_string()),
        "{message}"
    );
    // A late RUNNING changes nothing.
    let running = app.status(&tasks[1], TaskOutcome::Running);
    assert!(matches!(app.apply_status(&running).await.unwrap(), Applied::Ignored(_)));

    // Timed-out tasks are not open: the next slot runs.
    app.clock.set(at("2026-11-22T20:00:00Z"));
    assert_eq!(app.scheduler.tick().await.unwrap().requested, 2);
}

#[tokio::test]
async fn the_deadline_is_configurable() {
    let app = crate::helpers::spawn_app_with(|s| s.scheduler.task_deadline = Duration::from_secs(600)).await;
    let (_, tasks) = fired(&app, 1).await;
    assert_eq!(tasks[0].deadline, naive(at("2026-11-22T13:10:00Z")));
    app.clock.advance(TimeDelta::minutes(11));
    assert_eq!(app.scheduler.sweep().await.unwrap(), 1);
}

#[tokio::test]
async fn reports_that_do_not_match_a_task_are_refused() {
    let app = spawn_app().await;
    let (_, tasks) = fired(&app, 1).await;
    let mut unknown = app.status(&tasks[0], TaskOutcome::Running);
    unknown.payload.task_id = new_id();
    assert!(matches!(app.apply_status(&unknown).await, Err(ApplyError::Poison(_))));
    let mut elsewhere = app.status(&tasks[0], TaskOutcome::Running);
    elsewhere.payload.project_id = ProjectId::parse("another-project").unwrap();
    assert!(matches!(app.apply_status(&elsewhere).await, Err(ApplyError::Poison(_))));
    assert_eq!(app.task_rows(*tasks[0].policy_id).await[0].status, "WAITING");

    // On the broker such a report is dead-lettered rather than retried forever.
    let mut dead = app.dead_letters().await;
    app.publish(&unknown).await;
    let body = dead.next_raw(Duration::from_secs(20)).await;
    assert!(String::from_utf8_lossy(&body).contains(&unknown.payload.task_id.to_string()));
}
