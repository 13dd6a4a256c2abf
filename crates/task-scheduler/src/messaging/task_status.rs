//! `task.status`: a worker's report moves a task (see [`crate::domain::task`] for the rules).

use api_types::message::{Envelope, Message, TaskStatus};
use diesel::PgConnection;
use service_kit::{
    amqp::{Applied, ApplyError, Handlers, Queue},
    inbox,
};

use crate::{
    domain::task::{TaskPatch, on_report},
    scheduler::{Ctx, Scheduler},
    store::tasks,
};

/// The task status queue's message type and its handler.
pub fn handlers(s: Scheduler) -> Handlers<Scheduler> {
    Handlers::new(Queue::SchedulerTaskStatus, s).on(|s: Scheduler, env: Envelope<TaskStatus>| async move {
        s.write(move |conn, ctx| report(conn, &env, ctx)).await
    })
}

/// Applies one message body from the task status queue.
pub async fn apply(s: &Scheduler, body: Vec<u8>) -> Result<Applied, ApplyError> {
    handlers(s.clone()).apply(body).await
}

fn report(conn: &mut PgConnection, env: &Envelope<TaskStatus>, _ctx: &Ctx) -> Result<Applied, ApplyError> {
    if !inbox::first_delivery(conn, &env.message_id.to_string(), TaskStatus::TYPE)? {
        return Ok(Applied::Duplicate);
    }
    let r = &env.payload;
    let id = r.task_id;
    // Tasks are committed before their backup.requested is published, so a report on an
    // unknown task can never apply.
    let task =
        tasks::lock(conn, id)?.ok_or_else(|| ApplyError::Poison(format!("task {id} does not exist")))?;
    if *task.project_id != r.project_id || *task.policy_id != r.policy_id || *task.volume_id != r.volume_id {
        return Err(ApplyError::Poison(format!(
            "the report's project, policy or volume does not match task {id}"
        )));
    }
    let state = task.state()?;
    let job = r.vbs_job_id;
    match on_report(state, &r.outcome, r.at) {
        Ok(patch) => {
            tasks::apply(conn, id, &patch, job)?;
            let status = patch.status.unwrap_or(state);
            Ok(Applied::Done(format!("task {id}: {state} -> {status}")))
        }
        Err(why) => {
            // Still learn the worker's job id if this is the first report carrying it.
            if task.vbs_job_id.is_none() && job.is_some() {
                tasks::apply(conn, id, &TaskPatch::default(), job)?;
            }
            Ok(Applied::Ignored(format!("task {id} ({state}): {why}")))
        }
    }
}
