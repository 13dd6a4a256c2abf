//! Exactly once across replicas: two schedulers on one database, each with its own connection
//! pool (as two processes would have), tick and sweep at the same instants over 1,000 slots.
//! Every slot fires exactly once, with exactly one `backup.requested`.

use std::{collections::HashSet, sync::Arc};

use api_types::message::{BackupRequested, Envelope};
use chrono::TimeDelta;
use diesel::prelude::*;
use service_kit::{db, testing::TestDatabase};
use task_scheduler::{
    clock::ManualClock,
    config::SchedulerConfig,
    scheduler::{FireReport, Scheduler},
    startup::MIGRATIONS,
    store::schema::tasks,
};
use tokio::sync::Notify;

use crate::helpers::{apply_policy_event, changed, database_url, hourly, init_logging, new_id, start};

const POLICIES: usize = 10;
const HOURS: i64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_one_database_fire_each_of_1000_slots_exactly_once() {
    init_logging();
    let database = TestDatabase::create(&database_url(), "vbs_scheduler_replicas").unwrap();
    let url = database.url.clone();
    let (pool_a, pool_b) = tokio::task::spawn_blocking(move || {
        let a = db::pool(&url, 4).unwrap();
        db::migrate(&mut a.get().unwrap(), MIGRATIONS).unwrap();
        (a, db::pool(&url, 4).unwrap())
    })
    .await
    .unwrap();
    let clock = ManualClock::new(start());
    // A deadline shorter than the slot interval: the sweeper ends each task before the next slot,
    // so every slot requests a backup (none is skipped for a busy volume). Small batches make
    // the two replicas interleave within one tick.
    let cfg = SchedulerConfig {
        task_deadline: std::time::Duration::from_secs(1800),
        batch: 3,
        ..Default::default()
    };
    let a = Scheduler::new(pool_a, Arc::new(clock.clone()), cfg, Arc::new(Notify::new()));
    let b = Scheduler::new(pool_b, Arc::new(clock.clone()), cfg, Arc::new(Notify::new()));

    let project = format!("p{}", uuid::Uuid::new_v4().simple());
    let mut policies = Vec::new();
    for i in 0..POLICIES {
        let policy = new_id();
        let env = Envelope::new(changed(&project, policy, 1, hourly(&[new_id()])), start(), None);
        // Half the policies arrive through each replica.
        let via = if i % 2 == 0 { &a } else { &b };
        apply_policy_event(via, &env).await.unwrap();
        policies.push(policy);
    }

    let (mut fired_a, mut fired_b) = (FireReport::default(), FireReport::default());
    for hour in 1..=HOURS {
        clock.set(start() + TimeDelta::hours(hour));
        // Both sweep, then both tick, each pair at the same time. (Were one replica's tick to
        // overtake the other's sweep, a volume could look busy and its slot be recorded as SKIP:
        // still fired once, but this test wants every slot to request a backup.)
        let (sa, sb) = tokio::join!(a.sweep(), b.sweep());
        sa.unwrap();
        sb.unwrap();
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        fired_a += ra.unwrap();
        fired_b += rb.unwrap();
    }
    let slots = POLICIES * HOURS as usize;
    assert_eq!(slots, 1000);
    assert_eq!(fired_a.requested + fired_b.requested, slots, "a: {fired_a:?}, b: {fired_b:?}");
    assert_eq!(fired_a.skipped + fired_b.skipped, 0);
    println!("replica a fired {} slots, replica b {}", fired_a.requested, fired_b.requested);

    let (rows, outbox) = tokio::task::spawn_blocking({
        let pool = a.pool().clone();
        move || {
            let c = &mut pool.get().unwrap();
            let rows: Vec<(String, String, chrono::NaiveDateTime)> =
                tasks::table.select((tasks::id, tasks::policy_id, tasks::scheduled_at)).load(c).unwrap();
            let outbox: Vec<String> =
                diesel::sql_query("SELECT body FROM outbox WHERE routing_key = 'backup.requested'")
                    .load::<Body>(c)
                    .unwrap()
                    .into_iter()
                    .map(|b| b.body)
                    .collect();
            (rows, outbox)
        }
    })
    .await
    .unwrap();

    assert_eq!(rows.len(), slots, "one task per slot");
    let expected: HashSet<(String, chrono::NaiveDateTime)> = policies
        .iter()
        .flat_map(|p| (1..=HOURS).map(move |h| (p.to_string(), (start() + TimeDelta::hours(h)).naive_utc())))
        .collect();
    let got: HashSet<(String, chrono::NaiveDateTime)> =
        rows.iter().map(|(_, p, s)| (p.clone(), *s)).collect();
    assert_eq!(got, expected, "every slot, each once");

    assert_eq!(outbox.len(), slots, "one backup.requested per slot");
    let requested: HashSet<String> = outbox
        .iter()
        .flat_map(|b| Envelope::<BackupRequested>::decode(b.as_bytes()).unwrap().payload.tasks)
        .map(|t| t.task_id.to_string())
        .collect();
    let task_ids: HashSet<String> = rows.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(requested, task_ids, "each for its own task");

    // The unique key is the last guard: even told to fire every slot again (as a replica with
    // a stale view would), both replicas together add nothing.
    tokio::task::spawn_blocking({
        let pool = a.pool().clone();
        move || {
            diesel::sql_query(format!(
                "UPDATE policies SET next_fire_at = TIMESTAMP '{}'",
                (start() + TimeDelta::hours(1)).naive_utc()
            ))
            .execute(&mut pool.get().unwrap())
            .unwrap();
        }
    })
    .await
    .unwrap();
    clock.set(start() + TimeDelta::hours(HOURS) + TimeDelta::minutes(1));
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.policies + rb.policies, POLICIES);
    assert_eq!((ra.requested + rb.requested, ra.skipped + rb.skipped), (0, 0));
    let count: i64 = tokio::task::spawn_blocking({
        let pool = a.pool().clone();
        move || tasks::table.count().get_result(&mut pool.get().unwrap()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(count as usize, slots);
}

#[derive(QueryableByName)]
struct Body {
    #[diesel(sql_type = diesel::sql_types::Text)]
    body: String,
}
