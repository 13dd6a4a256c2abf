//! The outbox on the real broker: every change's message arrives on the scheduler's durable
//! queue, and a change made while the broker is unreachable still commits and its message
//! arrives once the broker is back.

use std::{net::SocketAddr, time::Duration};

use api_types::message::{PolicyChange, PolicyChanged, PolicyExecute};
use serde_json::json;
use service_kit::{
    amqp::{AmqpConfig, Queue},
    testing::BrokerProxy,
};

use crate::helpers::{Listener, seed_policy, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_change_announces_the_whole_policy_with_a_rising_version() {
    let app = spawn_app().await;
    let mut events = app.listener(Queue::SchedulerPolicyEvents).await;
    let id = app.create_policy(&seed_policy("p")).await;

    let created = events.next::<PolicyChanged>().await;
    assert_eq!(created.payload.policy_id.to_string(), id);
    assert_eq!(created.payload.project_id.as_str(), app.project);
    assert_eq!(created.payload.version, 1);
    let PolicyChange::Upserted { policy } = &created.payload.change else { panic!("{created:?}") };
    assert_eq!(policy.start_hours_utc, [12]);
    assert_eq!(policy.week_days.as_deref(), Some(&["SUN".to_owned(), "WED".to_owned()][..]));
    assert_eq!(policy.utc_offset_minutes, 480);
    assert_eq!(policy.retention.days, Some(30));
    assert!(policy.retention.keep_first_of_month);
    assert!(policy.enabled);
    assert!(policy.volumes.is_empty());

    let volume = uuid::Uuid::new_v4().to_string();
    app.post(
        "/backuppolicyresources",
        &json!({"backup_policy_id": id, "resources": [{"resource_id": volume, "resource_type": "volume"}]}),
    )
    .await;
    let associated = events.next::<PolicyChanged>().await;
    assert_eq!(associated.payload.version, 2);
    let PolicyChange::Upserted { policy } = &associated.payload.change else { panic!() };
    assert_eq!(policy.volumes.iter().map(ToString::to_string).collect::<Vec<_>>(), [volume]);

    app.put(&format!("/backuppolicy/{id}"), &json!({"scheduled_policy": {"status": "OFF"}})).await;
    let modified = events.next::<PolicyChanged>().await;
    assert_eq!(modified.payload.version, 3);
    let PolicyChange::Upserted { policy } = &modified.payload.change else { panic!() };
    assert!(!policy.enabled);
    assert_eq!(policy.volumes.len(), 1, "the snapshot is complete, not a diff");

    app.post(&format!("/backuppolicy/{id}/action"), &json!({})).await;
    let executed = events.next::<PolicyExecute>().await;
    assert_eq!(executed.payload.policy_id.to_string(), id);
    assert_eq!(executed.payload.version, 3);

    app.delete(&format!("/backuppolicy/{id}")).await;
    let deleted = events.next::<PolicyChanged>().await;
    assert_eq!(deleted.payload.version, 4);
    assert_eq!(deleted.payload.change, PolicyChange::Deleted);

    assert!(created.message_id != modified.message_id);
    events.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn moving_a_volume_announces_both_policies() {
    let app = spawn_app().await;
    let a = app.create_policy(&seed_policy("a")).await;
    let b = app.create_policy(&seed_policy("b")).await;
    let volume = uuid::Uuid::new_v4().to_string();
    let assoc = |p: &str| json!({"backup_policy_id": p, "resources": [{"resource_id": volume, "resource_type": "volume"}]});
    app.post("/backuppolicyresources", &assoc(&a)).await;
    let mut events = app.listener(Queue::SchedulerPolicyEvents).await;
    // Drain the three earlier events.
    for _ in 0..3 {
        events.next::<PolicyChanged>().await;
    }
    app.post("/backuppolicyresources", &assoc(&b)).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let e = events.next::<PolicyChanged>().await;
        let PolicyChange::Upserted { policy } = e.payload.change else { panic!() };
        seen.push((e.payload.policy_id.to_string(), policy.volumes.len()));
    }
    seen.sort();
    let mut expected = vec![(a, 0), (b, 1)];
    expected.sort();
    assert_eq!(seen, expected);
}

/// The service reaching the broker through a proxy the test can cut, and a listener on the
/// scheduler's policy events that reads from the broker directly.
async fn behind_a_proxy() -> (BrokerProxy, crate::helpers::TestApp, Listener) {
    let upstream: SocketAddr = crate::helpers::amqp_url()
        .split('@')
        .nth(1)
        .and_then(|h| h.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let proxy = BrokerProxy::start(upstream).await.unwrap();
    let app = spawn_app_with(|s| s.amqp.url = proxy.amqp_url()).await;
    let direct = AmqpConfig { url: crate::helpers::amqp_url(), ..app.amqp.clone() };
    let events = Listener::new(&direct, Queue::SchedulerPolicyEvents).await;
    (proxy, app, events)
}

#[tokio::test]
async fn changes_commit_while_the_broker_is_down_and_their_events_arrive_after() {
    let (proxy, app, mut events) = behind_a_proxy().await;

    proxy.cut().await;
    let id = app.create_policy(&seed_policy("offline")).await;
    app.put(&format!("/backuppolicy/{id}"), &json!({"backup_policy_name": "renamed"})).await;
    assert_eq!(app.policy(&id).await["backup_policy_name"], "renamed", "the change committed");
    // The relay keeps trying while the broker is unreachable; the messages wait in the outbox.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pool = app.pool.clone();
    let pending =
        tokio::task::spawn_blocking(move || service_kit::outbox::pending(&mut pool.get().unwrap()).unwrap())
            .await
            .unwrap();
    assert_eq!(pending, 2);
    events.assert_quiet(Duration::from_millis(200)).await;

    proxy.restore();
    let first = events.next::<PolicyChanged>().await;
    let second = events.next::<PolicyChanged>().await;
    assert_eq!((first.payload.version, second.payload.version), (1, 2));
    let PolicyChange::Upserted { policy } = second.payload.change else { panic!() };
    assert_eq!(policy.name, "renamed");
}

/// A relay that claimed a batch and died holds it only for the outbox lease: the rows of a
/// claim nobody renews go out from the live relay within seconds (the lease, 5 s, plus a poll).
#[tokio::test]
async fn the_batch_of_a_relay_that_died_after_claiming_goes_out_within_seconds() {
    let (proxy, app, mut events) = behind_a_proxy().await;

    // The change commits while this relay cannot publish; then another relay "claims" its row
    // (a lease as a relay takes it) and dies without renewing it.
    proxy.cut().await;
    let id = app.create_policy(&seed_policy("orphaned")).await;
    // Let this relay's failed attempt end (it releases its own claim) before the "dead" claim.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lease_ms = service_kit::outbox::LEASE.num_milliseconds();
    app.execute(format!(
        "UPDATE outbox SET claimed_until = (now() AT TIME ZONE 'UTC') + interval '{lease_ms} milliseconds'"
    ))
    .await;
    let claimed = std::time::Instant::now();
    proxy.restore();

    let event = events.next::<PolicyChanged>().await;
    let waited = claimed.elapsed();
    assert_eq!(event.payload.policy_id.to_string(), id);
    assert!(waited < Duration::from_secs(10), "delivered {waited:?} after the dead relay's claim");
    eprintln!("a dead relay's batch went out {waited:?} after its claim");
}
