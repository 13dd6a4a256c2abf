//! Due slots and "execute now" become tasks and `backup.requested` messages on the broker; a
//! busy volume and missed slots become `SKIP` tasks.

use std::time::Duration;

use api_types::{
    dto::TaskState,
    message::{BackupRequested, RetentionRule, TaskOutcome},
};
use chrono::{DateTime, TimeDelta, Utc};
use service_kit::amqp::Queue;
use task_scheduler::{
    clock::Clock,
    messaging::{Applied, ApplyError},
    scheduler::FireReport,
    store::naive,
};

use crate::helpers::{
    apply_policy_event, at, changed, hourly, new_id, snapshot, spawn_app, spawn_app_ticking, spawn_app_with,
};

fn state(s: &str) -> TaskState {
    TaskState::parse(s).unwrap()
}

/// The seed example: UTC+02:00, start times 22:00,00:00,02:00, week_frequency [MON].
fn seed_example(volumes: &[api_types::domain::ResourceId]) -> api_types::message::PolicySnapshot {
    let mut s = snapshot(&[22, 0, 2], Some(&["MON"]), volumes);
    s.utc_offset_minutes = 120;
    s
}

#[tokio::test]
async fn a_policy_event_and_its_due_slot_become_tasks_and_backup_requests_on_the_broker() {
    let app = spawn_app().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    let (v1, v2) = (new_id(), new_id());
    let mut policy_snapshot = seed_example(&[v1, v2]);
    policy_snapshot.retention = RetentionRule { count: None, days: Some(30), keep_first_of_month: true };
    let event = app.envelope(changed(&app.project, policy, 1, policy_snapshot));
    app.publish(&event).await;
    app.wait_handled(event.message_id).await;

    // The clock reads Sunday 12:00 UTC: the next slot is Sunday 22:00 UTC, Monday 00:00 local.
    let slot = at("2026-11-22T22:00:00Z");
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(slot)));
    app.clock.set(slot - TimeDelta::seconds(1));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default(), "not due yet");

    let now = slot + TimeDelta::milliseconds(2500);
    app.clock.set(now);
    let report = app.scheduler.tick().await.unwrap();
    assert_eq!(report, FireReport { policies: 1, requested: 2, skipped: 0 });

    let tasks = app.task_rows(policy).await;
    assert_eq!(tasks.len(), 2);
    // One message for the slot, carrying both tasks.
    let m = requests.next::<BackupRequested>().await.payload;
    assert_eq!(m.project_id.as_str(), app.project);
    assert_eq!(m.policy_id, policy);
    assert_eq!(m.retention, RetentionRule { count: None, days: Some(30), keep_first_of_month: true });
    assert_eq!(m.utc_offset_minutes, 120);
    assert_eq!(m.scheduled_at, slot);
    assert_eq!(m.deadline, now + TimeDelta::hours(6), "default deadline");
    let mut carried = m.tasks.clone();
    carried.sort_by_key(|t| t.volume_id);
    let mut volumes = [v1, v2];
    volumes.sort();
    assert_eq!(carried.len(), 2);
    for (t, volume) in carried.iter().zip(volumes) {
        let task = tasks.iter().find(|row| *row.id == t.task_id).expect("a task row per task carried");
        assert_eq!(t.volume_id, volume);
        assert_eq!(*task.volume_id, volume);
        assert_eq!(task.status, "WAITING");
        assert_eq!(t.backup_name, task.backup_name);
        assert!(
            t.backup_name.len() == 11
                && t.backup_name.starts_with("autobk_")
                && t.backup_name[7..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{}",
            t.backup_name
        );
        assert_eq!(task.deadline, naive(m.deadline));
    }
    requests.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(at("2026-11-23T00:00:00Z"))));

    // The slot fired once: ticking again does nothing.
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());
    requests.assert_quiet(Duration::from_millis(500)).await;

    let body = app.tasks(policy, "?sort_dir=asc").await;
    assert_eq!(body["count"], 2);
    for t in body["tasks"].as_array().unwrap() {
        assert_eq!(t["status"], "WAITING");
        assert_eq!(t["created_at"], "2026-11-22T22:00:02.500");
        assert!(t.get("finished_at").is_none());
        assert_eq!(t["resource_type"], "volume");
    }
}

#[tokio::test]
#[allow(clippy::print_stdout, reason = "the instants are meant to be read with --nocapture")]
async fn the_next_ten_fire_instants_of_the_seed_example() {
    let app = spawn_app().await;
    app.clock.set(at("2026-11-23T00:00:00Z"));
    let policy = new_id();
    app.put_policy(policy, 1, seed_example(&[new_id()])).await;

    let mut instants: Vec<DateTime<Utc>> = Vec::new();
    for _ in 0..10 {
        let next = app.policy_row(policy).await.next_fire_at.unwrap().and_utc();
        instants.push(next);
        app.clock.set(next);
        assert_eq!(app.scheduler.tick().await.unwrap().requested, 1, "{next}");
        // The worker finishes at once, so no slot is skipped for a busy volume.
        let task = app.task_rows(policy).await.pop().unwrap();
        let done = TaskOutcome::ExecuteSuccess {
            backup_id: new_id(),
            backup_name: task.backup_name.clone(),
            pruned_backup_ids: vec![],
        };
        app.apply_status(&app.status(&task, done)).await.unwrap();
    }
    println!("UTC+02:00, start_time 22:00,00:00,02:00, week_frequency [MON], after 2026-11-23T00:00:00Z:");
    for t in &instants {
        println!("  {}", t.format("%Y-%m-%dT%H:%M:%SZ %a"));
    }
    let expected = [
        "2026-11-23T02:00:00Z",
        "2026-11-29T22:00:00Z",
        "2026-11-30T00:00:00Z",
        "2026-11-30T02:00:00Z",
        "2026-12-06T22:00:00Z",
        "2026-12-07T00:00:00Z",
        "2026-12-07T02:00:00Z",
        "2026-12-13T22:00:00Z",
        "2026-12-14T00:00:00Z",
        "2026-12-14T02:00:00Z",
    ];
    assert_eq!(instants, expected.map(at));
    let slots: Vec<DateTime<Utc>> =
        app.task_rows(policy).await.iter().map(|t| t.scheduled_at.and_utc()).collect();
    assert_eq!(slots, expected.map(at), "one task per slot");
}

#[tokio::test]
async fn execute_now_fires_at_once_even_when_the_policy_is_off() {
    let app = spawn_app().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    let (v1, v2) = (new_id(), new_id());
    let mut off = hourly(&[v1, v2]);
    off.enabled = false;
    app.put_policy(policy, 3, off).await;
    assert_eq!(app.policy_row(policy).await.next_fire_at, None, "OFF: no slot");

    let execute = app.execute(policy, 3);
    app.publish(&execute).await;
    let request = requests.next::<BackupRequested>().await.payload;
    let mut got: Vec<_> = request.tasks.iter().map(|t| t.volume_id).collect();
    got.sort();
    let mut want = vec![v1, v2];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(request.scheduled_at, app.clock.now());
    let tasks = app.task_rows(policy).await;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.trigger == "manual" && t.status == "WAITING"));
    // Ticks of an OFF policy fire nothing.
    app.clock.advance(TimeDelta::days(2));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());
    requests.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_slot_of_more_volumes_than_one_message_carries_is_announced_in_several() {
    let app = spawn_app().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    let volumes: Vec<_> = (0..BackupRequested::MAX_TASKS + 50).map(|_| new_id()).collect();
    app.put_policy(policy, 1, hourly(&volumes)).await;
    app.publish(&app.execute(policy, 1)).await;
    let (a, b) = (requests.next::<BackupRequested>().await, requests.next::<BackupRequested>().await);
    assert_ne!(a.message_id, b.message_id);
    let mut sizes = [a.payload.tasks.len(), b.payload.tasks.len()];
    sizes.sort_unstable();
    assert_eq!(sizes, [50, BackupRequested::MAX_TASKS]);
    let carried: std::collections::HashSet<_> =
        a.payload.tasks.iter().chain(&b.payload.tasks).map(|t| (t.task_id, t.volume_id)).collect();
    let rows: std::collections::HashSet<_> =
        app.task_rows(policy).await.iter().map(|t| (*t.id, *t.volume_id)).collect();
    assert_eq!(carried, rows, "every task once, with its own volume");
    assert_eq!(rows.len(), volumes.len());
    requests.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn execute_waits_for_the_policy_change_it_was_made_after() {
    let app = spawn_app().await;
    let policy = new_id();
    let (v1, v2) = (new_id(), new_id());
    app.put_policy(policy, 1, hourly(&[v1])).await;

    // The request saw version 2 (v2 associated), which has not arrived yet: requeued, and
    // nothing recorded, so the redelivery is not taken for a duplicate.
    let execute = app.execute(policy, 2);
    let early = apply_policy_event(&app.scheduler, &execute).await;
    assert!(matches!(early, Err(ApplyError::NotYet(_))), "{early:?}");
    assert!(app.task_rows(policy).await.is_empty());

    app.put_policy(policy, 2, hourly(&[v1, v2])).await;
    let applied = apply_policy_event(&app.scheduler, &execute).await.unwrap();
    assert!(matches!(applied, Applied::Done(_)), "{applied:?}");
    assert_eq!(app.task_rows(policy).await.len(), 2, "both volumes");
    assert_eq!(apply_policy_event(&app.scheduler, &execute).await.unwrap(), Applied::Duplicate);
    assert_eq!(app.task_rows(policy).await.len(), 2);

    // A policy the scheduler never heard of: requeued for a while, then given up.
    let unknown = app.execute(new_id(), 1);
    assert!(matches!(apply_policy_event(&app.scheduler, &unknown).await, Err(ApplyError::NotYet(_))));
    app.clock.advance(TimeDelta::minutes(11));
    assert!(matches!(apply_policy_event(&app.scheduler, &unknown).await, Ok(Applied::Ignored(_))));
}

#[tokio::test]
async fn a_volume_whose_previous_task_is_still_open_is_skipped() {
    let app = spawn_app().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;

    let t0 = at("2026-11-22T13:00:00Z");
    app.clock.set(t0);
    assert_eq!(app.scheduler.tick().await.unwrap().requested, 1);
    let first = app.task_rows(policy).await.remove(0);
    requests.next::<BackupRequested>().await;

    // Still WAITING at the next slot.
    app.clock.set(t0 + TimeDelta::hours(1));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport { policies: 1, requested: 0, skipped: 1 });
    // RUNNING at the one after.
    app.apply_status(&app.status(&first, TaskOutcome::Running)).await.unwrap();
    app.clock.set(t0 + TimeDelta::hours(2));
    assert_eq!(app.scheduler.tick().await.unwrap().skipped, 1);
    let tasks = app.task_rows(policy).await;
    for (task, previous_status) in tasks[1..].iter().zip(["WAITING", "RUNNING"]) {
        assert_eq!(state(&task.status), TaskState::Skip);
        let message = task.message.as_deref().unwrap();
        assert!(message.contains(&first.id.to_string()) && message.contains(previous_status), "{message}");
        assert!(task.finished_at.is_some());
    }

    // Once it ended, the next slot runs again.
    let done = TaskOutcome::ExecuteSuccess {
        backup_id: new_id(),
        backup_name: first.backup_name.clone(),
        pruned_backup_ids: vec![],
    };
    app.apply_status(&app.status(&first, done)).await.unwrap();
    app.clock.set(t0 + TimeDelta::hours(3));
    assert_eq!(app.scheduler.tick().await.unwrap().requested, 1);
    let last = requests.next::<BackupRequested>().await;
    assert_eq!(last.payload.scheduled_at, t0 + TimeDelta::hours(3));
    requests.assert_quiet(Duration::from_millis(300)).await;

    let body = app.tasks(policy, "?status=SKIP").await;
    assert_eq!(body["count"], 2);
    assert!(body["tasks"][0]["message"].as_str().unwrap().contains("still RUNNING"));
}

#[tokio::test]
async fn after_downtime_the_latest_slot_inside_the_grace_window_runs_and_older_ones_are_skipped() {
    let app = spawn_app().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    let volumes = [new_id(), new_id()];
    app.put_policy(policy, 1, hourly(&volumes)).await;
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(at("2026-11-22T13:00:00Z"))));

    // No scheduler ran from 12:00 to 17:20: 13:00 … 16:00 were missed, 17:00 is 20 min old.
    app.clock.set(at("2026-11-22T17:20:00Z"));
    let report = app.scheduler.tick().await.unwrap();
    assert_eq!(report, FireReport { policies: 1, requested: 2, skipped: 8 });
    let tasks = app.task_rows(policy).await;
    for hour in 13..=16 {
        let slot = naive(at(&format!("2026-11-22T{hour}:00:00Z")));
        let missed: Vec<_> = tasks.iter().filter(|t| t.scheduled_at == slot).collect();
        assert_eq!(missed.len(), 2, "{hour}:00, one per volume");
        for t in missed {
            assert_eq!(t.status, "SKIP");
            let m = t.message.as_deref().unwrap();
            assert!(m.contains(&format!("2026-11-22T{hour}:00:00Z")) && m.contains("missed"), "{m}");
        }
    }
    let ran: Vec<_> = tasks.iter().filter(|t| t.status == "WAITING").collect();
    assert_eq!(ran.len(), 2);
    assert!(ran.iter().all(|t| t.scheduled_at == naive(at("2026-11-22T17:00:00Z"))));
    let request = requests.next::<BackupRequested>().await.payload;
    assert_eq!(request.scheduled_at, at("2026-11-22T17:00:00Z"));
    assert_eq!(request.tasks.len(), 2, "the slot's two tasks in one message");
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(at("2026-11-22T18:00:00Z"))));

    // Down again until 19:45: the latest missed slot (19:00) is 45 min old, outside the
    // 30-minute window, so it is skipped too and nothing runs late.
    app.clock.set(at("2026-11-22T19:45:00Z"));
    let report = app.scheduler.tick().await.unwrap();
    assert_eq!(report, FireReport { policies: 1, requested: 0, skipped: 4 });
    let latest = app.task_rows(policy).await.into_iter().rev().take(2).collect::<Vec<_>>();
    for t in latest {
        assert_eq!(t.scheduled_at, naive(at("2026-11-22T19:00:00Z")));
        assert!(t.message.as_deref().unwrap().contains("30 minutes"), "{:?}", t.message);
    }
    requests.assert_quiet(Duration::from_millis(300)).await;

    let body = app.tasks(policy, "?status=SKIP").await;
    assert_eq!(body["count"], 12);
}

#[tokio::test]
async fn the_grace_window_is_configurable() {
    let app = spawn_app_with(|s| s.scheduler.grace = Duration::from_secs(2 * 3600)).await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    app.clock.set(at("2026-11-22T14:45:00Z"));
    let report = app.scheduler.tick().await.unwrap();
    assert_eq!(report, FireReport { policies: 1, requested: 1, skipped: 1 });
    let tasks = app.task_rows(policy).await;
    assert_eq!(
        tasks.iter().map(|t| (t.scheduled_at, t.status.as_str())).collect::<Vec<_>>(),
        [(naive(at("2026-11-22T13:00:00Z")), "SKIP"), (naive(at("2026-11-22T14:00:00Z")), "WAITING")]
    );
}

#[tokio::test]
async fn the_tick_loop_fires_due_slots_by_itself() {
    let app = spawn_app_ticking().await;
    let mut requests = app.listener(Queue::BackupRequests).await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    app.clock.set(at("2026-11-22T13:00:01Z"));
    // No hand-driven tick: the loop (every second in this test) finds the slot.
    let request = requests.next::<BackupRequested>().await;
    assert_eq!(request.payload.scheduled_at, at("2026-11-22T13:00:00Z"));
    // And its sweeper times the task out once the clock passes the deadline.
    app.clock.set(at("2026-11-22T19:00:02Z"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.task_rows(policy).await[0].status != "EXECUTE_TIMEOUT" {
        assert!(tokio::time::Instant::now() < deadline, "the loop did not sweep");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
