//! `backup.requested`: a policy wants a volume backed up. It becomes a create job (whose own
//! `backup.job` message runs it), or a `SKIP` / `EXECUTE_FAIL` task status, in one transaction
//! with the inbox record, so a redelivered request changes nothing.

use std::sync::Arc;

use api_types::{
    domain::BackupName,
    error::codes::volume_backup as vb,
    message::{BackupRequested, Envelope, Message, TaskOutcome, TaskStatus},
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

/// What to do with the request, decided before the transaction (the volume check is file
/// system work).
enum Plan {
    Submit { volume_bytes: u64 },
    Skip(String),
}

pub async fn apply(state: Arc<WorkerState>, env: Envelope<BackupRequested>) -> Result<Applied, ApplyError> {
    let req = env.payload.clone();
    let name = BackupName::automatic(&req.backup_name)
        .map_err(|e| ApplyError::Poison(format!("backup name {:?}: {e}", req.backup_name)))?;
    let plan = plan(&state, &req).await?;
    let new = NewBackup {
        project: req.project_id.clone(),
        volume_id: req.volume_id,
        snapshot_id: None,
        volume_bytes: 0,
        name: Some(name.as_str().to_owned()),
        description: None,
        full: false,
        metadata: Default::default(),
        availability_zone: None,
        auto: Some(AutoBackup {
            policy_id: req.policy_id,
            task_id: req.task_id,
            retention: req.retention,
            utc_offset_minutes: req.utc_offset_minutes,
        }),
    };
    let quotas = state.quotas;
    let message_id = env.message_id.to_string();
    let applied = state
        .db
        .write(move |conn| {
            if !inbox::first_delivery(conn, &message_id, BackupRequested::TYPE)? {
                return Ok(Applied::Duplicate);
            }
            if jobs::for_task(conn, req.task_id)?.is_some() {
                return Ok(Applied::Ignored(format!("task {} has its job already", req.task_id)));
            }
            let outcome = match plan {
                Plan::Skip(message) => TaskOutcome::Skip { message },
                Plan::Submit { volume_bytes } => {
                    let new = NewBackup { volume_bytes, ..new };
                    match submit(conn, &new, quotas)? {
                        Ok(done) => return Ok(Applied::Done(done)),
                        Err(refused) => refused,
                    }
                }
            };
            tracing::info!(task_id = %req.task_id, ?outcome, "policy backup not started");
            outbox::enqueue(conn, &outbox::envelope(status(&req, outcome)))?;
            Ok(Applied::Done("task status".into()))
        })
        .await?;
    Ok(applied)
}

/// Whether the volume can be backed up; a missing or unusable volume skips the task.
async fn plan(state: &WorkerState, req: &BackupRequested) -> Result<Plan, ApplyError> {
    let drv = state.volumes.clone();
    let (project, volume) = (req.project_id.clone(), req.volume_id);
    service_kit::telemetry::spawn_blocking_in_span(move || match drv.volume(&project, volume) {
        Ok(v) => Plan::Submit { volume_bytes: v.size },
        Err(VolumeError::VolumeNotFound(_)) => Plan::Skip(format!("volume {volume} does not exist")),
        Err(e) => {
            tracing::warn!(error = %e, "volume unusable");
            Plan::Skip(format!("volume {volume} is unavailable"))
        }
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
) -> Result<Result<String, TaskOutcome>, WorkerError> {
    match conn.transaction(|c| requests::record_backup(c, new, quotas, Utc::now().naive_utc())) {
        Ok((backup, job)) => Ok(Ok(format!("backup {} job {}", backup.id, job.id))),
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

fn status(req: &BackupRequested, outcome: TaskOutcome) -> TaskStatus {
    TaskStatus {
        task_id: req.task_id,
        project_id: req.project_id.clone(),
        policy_id: req.policy_id,
        volume_id: req.volume_id,
        at: Utc::now(),
        vbs_job_id: None,
        outcome,
    }
}
