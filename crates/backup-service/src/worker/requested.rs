//! `backup.requested`: a policy wants a volume backed up.

use api_types::{
    domain::{BackupName, ProjectId},
    error::codes::volume_backup as vb,
    message::{BackupRequested, Envelope, Message, TaskOutcome, TaskStatus},
};
use chrono::Utc;
use diesel::{Connection, PgConnection};
use service_kit::{amqp::Outcome, db, inbox, outbox};

use super::Inner;
use crate::{
    error::BackupError,
    store,
    submit::{self, AutoBackup, NewBackup},
    volumes::VolumeError,
};

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

/// What to do with the request, decided before the transaction (the volume check is file
/// system work).
enum Plan {
    Submit { volume_bytes: u64 },
    Skip(String),
}

pub(super) async fn handle(inner: &Inner, body: &[u8]) -> Outcome {
    let env = match Envelope::<BackupRequested>::decode(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "malformed backup.requested, dead-lettered");
            return Outcome::Reject;
        }
    };
    let req = env.payload.clone();
    let (Ok(project), Ok(name)) =
        (ProjectId::parse(&req.project_id), BackupName::automatic(&req.backup_name))
    else {
        tracing::error!(project = %req.project_id, name = %req.backup_name, "invalid backup.requested, dead-lettered");
        return Outcome::Reject;
    };
    let drv = inner.volumes.clone();
    let (p, v) = (project.clone(), req.volume_id);
    let plan = service_kit::telemetry::spawn_blocking_in_span(move || match drv.volume(&p, v) {
        Ok(vol) => Plan::Submit { volume_bytes: vol.size },
        Err(VolumeError::VolumeNotFound(_)) => Plan::Skip(format!("volume {v} does not exist")),
        Err(e) => {
            tracing::warn!(error = %e, "volume unusable");
            Plan::Skip(format!("volume {v} is unavailable"))
        }
    })
    .await;
    let Ok(plan) = plan else { return Outcome::Retry };

    let new = NewBackup {
        project,
        volume_id: req.volume_id,
        snapshot_id: None,
        volume_bytes: 0,
        name: Some(name.as_str().to_owned()),
        description: None,
        full: false,
        auto: Some(AutoBackup {
            policy_id: req.policy_id,
            task_id: req.task_id,
            retention: req.retention,
            utc_offset_minutes: req.utc_offset_minutes,
        }),
    };
    let quotas = inner.quotas;
    let message_id = env.message_id.to_string();
    let result = db::run(&inner.pool, move |conn: &mut PgConnection| {
        conn.transaction(|conn| -> Result<Option<String>, BackupError> {
            if !inbox::first_delivery(conn, &message_id, BackupRequested::TYPE)? {
                return Ok(None);
            }
            if store::job_for_task(conn, &req.task_id.to_string())?.is_some() {
                return Ok(None);
            }
            let outcome = match plan {
                Plan::Skip(message) => TaskOutcome::Skip { message },
                Plan::Submit { volume_bytes } => {
                    let new = NewBackup { volume_bytes, ..new };
                    // A savepoint: a refused submission rolls back alone and the task status
                    // still commits with the inbox record.
                    match conn.transaction(|c| submit::backup(c, &new, quotas, Utc::now().naive_utc())) {
                        Ok((backup, job)) => return Ok(Some(format!("backup {} job {}", backup.id, job.id))),
                        Err(e @ (BackupError::BackupInProgress(_) | BackupError::VolumeRestoring(_))) => {
                            TaskOutcome::Skip { message: e.to_string() }
                        }
                        Err(e @ BackupError::BackupQuota { .. }) => {
                            TaskOutcome::ExecuteFail { code: vb::BACKUP_QUOTA.into(), message: e.to_string() }
                        }
                        Err(e @ BackupError::CapacityQuota { .. }) => TaskOutcome::ExecuteFail {
                            code: vb::CAPACITY_QUOTA.into(),
                            message: e.to_string(),
                        },
                        Err(e) => return Err(e),
                    }
                }
            };
            tracing::info!(task_id = %req.task_id, ?outcome, "policy backup not started");
            outbox::enqueue(conn, &outbox::envelope(status(&req, outcome)))?;
            Ok(Some("task status".into()))
        })
    })
    .await;
    match result {
        Ok(Some(what)) => {
            tracing::info!(%what, "backup.requested handled");
            inner.wake_relay.notify_one();
            Outcome::Ack
        }
        Ok(None) => {
            tracing::info!("backup.requested already handled");
            Outcome::Ack
        }
        Err(BackupError::Internal(service_kit::error::InternalError::Unavailable(_))) => Outcome::Retry,
        Err(e) => {
            tracing::error!(error = ?e, "backup.requested failed; will retry");
            Outcome::Retry
        }
    }
}
