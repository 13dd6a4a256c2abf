//! Firing: turning due slots into tasks and `backup.requested` messages, and timing out tasks.
//!
//! A [`Scheduler`] is cheap to clone and safe to run in several replicas on one database:
//!
//! * [`Scheduler::tick`] claims policies whose earliest unhandled slot is due with
//!   `FOR UPDATE SKIP LOCKED` (a policy another replica or a policy message holds is left to
//!   it), and in the same transaction creates one task per volume and slot, writes the outbox
//!   rows of the slot's `backup.requested` (a message per up to 100 tasks), and moves the
//!   policy's `next_fire_at` past the slots it handled. The unique key (policy, volume,
//!   trigger, slot) is the last guard: a slot that was fired already inserts nothing and
//!   announces nothing.
//! * [`Scheduler::sweep`] marks open tasks past their deadline `EXECUTE_TIMEOUT`.
//!
//! Both read the time from the injected [`Clock`]; [`Scheduler::run`] calls them periodically.

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use api_types::{
    domain::ResourceId,
    dto::TaskState,
    message::{BackupRequested, Envelope, RequestedTask},
};
use chrono::{DateTime, TimeDelta, Utc};
use diesel::PgConnection;
use service_kit::{
    CancellationToken,
    db::{self, Db, DbId, PgPool},
    outbox,
};
use tokio::sync::Notify;

use crate::{
    clock::Clock,
    config::SchedulerConfig,
    domain::{firing, task},
    store::{
        self,
        policies::{self, PolicyRow},
        tasks::{self, NewTask, Trigger},
    },
};

/// What firing did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FireReport {
    /// Policies handled.
    pub policies: usize,
    /// Tasks created `WAITING` (announced by `backup.requested`, a message per slot and up to
    /// `BackupRequested::MAX_TASKS` of them).
    pub requested: usize,
    /// Tasks created `SKIP`: the volume was still busy, or the slot was missed.
    pub skipped: usize,
}

impl std::ops::AddAssign for FireReport {
    fn add_assign(&mut self, o: Self) {
        self.policies += o.policies;
        self.requested += o.requested;
        self.skipped += o.skipped;
    }
}

#[derive(Clone)]
pub struct Scheduler {
    parts: Arc<SchedulerParts>,
}

/// What every clone of a [`Scheduler`] shares: its database (with the relay to wake after a
/// write), its clock and its settings.
struct SchedulerParts {
    db: Db<anyhow::Error>,
    clock: Arc<dyn Clock>,
    cfg: SchedulerConfig,
}

impl Scheduler {
    pub fn new(pool: PgPool, clock: Arc<dyn Clock>, cfg: SchedulerConfig, wake_relay: Arc<Notify>) -> Self {
        Self { parts: Arc::new(SchedulerParts { db: Db::new(pool, wake_relay), clock, cfg }) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.parts.clock.now()
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.parts.cfg
    }

    pub fn pool(&self) -> &PgPool {
        self.parts.db.pool()
    }

    /// Runs `f` in one transaction off the executor and, once it committed, wakes the outbox
    /// relay so that any `backup.requested` it wrote goes out at once.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection, &Ctx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<db::DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let ctx = Ctx { now: self.now(), cfg: self.parts.cfg };
        self.parts.db.with_error::<E>().write(move |conn| f(conn, &ctx)).await
    }

    /// Fires every slot due now, in batches of policies, until none is left that this replica
    /// can claim.
    pub async fn tick(&self) -> anyhow::Result<FireReport> {
        let mut total = FireReport::default();
        let batch = self.parts.cfg.batch;
        loop {
            let (report, claimed) = self
                .write(move |conn, ctx| -> anyhow::Result<_> {
                    let mut due = policies::claim_due(conn, store::naive(ctx.now), batch)?;
                    // In id order, as the task counters' triggers lock their rows, so a tick
                    // and a sweep never wait on each other's counters in opposite orders.
                    due.sort_by_key(|a| a.id);
                    let mut report = FireReport::default();
                    for row in &due {
                        let next = settle(conn, row, ctx.now, ctx, &mut report)?;
                        policies::set_next_fire(
                            conn,
                            *row.id,
                            next.map(store::naive),
                            store::naive(ctx.now),
                        )?;
                        report.policies += 1;
                    }
                    Ok((report, due.len()))
                })
                .await
                .context("firing due slots")?;
            total += report;
            if claimed < batch as usize {
                break;
            }
        }
        if total.policies > 0 {
            tracing::info!(
                policies = total.policies,
                requested = total.requested,
                skipped = total.skipped,
                "fired due slots"
            );
        }
        Ok(total)
    }

    /// Times out open tasks past their deadline, in batches; returns how many.
    pub async fn sweep(&self) -> anyhow::Result<usize> {
        const BATCH: i64 = 500;
        let mut total = 0;
        loop {
            let n = self
                .write(|conn, ctx| -> anyhow::Result<usize> {
                    Ok(tasks::time_out(conn, store::naive(ctx.now), task::TIMEOUT_MESSAGE, BATCH)?)
                })
                .await
                .context("timing out tasks")?;
            total += n;
            if n < BATCH as usize {
                break;
            }
        }
        if total > 0 {
            tracing::warn!(tasks = total, "tasks passed their deadline");
        }
        Ok(total)
    }

    /// Ticks and sweeps every `interval` until `shutdown`, starting at once (a scheduler that
    /// was down catches up before anything else), and also at the next slot it knows of
    /// when that comes sooner, so a slot fires at its hour rather than up to an interval later.
    /// Once an hour it also forgets inbox records older than [`INBOX_RETENTION`].
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        let mut last_prune: Option<std::time::Instant> = None;
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %format!("{e:#}"), "tick failed; retrying at the next one");
            }
            if let Err(e) = self.sweep().await {
                tracing::warn!(error = %format!("{e:#}"), "sweep failed; retrying at the next one");
            }
            if last_prune.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_prune = Some(std::time::Instant::now());
                if let Err(e) = self.prune_inbox().await {
                    tracing::warn!(error = %format!("{e:#}"), "inbox pruning failed");
                }
            }
            let now = self.now();
            let next = self
                .parts
                .db
                .read(move |conn| Ok(policies::next_slot_after(conn, store::naive(now))?))
                .await
                .unwrap_or_else(|e: anyhow::Error| {
                    tracing::debug!(error = %format!("{e:#}"), "next slot unknown; waiting a whole interval");
                    None
                });
            let wait = until_next_tick(now, next.map(|t| t.and_utc()), interval);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Forgets the ids of messages handled long ago. The inbox records real time (not the
    /// injected clock), so this compares with real time too.
    async fn prune_inbox(&self) -> anyhow::Result<usize> {
        let cutoff = (Utc::now() - INBOX_RETENTION).naive_utc();
        let n = self.parts.db.read(move |conn| Ok(service_kit::inbox::forget_before(conn, cutoff)?)).await?;
        if n > 0 {
            tracing::debug!(forgotten = n, "old inbox records removed");
        }
        Ok(n)
    }
}

/// How long a handled message id is remembered: far longer than any redelivery (a relay's
/// lease is a minute, a broker redelivers at once).
pub const INBOX_RETENTION: TimeDelta = TimeDelta::days(7);

/// The time and settings one transaction works with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub now: DateTime<Utc>,
    pub cfg: SchedulerConfig,
}

impl Ctx {
    fn grace(&self) -> TimeDelta {
        TimeDelta::from_std(self.cfg.grace).unwrap_or(TimeDelta::MAX)
    }

    fn deadline(&self) -> DateTime<Utc> {
        self.now + TimeDelta::from_std(self.cfg.task_deadline).unwrap_or(TimeDelta::days(365))
    }
}

/// Handles the locked policy's slots from its `next_fire_at` up to `until` (at `ctx.now`):
/// the latest runs if it is inside the grace window, the others are recorded as missed.
/// Returns the policy's new `next_fire_at`. A policy whose stored schedule no longer parses is
/// reported and stops firing until its next change, instead of blocking every other policy.
pub(crate) fn settle(
    conn: &mut PgConnection,
    row: &PolicyRow,
    until: DateTime<Utc>,
    ctx: &Ctx,
    report: &mut FireReport,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let timing = match row.timing() {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::error!(policy_id = %row.id, error = %format!("{e:#}"), "stored policy is unreadable; it stops firing");
            return Ok(None);
        }
    };
    let Some(first) = row.next_fire_at.map(|t| t.and_utc()) else {
        return Ok(None);
    };
    let plan = firing::plan(&timing.fire_schedule(), first, until, ctx.now, ctx.grace());
    if plan.run.is_none() && plan.missed.is_empty() {
        return Ok(plan.next);
    }
    if plan.unrecorded > 0 {
        tracing::warn!(policy_id = %row.id, slots = plan.unrecorded, "older missed slots were not recorded");
    }
    let volumes = policies::volumes_of(conn, *row.id)?;
    for (slot, why) in &plan.missed {
        let message = firing::missed_message(*slot, *why, ctx.grace());
        *report += create_tasks(conn, row, &volumes, Trigger::Schedule, *slot, Some(&message), ctx)?;
        tracing::info!(policy_id = %row.id, %slot, volumes = volumes.len(), "missed slot recorded as SKIP");
    }
    if let Some(slot) = plan.run {
        *report += create_tasks(conn, row, &volumes, Trigger::Schedule, slot, None, ctx)?;
    }
    Ok(plan.next)
}

/// How long the tick loop sleeps: until the next slot when it comes within `interval`, else
/// `interval` (never zero: a slot already due was left to another replica or failed to fire,
/// and is looked at again after the interval rather than in a busy loop).
fn until_next_tick(now: DateTime<Utc>, next: Option<DateTime<Utc>>, interval: Duration) -> Duration {
    next.and_then(|t| (t - now).to_std().ok())
        .filter(|until| !until.is_zero() && *until < interval)
        .unwrap_or(interval)
}

/// "Execute now": a task for every volume of the live, locked policy.
pub(crate) fn fire_now(conn: &mut PgConnection, row: &PolicyRow, ctx: &Ctx) -> anyhow::Result<FireReport> {
    let volumes = policies::volumes_of(conn, *row.id)?;
    let mut report = create_tasks(conn, row, &volumes, Trigger::Manual, ctx.now, None, ctx)?;
    report.policies = 1;
    Ok(report)
}

/// Creates the tasks of the policy's volumes for one slot, except where the slot already has
/// one. With `missed` they are recorded as `SKIP` with that message; otherwise each is
/// `WAITING`, or `SKIP` when the volume's previous task is still open; the `WAITING` ones are
/// announced by `backup.requested` messages of up to [`BackupRequested::MAX_TASKS`] tasks each.
/// A few statements per policy, whatever its number of volumes: one query for the open tasks,
/// the inserts, the outbox rows.
fn create_tasks(
    conn: &mut PgConnection,
    policy: &PolicyRow,
    volumes: &[ResourceId],
    trigger: Trigger,
    slot: DateTime<Utc>,
    missed: Option<&str>,
    ctx: &Ctx,
) -> anyhow::Result<FireReport> {
    let mut report = FireReport::default();
    if volumes.is_empty() {
        return Ok(report);
    }
    let open = match missed {
        Some(_) => HashMap::new(),
        None => tasks::open_tasks_of_volumes(conn, &policy.project_id, volumes)?,
    };
    let now = store::naive(ctx.now);
    let deadline = ctx.deadline();
    let new: Vec<NewTask> = volumes
        .iter()
        .map(|&volume| {
            let (status, message) = match (missed, open.get(&volume)) {
                (Some(m), _) => (TaskState::Skip, Some(m.to_owned())),
                (None, Some((previous, status))) => {
                    let status = TaskState::parse(status).unwrap_or(TaskState::Running);
                    (TaskState::Skip, Some(task::busy_message(*previous, status)))
                }
                (None, None) => (TaskState::Waiting, None),
            };
            let random = *uuid::Uuid::new_v4().as_bytes();
            NewTask {
                id: DbId(ResourceId::new_v4()),
                project_id: policy.project_id.clone(),
                policy_id: policy.id,
                volume_id: DbId(volume),
                trigger: trigger.as_str(),
                scheduled_at: store::naive(slot),
                status: status.as_str(),
                backup_name: task::backup_name(u16::from_be_bytes([random[0], random[1]])),
                message,
                created_at: now,
                finished_at: (status == TaskState::Skip).then_some(now),
                deadline: store::naive(deadline),
            }
        })
        .collect();
    let inserted = tasks::insert_all(conn, &new)?;
    let mut requested = Vec::new();
    for task in new.iter().filter(|t| inserted.contains(&*t.id)) {
        if task.status == TaskState::Waiting.as_str() {
            requested.push(RequestedTask {
                task_id: *task.id,
                volume_id: *task.volume_id,
                backup_name: task.backup_name.clone(),
            });
        } else {
            report.skipped += 1;
            if missed.is_none() {
                tracing::info!(policy_id = %policy.id, volume_id = %task.volume_id, %slot, task_id = %task.id, "task created as SKIP");
            }
        }
    }
    if inserted.len() < new.len() {
        tracing::debug!(policy_id = %policy.id, %slot, already = new.len() - inserted.len(), "slot already fired for some volumes");
    }
    report.requested = requested.len();
    let traceparent = service_kit::telemetry::traceparent_of(&tracing::Span::current());
    let requests: Vec<_> = requested
        .chunks(BackupRequested::MAX_TASKS)
        .map(|tasks| {
            let request = BackupRequested {
                project_id: policy.project_id.clone().into(),
                policy_id: *policy.id,
                retention: policy.retention(),
                utc_offset_minutes: policy.utc_offset_minutes,
                scheduled_at: slot,
                deadline,
                tasks: tasks.to_vec(),
            };
            Envelope::new(request, ctx.now, traceparent.clone())
        })
        .collect();
    outbox::enqueue_all(conn, &requests)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_tick_loop_wakes_at_the_earliest_slot_within_its_interval() {
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 11, 59, 58).single().unwrap_or_default();
        let hour = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).single().unwrap_or_default();
        let interval = Duration::from_secs(5);
        assert_eq!(until_next_tick(now, Some(hour), interval), Duration::from_secs(2));
        // Further than an interval away, nothing known, or already due (left to another
        // replica): a whole interval.
        assert_eq!(until_next_tick(now - TimeDelta::minutes(1), Some(hour), interval), interval);
        assert_eq!(until_next_tick(now, None, interval), interval);
        assert_eq!(until_next_tick(hour, Some(hour), interval), interval);
        assert_eq!(until_next_tick(hour + TimeDelta::seconds(1), Some(hour), interval), interval);
    }
}
