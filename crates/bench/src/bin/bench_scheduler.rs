//! `make bench-scheduler`: how long the task-scheduler takes from a due instant to the last
//! `backup.requested` of 100,000 due tasks, with the replicas `scripts/bench-scheduler.sh`
//! started on one database.
//!
//! 1. Seeds the scheduler's policy copy directly (the rows `policy.changed` would have
//!    written): `BENCH_POLICIES` policies (default 1,000; ten per project) of
//!    `BENCH_VOLUMES` volumes each (default 100), every one firing hourly, none due yet.
//! 2. Binds a queue of its own to the exchange for `backup.requested` and consumes it.
//! 3. Makes every policy due at once: one `UPDATE` sets `next_fire_at` to the current whole
//!    hour (the scheduler runs it late but inside `VBS_SCHEDULER_GRACE_SECS`). The instant
//!    before that statement is the due instant, t = 0.
//! 4. Counts the tasks the messages carry (up to 100 a message) until every task has come (or
//!    `BENCH_TIMEOUT_SECS`, default 120, pass) and then listens two seconds more for
//!    duplicates; prints the times of the first and the last message, the counts, distinct
//!    tasks and duplicates, and what the database holds.
//! 5. The reference, in the same run: the broker alone. `BENCH_REPLICAS` publishers (default 2,
//!    as many as relays) send as many messages as the scheduler sent, each a copy of a
//!    `backup.requested` just received, through the relay's own publishing code
//!    ([`Broker::publish`]: persistent, mandatory, confirmed, 1,000 a batch, the next batch
//!    published while the broker confirms the one before), routed to a durable queue and to this
//!    consumer's as the real ones are, with no database in the way; it prints how long until the
//!    last arrived, and the scheduler's time as a multiple of it.
//! 6. The database alone: the same number of task rows written by one `INSERT … SELECT` into
//!    a table like `tasks`, against the scheduler's time from its first message to its last.
//!
//! Settings: `BENCH_SCHEDULER_DATABASE_URL`, `VBS_AMQP_URL`, `VBS_AMQP_NAMESPACE`.

#![allow(clippy::print_stdout, reason = "a benchmark: it prints its figures")]

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use anyhow::Context;
use diesel::{Connection, PgConnection, RunQueryDsl, sql_query, sql_types::BigInt};
use futures_util::StreamExt;
use lapin::{
    Connection as AmqpConnection, ConnectionProperties,
    options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions},
    types::FieldTable,
};
use serde::Deserialize;
use service_kit::amqp::{AmqpConfig, Broker, Outgoing};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_number(name: &str, default: u64) -> anyhow::Result<u64> {
    env_or(name, &default.to_string()).parse().with_context(|| format!("{name} is not a number"))
}

/// What the benchmark reads of a `backup.requested` envelope.
#[derive(Deserialize)]
struct Requested {
    message_id: String,
    payload: RequestedPayload,
}

#[derive(Deserialize)]
struct RequestedPayload {
    policy_id: String,
    tasks: Vec<RequestedTask>,
}

#[derive(Deserialize)]
struct RequestedTask {
    task_id: String,
    volume_id: String,
}

/// What the consumer saw.
#[derive(Default)]
struct Received {
    messages: u64,
    /// Tasks carried, counting any carried twice.
    carried: u64,
    /// (policy, volume): one slot fired, so each pair must come exactly once.
    tasks: HashSet<(String, String)>,
    task_ids: HashSet<String>,
    message_ids: HashSet<String>,
    first: Option<Duration>,
    last: Option<Duration>,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> anyhow::Result<i64> {
    Ok(sql_query(sql).get_result::<Count>(conn).with_context(|| sql.to_owned())?.n)
}

/// Seeds `policies` × `volumes`, all hourly and none due, in ten-policy projects.
fn seed(conn: &mut PgConnection, policies: u64, volumes: u64) -> anyhow::Result<()> {
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
    conn.transaction(|conn| {
        sql_query(
            "INSERT INTO policies (id, project_id, version, deleted, enabled, start_times, \
             frequency_days, week_days, utc_offset_minutes, retention_count, retention_days, \
             keep_first_of_month, next_fire_at, updated_at) \
             SELECT gen_random_uuid()::text, 'bench-scheduler-' || (i / 10), 1, false, true, $1, \
                    1, NULL, 0, 7, NULL, false, NULL, now() AT TIME ZONE 'UTC' \
             FROM generate_series(0, $2 - 1) AS i",
        )
        .bind::<diesel::sql_types::Text, _>(hours.join(","))
        .bind::<BigInt, _>(policies as i64)
        .execute(conn)?;
        sql_query(
            "INSERT INTO policy_volumes (policy_id, volume_id) \
             SELECT p.id, gen_random_uuid()::text FROM policies p, generate_series(1, $1)",
        )
        .bind::<BigInt, _>(volumes as i64)
        .execute(conn)?;
        diesel::QueryResult::Ok(())
    })?;
    sql_query("ANALYZE policies, policy_volumes").execute(conn)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database_url =
        std::env::var("BENCH_SCHEDULER_DATABASE_URL").context("BENCH_SCHEDULER_DATABASE_URL is not set")?;
    let amqp_url = env_or("VBS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let namespace = env_or("VBS_AMQP_NAMESPACE", "vbs");
    let policies = env_number("BENCH_POLICIES", 1000)?;
    let volumes = env_number("BENCH_VOLUMES", 100)?;
    let timeout = Duration::from_secs(env_number("BENCH_TIMEOUT_SECS", 120)?);
    let expected = policies * volumes;

    let mut conn =
        PgConnection::establish(&database_url).context("connecting to the scheduler's database")?;
    anyhow::ensure!(
        count(&mut conn, "SELECT count(*) AS n FROM policies")? == 0,
        "the scheduler's database is not empty"
    );
    let seeding = Instant::now();
    seed(&mut conn, policies, volumes)?;
    println!("seeded {policies} policies × {volumes} volumes in {:.1} s", seeding.elapsed().as_secs_f64());

    let amqp = AmqpConnection::connect(&amqp_url, ConnectionProperties::default())
        .await
        .context("connecting to RabbitMQ")?;
    let channel = amqp.create_channel().await?;
    let queue = format!("{namespace}.bench-scheduler");
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.as_str().into(),
            format!("{namespace}.events").as_str().into(),
            "backup.requested".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("binding to the exchange (is the scheduler running in this namespace?)")?;
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "bench-scheduler".into(),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await?;

    let due = Instant::now();
    let due_wall = chrono::Utc::now();
    let made_due =
        sql_query("UPDATE policies SET next_fire_at = date_trunc('hour', now() AT TIME ZONE 'UTC')")
            .execute(&mut conn)?;
    println!(
        "{made_due} policies due at t = 0 = {} (the UPDATE took {:.0} ms)",
        due_wall.format("%H:%M:%S%.3f"),
        due.elapsed().as_secs_f64() * 1000.0
    );

    let mut seen = Received::default();
    // One body as the relays sent it, for the reference.
    let mut sample = None;
    let mut quiet_until: Option<Instant> = None;
    loop {
        let deadline = quiet_until.unwrap_or(due + timeout);
        let Ok(next) = tokio::time::timeout_at(deadline.into(), consumer.next()).await else {
            break;
        };
        let delivery = next.context("the consumer stopped")??;
        let at = due.elapsed();
        let message: Requested =
            serde_json::from_slice(&delivery.data).context("a backup.requested that does not parse")?;
        seen.messages += 1;
        seen.first.get_or_insert(at);
        seen.last = Some(at);
        for task in message.payload.tasks {
            seen.carried += 1;
            seen.tasks.insert((message.payload.policy_id.clone(), task.volume_id));
            seen.task_ids.insert(task.task_id);
        }
        seen.message_ids.insert(message.message_id);
        sample.get_or_insert(delivery.data);
        if seen.tasks.len() as u64 == expected && quiet_until.is_none() {
            // Everything arrived; listen a little longer for duplicates.
            quiet_until = Some(Instant::now() + Duration::from_secs(2));
        }
    }

    let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()));
    let duplicates = seen.carried - seen.tasks.len() as u64;
    println!();
    println!("| figure | value |");
    println!("|---|---:|");
    println!("| due tasks (policies × volumes) | {expected} |");
    println!("| first backup.requested, s after due | {} |", secs(seen.first));
    println!("| last backup.requested, s after due | **{}** |", secs(seen.last));
    println!(
        "| from the first to the last (without the wait for a tick), s | {} |",
        secs(seen.last.zip(seen.first).map(|(l, f)| l.saturating_sub(f)))
    );
    println!("| messages received (tasks carried) | {} ({}) |", seen.messages, seen.carried);
    println!("| distinct tasks (policy, volume) | {} |", seen.tasks.len());
    println!("| distinct task ids / message ids | {} / {} |", seen.task_ids.len(), seen.message_ids.len());
    println!("| duplicates | {duplicates} |");
    println!(
        "| tasks in the database (WAITING) | {} ({}) |",
        count(&mut conn, "SELECT count(*) AS n FROM tasks")?,
        count(&mut conn, "SELECT count(*) AS n FROM tasks WHERE status = 'WAITING'")?
    );
    println!("| outbox rows left | {} |", count(&mut conn, "SELECT count(*) AS n FROM outbox")?);
    let met = seen.tasks.len() as u64 == expected
        && duplicates == 0
        && seen.last.is_some_and(|d| d <= Duration::from_secs(10));
    println!("target (all {expected} within 10 s, exactly once): {}", if met { "met" } else { "MISSED" });

    // The workers' queue of this namespace holds every message too; nothing will consume it.
    let workers = format!("{namespace}.backup-service.backup-requests");
    channel.queue_delete(workers.as_str().into(), QueueDeleteOptions::default()).await?;

    let Some(sample) = sample else { return Ok(()) };
    let publishers = env_number("BENCH_REPLICAS", 2)?.max(1);
    let reference =
        broker_reference(&channel, &mut consumer, &queue, &namespace, sample, seen.messages, publishers)
            .await
            .context("the broker reference")?;
    println!();
    println!(
        "reference, the broker alone: {} copies of a backup.requested ({} bytes) from {publishers} \
         publishers, persistent and confirmed, 1,000 a batch, into a durable queue and this consumer's: \
         last arrived after {:.2} s ({:.0} messages/s)",
        seen.messages,
        reference.bytes,
        reference.took.as_secs_f64(),
        seen.messages as f64 / reference.took.as_secs_f64()
    );
    if let Some(last) = seen.last {
        println!(
            "scheduler ÷ broker alone: {:.2} ({:.2} s against {:.2} s)",
            last.as_secs_f64() / reference.took.as_secs_f64(),
            last.as_secs_f64(),
            reference.took.as_secs_f64()
        );
    }
    let stored = database_reference(&mut conn).context("the database reference")?;
    println!(
        "reference, the database alone: the same {expected} task rows (a table like tasks, its indexes \
         and unique keys) written by one INSERT … SELECT in {:.2} s",
        stored.as_secs_f64()
    );
    if let (Some(first), Some(last)) = (seen.first, seen.last) {
        let firing = last.saturating_sub(first);
        println!(
            "scheduler from the first to the last message ÷ database alone: {:.2} ({:.2} s against {:.2} s)",
            firing.as_secs_f64() / stored.as_secs_f64(),
            firing.as_secs_f64(),
            stored.as_secs_f64()
        );
    }
    Ok(())
}

/// How long the database takes to store the fired tasks' rows by itself: one statement into a
/// table like `tasks` (its indexes and unique keys, not the task counters' triggers).
fn database_reference(conn: &mut PgConnection) -> anyhow::Result<Duration> {
    sql_query("CREATE TABLE bench_tasks (LIKE tasks INCLUDING ALL)").execute(conn)?;
    let started = Instant::now();
    sql_query(
        "INSERT INTO bench_tasks (id, project_id, policy_id, volume_id, trigger, scheduled_at, status, \
         backup_name, created_at, deadline) \
         SELECT gen_random_uuid()::text, p.project_id, p.id, v.volume_id, 'schedule', \
                date_trunc('hour', now() AT TIME ZONE 'UTC'), 'WAITING', \
                'autobk_' || lpad(to_hex((random() * 65535)::int), 4, '0'), now() AT TIME ZONE 'UTC', \
                now() AT TIME ZONE 'UTC' + interval '6 hours' \
         FROM policy_volumes v JOIN policies p ON p.id = v.policy_id",
    )
    .execute(conn)?;
    let took = started.elapsed();
    sql_query("DROP TABLE bench_tasks").execute(conn)?;
    Ok(took)
}

struct Reference {
    bytes: usize,
    took: Duration,
}

/// Routing key of the reference's messages.
const REFERENCE_KEY: &str = "bench.reference";

/// Publishes `n` copies of `body` from `publishers` concurrent publishers, as the relays do, and
/// waits until `consumer` has them all.
async fn broker_reference(
    channel: &lapin::Channel,
    consumer: &mut lapin::Consumer,
    consumer_queue: &str,
    namespace: &str,
    body: Vec<u8>,
    n: u64,
    publishers: u64,
) -> anyhow::Result<Reference> {
    let exchange = format!("{namespace}.events");
    // The durable queue the messages are stored in, as the workers' queue stores the real ones.
    let stored = format!("{namespace}.bench-reference");
    let mut args = FieldTable::default();
    args.insert("x-expires".into(), lapin::types::AMQPValue::LongUInt(10 * 60 * 1000));
    channel
        .queue_declare(
            stored.as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            args,
        )
        .await?;
    for queue in [stored.as_str(), consumer_queue] {
        channel
            .queue_bind(
                queue.into(),
                exchange.as_str().into(),
                REFERENCE_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    let cfg = AmqpConfig::from_env();
    let started = Instant::now();
    let mut sending = Vec::new();
    for p in 0..publishers {
        let broker = Broker::new(cfg.clone(), format!("bench-reference-{p}"));
        let body = body.clone();
        let count = n / publishers + u64::from(p < n % publishers);
        sending.push(tokio::spawn(async move {
            let mut left = count;
            let mut in_flight = None;
            while left > 0 {
                let batch: Vec<Outgoing> = (0..left.min(1000))
                    .map(|_| Outgoing {
                        message_id: uuid::Uuid::now_v7().to_string(),
                        routing_key: REFERENCE_KEY.to_owned(),
                        body: body.clone(),
                        traceparent: None,
                    })
                    .collect();
                let confirms = broker.publish(&batch).await?;
                if let Some(previous) = in_flight.replace(confirms) {
                    previous.wait().await?;
                }
                left -= batch.len() as u64;
            }
            if let Some(last) = in_flight {
                last.wait().await?;
            }
            anyhow::Ok(())
        }));
    }
    let mut received = 0;
    while received < n {
        let next = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .context("no reference message for 60 s")?;
        next.context("the consumer stopped")??;
        received += 1;
    }
    let took = started.elapsed();
    for s in sending {
        s.await??;
    }
    channel.queue_delete(stored.as_str().into(), QueueDeleteOptions::default()).await?;
    Ok(Reference { bytes: body.len(), took })
}
