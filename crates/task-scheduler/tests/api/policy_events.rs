//! `policy.changed` builds the read model: idempotent by message id, ordered by policy version,
//! deletions stop the schedule, and poison messages go to the dead-letter queue.

use std::time::Duration;

use api_types::{
    domain::ProjectId,
    message::{Envelope, PolicyChange, PolicyChanged, TaskOutcome},
};
use chrono::TimeDelta;
use task_scheduler::{
    messaging::{Applied, ApplyError},
    scheduler::FireReport,
    store::naive,
};

use crate::helpers::{apply_policy_event, assert_error, at, changed, hourly, new_id, snapshot, spawn_app};

#[tokio::test]
async fn a_policy_change_on_the_broker_builds_the_read_model() {
    let app = spawn_app().await;
    let policy = new_id();
    let (v1, v2) = (new_id(), new_id());
    let mut s = snapshot(&[22, 0, 2], Some(&["MON", "THU"]), &[v1, v2]);
    s.utc_offset_minutes = -330;
    let event = app.envelope(changed(&app.project, policy, 4, s));
    app.publish(&event).await;
    app.wait_handled(event.message_id).await;

    let row = app.policy_row(policy).await;
    assert_eq!(row.version, 4);
    assert_eq!(row.project_id.as_str(), app.project);
    assert!(row.enabled && !row.deleted);
    assert_eq!(row.start_times, "22:00,00:00,02:00");
    assert_eq!(row.week_days.as_deref(), Some("MON,THU"));
    assert_eq!(row.frequency_days, None);
    assert_eq!(row.utc_offset_minutes, -330);
    assert_eq!(row.retention_count, Some(3));
    // Sunday 12:00 UTC is Sunday 06:30 local; 22:00 UTC Sunday is 16:30 Sunday local, 00:00 UTC
    // Monday is 18:30 Sunday local: the first slot on a local Monday is 22:00 UTC Monday.
    assert_eq!(row.next_fire_at, Some(naive(at("2026-11-23T22:00:00Z"))));
    let mut volumes = app.db(move |c| task_scheduler::store::policies::volumes_of(c, policy).unwrap()).await;
    volumes.sort();
    let mut expected = vec![v1, v2];
    expected.sort();
    assert_eq!(volumes, expected);
    assert_eq!(app.tasks(policy, "").await, serde_json::json!({"tasks": [], "count": 0}));
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let app = spawn_app().await;
    let policy = new_id();
    let first = app.envelope(changed(&app.project, policy, 1, hourly(&[new_id()])));
    assert!(matches!(apply_policy_event(&app.scheduler, &first).await.unwrap(), Applied::Done(_)));
    let second = app.envelope(changed(&app.project, policy, 2, hourly(&[new_id(), new_id()])));
    apply_policy_event(&app.scheduler, &second).await.unwrap();
    // The relay may publish a message twice; the second delivery is recognised by its id.
    assert_eq!(apply_policy_event(&app.scheduler, &first).await.unwrap(), Applied::Duplicate);
    assert_eq!(apply_policy_event(&app.scheduler, &second).await.unwrap(), Applied::Duplicate);
    assert_eq!(app.policy_row(policy).await.version, 2);

    // Through the broker too: the same message published twice is applied once.
    let third = app.envelope(changed(&app.project, policy, 3, hourly(&[])));
    app.publish(&third).await;
    app.publish(&third).await;
    app.wait_handled(third.message_id).await;
    assert_eq!(app.policy_row(policy).await.version, 3);
}

#[tokio::test]
async fn an_older_version_arriving_late_changes_nothing() {
    let app = spawn_app().await;
    let policy = new_id();
    let kept = new_id();
    app.put_policy(policy, 3, snapshot(&[12], Some(&["WED"]), &[kept])).await;
    let before = app.policy_row(policy).await;

    let late = app.envelope(changed(&app.project, policy, 2, hourly(&[new_id()])));
    let applied = apply_policy_event(&app.scheduler, &late).await.unwrap();
    assert!(matches!(applied, Applied::Ignored(ref why) if why.contains("not newer")), "{applied:?}");
    let same = app.envelope(changed(&app.project, policy, 3, hourly(&[new_id()])));
    assert!(matches!(apply_policy_event(&app.scheduler, &same).await.unwrap(), Applied::Ignored(_)));
    assert_eq!(app.policy_row(policy).await, before);
    let volumes = app.db(move |c| task_scheduler::store::policies::volumes_of(c, policy).unwrap()).await;
    assert_eq!(volumes, [kept]);
}

#[tokio::test]
async fn deletion_stops_the_schedule_and_the_query_answers_404() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    app.clock.set(at("2026-11-22T13:00:00Z"));
    assert_eq!(app.scheduler.tick().await.unwrap().requested, 1);
    let task = app.task_rows(policy).await.remove(0);

    let deleted = app.envelope(PolicyChanged {
        project_id: ProjectId::parse(&app.project).unwrap(),
        policy_id: policy,
        version: 2,
        change: PolicyChange::Deleted,
    });
    assert!(matches!(apply_policy_event(&app.scheduler, &deleted).await.unwrap(), Applied::Done(_)));
    let row = app.policy_row(policy).await;
    assert!(row.deleted);
    assert_eq!((row.version, row.next_fire_at), (2, None));

    app.clock.set(at("2026-11-23T13:00:00Z"));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default(), "the schedule stopped");
    let res = app.get(&format!("/backuppolicy/{policy}/backuptasks")).await;
    assert_error(res, 404, "AutoBackup.0205").await;

    // An older change arriving after the deletion does not bring the policy back.
    let late = app.envelope(changed(&app.project, policy, 1, hourly(&[new_id()])));
    assert!(matches!(apply_policy_event(&app.scheduler, &late).await.unwrap(), Applied::Ignored(_)));
    assert!(app.policy_row(policy).await.deleted);
    app.clock.advance(TimeDelta::hours(2));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());

    // The task that was running when the policy went still gets its worker's report.
    let applied = app.apply_status(&app.status(&task, TaskOutcome::Running)).await.unwrap();
    assert!(matches!(applied, Applied::Done(_)), "{applied:?}");

    // A deletion of a policy the scheduler never saw leaves a tombstone all the same.
    let unseen = new_id();
    let gone = app.envelope(PolicyChanged {
        project_id: ProjectId::parse(&app.project).unwrap(),
        policy_id: unseen,
        version: 5,
        change: PolicyChange::Deleted,
    });
    apply_policy_event(&app.scheduler, &gone).await.unwrap();
    let late = app.envelope(changed(&app.project, unseen, 4, hourly(&[new_id()])));
    assert!(matches!(apply_policy_event(&app.scheduler, &late).await.unwrap(), Applied::Ignored(_)));
}

#[tokio::test]
async fn off_fires_nothing_and_on_again_counts_from_the_change() {
    let app = spawn_app().await;
    let policy = new_id();
    let volume = new_id();
    app.put_policy(policy, 1, hourly(&[volume])).await;
    app.clock.set(at("2026-11-22T12:30:00Z"));
    let mut off = hourly(&[volume]);
    off.enabled = false;
    app.put_policy(policy, 2, off).await;
    assert_eq!(app.policy_row(policy).await.next_fire_at, None);

    app.clock.set(at("2026-11-22T15:10:00Z"));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());
    app.put_policy(policy, 3, hourly(&[volume])).await;
    // The hours while it was OFF are not "missed": nothing is recorded for them.
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(at("2026-11-22T16:00:00Z"))));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());
    assert!(app.task_rows(policy).await.is_empty());
}

#[tokio::test]
async fn a_change_does_not_lose_a_slot_that_was_due_before_it() {
    let app = spawn_app().await;
    let policy = new_id();
    app.put_policy(policy, 1, hourly(&[new_id()])).await;
    // At 13:00:03 the tenant moves the start time to 20:00; the scheduler has not ticked for
    // the 13:00 slot yet when the change arrives at 13:00:05.
    app.clock.set(at("2026-11-22T13:00:03Z"));
    let change = app.envelope(changed(&app.project, policy, 2, snapshot(&[20], None, &[new_id()])));
    app.clock.set(at("2026-11-22T13:00:05Z"));
    apply_policy_event(&app.scheduler, &change).await.unwrap();
    let tasks = app.task_rows(policy).await;
    assert_eq!(tasks.len(), 1, "the 13:00 slot ran under the schedule it belonged to");
    assert_eq!(
        (tasks[0].scheduled_at, tasks[0].status.as_str()),
        (naive(at("2026-11-22T13:00:00Z")), "WAITING")
    );
    assert_eq!(app.policy_row(policy).await.next_fire_at, Some(naive(at("2026-11-22T20:00:00Z"))));
    assert_eq!(app.scheduler.tick().await.unwrap(), FireReport::default());
}

#[tokio::test]
async fn messages_that_can_never_apply_are_dead_lettered() {
    let app = spawn_app().await;
    let mut dead = app.dead_letters().await;
    let policy = new_id();

    app.publish_raw("m1", "policy.changed", b"{not json".to_vec()).await;
    let mut future =
        serde_json::to_value(app.envelope(changed(&app.project, policy, 1, hourly(&[])))).unwrap();
    future["schema_version"] = serde_json::json!(99);
    app.publish_raw("m2", "policy.changed", serde_json::to_vec(&future).unwrap()).await;
    let mut broken = hourly(&[]);
    broken.start_hours_utc = vec![25];
    let broken = app.envelope(changed(&app.project, policy, 1, broken));
    app.publish(&broken).await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(dead.next_raw(Duration::from_secs(20)).await);
    }
    assert!(bodies.iter().any(|b| b == b"{not json"));
    assert!(
        bodies
            .iter()
            .any(|b| Envelope::<PolicyChanged>::decode(b).is_ok_and(|e| e.message_id == broken.message_id))
    );
    let policies = app
        .db(|c| {
            use diesel::prelude::*;
            task_scheduler::store::schema::policies::table.count().get_result::<i64>(c).unwrap()
        })
        .await;
    assert_eq!(policies, 0, "nothing half applied");

    // Direct application says why.
    let err = apply_policy_event(&app.scheduler, &broken).await.unwrap_err();
    assert!(matches!(err, ApplyError::Poison(ref m) if m.contains("start_time")), "{err:?}");
}
