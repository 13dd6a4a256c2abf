//! `backup.requested`: a policy wants the volumes of a slot backed up. Each task becomes a
//! create job (whose own `backup.job` message runs it), or a `SKIP` / `EXECUTE_FAIL` task
//! status, all in one transaction with the inbox record, so a redelivered request changes
//! nothing; a task that has its job already (a request sent twice) is left alone.

use std::sync::Arc;

use api_types::{
    domain::BackupName,
    error::codes::volume_backup as vb,
    message::{BackupRequested, Envelope, Message, RequestedTask, TaskOutcome, TaskStatus},
};
use chrono::Utc;
use diesel::{Connection, PgConnection};
use service_kit::{
    amqp::{Applied, ApplyError},
    inbox, outbox,
};

use super::{WorkerState, error::WorkerError};
use crate::{
    app::requests::{self, AutoBackup, NewBackup},
    error::BackupError,
    store::jobs,
    volumes::VolumeError,
};

/// What to do with a task, decided before the transaction (the volume check is file system or
/// cluster work).
enum Plan {
    Submit { volume_bytes: u64 },
    Skip(String),
}

pub async fn apply(state: Arc<WorkerState>, env: Envelope<BackupRequested>) -> Result<Applied, ApplyError> {
    let req = env.payload;
    if req.tasks.is_empty() || req.tasks.len() > BackupRequested::MAX_TASKS {
        return Err(ApplyError::Poison(format!(
            "{} tasks in one request (1 to {} expected)",
            req.tasks.len(),
            BackupRequested::MAX_TASKS
        )));
    }
    for task in &req.tasks {
        BackupName::automatic(&task.backup_name)
            .map_err(|e| ApplyError::Poison(format!("backup name {:?}: {e}", task.backup_name)))?;
    }
    let plans = plan(&state, &req).await?;
    let quotas = state.quotas;
    let message_id = env.message_id.to_string();
    let applied = state
        .db
        .write(move |conn| {
            if !inbox::first_delivery(conn, &message_id, BackupRequested::TYPE)? {
                return Ok(Applied::Duplicate);
            }
            let task_ids: Vec<_> = req.tasks.iter().map(|t| t.task_id).collect();
            let with_job = jobs::tasks_with_jobs(conn, &task_ids)?;
            let (mut started, mut statuses) = (0, Vec::new());
            for (task, plan) in req.tasks.iter().zip(plans) {
                if with_job.contains(&task.task_id) {
                    tracing::info!(task_id = %task.task_id, "task has its job already");
                    continue;
                }
                let outcome = match plan {
                    Plan::Skip(message) => TaskOutcome::Skip { message },
                    Plan::Submit { volume_bytes } => {
                        match submit(conn, &new_backup(&req, task, volume_bytes), quotas)? {
                            Ok(()) => {
                                started += 1;
                                continue;
                            }
                            Err(refused) => refused,
                        }
                    }
                };
                tracing::info!(task_id = %task.task_id, ?outcome, "policy backup not started");
                statuses.push(outbox::envelope(status(&req, task, outcome)));
            }
            outbox::enqueue_all(conn, &statuses)?;
            if started == 0 && statuses.is_empty() {
                return Ok(Applied::Ignored(format!("the {} tasks have their jobs already", with_job.len())));
            }
            Ok(Applied::Done(format!(
                "{started} backups started, {} tasks not started, {} had their job",
                statuses.len(),
                with_job.len()
            )))
        })
        .await?;
    Ok(applied)
}

/// The backup a task asks for.
fn new_backup(req: &BackupRequested, task: &RequestedTask, volume_bytes: u64) -> NewBackup {
    NewBackup {
        project: req.project_id.clone(),
        volume_id: task.volume_id,
        snapshot_id: None,
        volume_bytes,
        name: Some(task.backup_name.clone()),
        description: None,
        full: false,
        metadata: Default::default(),
        availability_zone: None,
        auto: Some(AutoBackup {
            policy_id: req.policy_id,
            task_id: task.task_id,
            retention: req.retention,
            utc_offset_minutes: req.utc_offset_minutes,
        }),
    }
}

/// Whether each task's volume can be backed up; a missing or unusable volume skips its task.
async fn plan(state: &WorkerState, req: &BackupRequested) -> Result<Vec<Plan>, ApplyError> {
    let drv = state.volumes.clone();
    let project = req.project_id.clone();
    let volumes: Vec<_> = req.tasks.iter().map(|t| t.volume_id).collect();
    service_kit::telemetry::spawn_blocking_in_span(move || {
        volumes
            .into_iter()
            .map(|volume| match drv.volume(&project, volume) {
                Ok(v) => Plan::Submit { volume_bytes: v.size },
                Err(VolumeError::VolumeNotFound(_)) => Plan::Skip(format!("volume {volume} does not exist")),
                Err(e) => {
                    tracing::warn!(error = %e, %volume, "volume unusable");
                    Plan::Skip(format!("volume {volume} is unavailable"))
                }
            })
            .collect()
    })
    .await
    .map_err(|e| ApplyError::Transient(e.into()))
}

/// Records the backup in a savepoint: a refused submission rolls back alone, and the task
/// status it turns into (`Err`) still commits with the inbox record.
fn submit(
    conn: &mut PgConnection,
    new: &NewBackup,
    quotas: crate::config::Quotas,
) -> Result<Result<(), TaskOutcome>, WorkerError> {
    match conn.transaction(|c| requests::record_backup(c, new, quotas, Utc::now().naive_utc())) {
        Ok((backup, job)) => {
            tracing::info!(backup_id = %backup.id, job_id = %job.id, task_id = ?job.task_id, "policy backup recorded");
            Ok(Ok(()))
        }
        Err(e @ (BackupError::BackupInProgress(_) | BackupError::VolumeRestoring(_))) => {
            Ok(Err(TaskOutcome::Skip { message: e.to_string() }))
        }
        Err(e @ BackupError::BackupQuota { .. }) => {
            Ok(Err(TaskOutcome::ExecuteFail { code: vb::BACKUP_QUOTA.into(), message: e.to_string() }))
        }
        Err(e @ BackupError::CapacityQuota { .. }) => {
            Ok(Err(TaskOutcome::ExecuteFail { code: vb::CAPACITY_QUOTA.into(), message: e.to_string() }))
        }
        Err(e) => Err(e.into()),
    }
}

fn status(req: &BackupRequested, task: &RequestedTask, outcome: TaskOutcome) -> TaskStatus {
    TaskStatus {
        task_id: task.task_id,
        project_id: req.project_id.clone(),
        policy_id: req.policy_id,
        volume_id: task.volume_id,
        at: Utc::now(),
        vbs_job_id: None,
        outcome,
    }
}
