//! `policy.changed` builds the read model; `policy.execute` fires a policy at once.
//!
//! Versions order the changes of one policy: a message whose version is not above the stored
//! one changes nothing (it was overtaken). Deletion leaves a tombstone with its version, so an
//! older change arriving afterwards cannot bring the policy back. Before a change applies, the
//! old schedule's slots up to the instant of the change are settled, so a slot due just before
//! a change is not lost to it; the new schedule counts from that instant.

use api_types::message::{Envelope, Message, PolicyChange, PolicyChanged, PolicyExecute};
use chrono::TimeDelta;
use diesel::PgConnection;
use service_kit::{
    amqp::{Applied, ApplyError, Handlers, Queue},
    inbox,
};

use crate::{
    domain::policy::PolicyTiming,
    scheduler::{Ctx, FireReport, Scheduler, fire_now, settle},
    store::{
        self,
        policies::{self, PolicyRow},
    },
};

/// How long an "execute now" waits for the policy change it was made after (its `version`)
/// before it runs with the policy as the read model has it.
const EXECUTE_PATIENCE: TimeDelta = TimeDelta::minutes(10);

/// The policy events queue's message types and their handlers.
pub fn handlers(s: Scheduler) -> Handlers<Scheduler> {
    Handlers::new(Queue::SchedulerPolicyEvents, s)
        .on(|s: Scheduler, env: Envelope<PolicyChanged>| async move {
            s.write(move |conn, ctx| changed(conn, &env, ctx)).await
        })
        .on(|s: Scheduler, env: Envelope<PolicyExecute>| async move {
            s.write(move |conn, ctx| execute(conn, &env, ctx)).await
        })
}

/// Applies one message body from the policy events queue.
pub async fn apply(s: &Scheduler, body: Vec<u8>) -> Result<Applied, ApplyError> {
    handlers(s.clone()).apply(body).await
}

fn changed(conn: &mut PgConnection, env: &Envelope<PolicyChanged>, ctx: &Ctx) -> Result<Applied, ApplyError> {
    if !inbox::first_delivery(conn, &env.message_id.to_string(), PolicyChanged::TYPE)? {
        return Ok(Applied::Duplicate);
    }
    let p = &env.payload;
    let id = p.policy_id;
    let now = store::naive(ctx.now);
    // Every change of one policy locks its row, so changes (and ticks) of one policy apply one
    // after the other, also across replicas; a first change creates the row to lock.
    let current = policies::lock_or_create(conn, id, &p.project_id, now)?;
    if current.version >= p.version {
        return Ok(Applied::Ignored(format!(
            "policy {id} version {} is not newer than the stored version {}",
            p.version, current.version
        )));
    }
    if *current.project_id != p.project_id {
        return Err(ApplyError::Poison(format!(
            "policy {id} belongs to project {}, not {}",
            current.project_id, p.project_id
        )));
    }
    // The change took effect when policy-service made it (or now, if that clock is ahead).
    let effective = env.occurred_at.min(ctx.now);
    let mut fired = FireReport::default();
    settle(conn, &current, effective, ctx, &mut fired)?;
    match &p.change {
        PolicyChange::Upserted { policy } => {
            let timing = PolicyTiming::from_snapshot(policy)
                .map_err(|e| ApplyError::Poison(format!("policy {id} version {}: {e}", p.version)))?;
            let mut row =
                PolicyRow::live(id, p.project_id.clone(), p.version, &timing, policy.retention, now);
            row.next_fire_at = timing.fire_schedule().next_after(effective).map(store::naive);
            policies::save(conn, &row)?;
            policies::replace_volumes(conn, id, &policy.volumes, current.deleted)?;
            Ok(Applied::Done(format!(
                "policy {id} version {}: {} volume(s), next slot {}",
                p.version,
                policy.volumes.len(),
                row.next_fire_at.map_or_else(|| "none".to_owned(), |t| format!("{t}Z"))
            )))
        }
        PolicyChange::Deleted => {
            policies::save(conn, &PolicyRow::tombstone(id, p.project_id.clone(), p.version, now))?;
            policies::replace_volumes(conn, id, &[], current.deleted)?;
            Ok(Applied::Done(format!("policy {id} deleted at version {}", p.version)))
        }
    }
}

fn execute(conn: &mut PgConnection, env: &Envelope<PolicyExecute>, ctx: &Ctx) -> Result<Applied, ApplyError> {
    if !inbox::first_delivery(conn, &env.message_id.to_string(), PolicyExecute::TYPE)? {
        return Ok(Applied::Duplicate);
    }
    let p = &env.payload;
    let id = p.policy_id;
    let patient = ctx.now - env.occurred_at < EXECUTE_PATIENCE;
    let row = match policies::lock(conn, id)? {
        None if patient => {
            return Err(ApplyError::NotYet(format!("policy {id} is not known yet; waiting for its change")));
        }
        None => return Ok(Applied::Ignored(format!("policy {id} is unknown; nothing to execute"))),
        Some(row) if row.deleted => {
            return Ok(Applied::Ignored(format!("policy {id} was deleted; nothing to execute")));
        }
        Some(row) if row.version < p.version && patient => {
            return Err(ApplyError::NotYet(format!(
                "policy {id} is at version {}, the request saw {}; waiting for the change",
                row.version, p.version
            )));
        }
        Some(row) => row,
    };
    if *row.project_id != p.project_id {
        return Err(ApplyError::Poison(format!("policy {id} does not belong to project {}", p.project_id)));
    }
    if row.version < p.version {
        tracing::warn!(policy_id = %id, "executing without the policy change the request saw");
    }
    let report = fire_now(conn, &row, ctx)?;
    Ok(Applied::Done(format!(
        "policy {id} executed: {} task(s) requested, {} skipped",
        report.requested, report.skipped
    )))
}
