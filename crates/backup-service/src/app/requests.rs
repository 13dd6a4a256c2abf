//! Recording requests for work: a backup, restore or deletion becomes a job row plus its
//! `backup.job` message, written in the transaction that changes the backup's status. The HTTP
//! handlers, the `backup.requested` consumer and retention all record work through here, so the
//! rules (one backup or restore per volume at a time, statuses that allow the operation, quotas)
//! hold whoever asks. Every function runs inside the caller's transaction.

use std::collections::BTreeMap;

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{BackupJob, RetentionRule, TaskOutcome, TaskStatus},
};
use chrono::{NaiveDateTime, Utc};
use diesel::{
    PgConnection,
    result::{DatabaseErrorKind, Error as DieselError},
};
use service_kit::{
    db::{DbId, DbProjectId},
    outbox,
};

use crate::{
    config::Quotas,
    domain::{BackupStatus, JobType, size_gib},
    error::BackupError,
    store::{BackupRow, JobRow, backups, jobs, projects},
};

/// A policy-triggered backup's context.
#[derive(Debug, Clone)]
pub struct AutoBackup {
    pub policy_id: ResourceId,
    pub task_id: ResourceId,
    pub retention: RetentionRule,
    pub utc_offset_minutes: i16,
}

/// A backup to record.
#[derive(Debug, Clone)]
pub struct NewBackup {
    pub project: ProjectId,
    pub volume_id: ResourceId,
    /// The snapshot to read; `None`: the worker takes one.
    pub snapshot_id: Option<ResourceId>,
    /// Bytes the backup will cover (the snapshot's or the volume's size).
    pub volume_bytes: u64,
    pub name: Option<String>,
    pub description: Option<String>,
    /// Store every block instead of an incremental (`extend_param.FullBackup`).
    pub full: bool,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
    pub auto: Option<AutoBackup>,
}

/// Reports a policy backup's progress to the scheduler (nothing for other jobs).
pub fn report_task(conn: &mut PgConnection, job: &JobRow, outcome: TaskOutcome) -> Result<(), DieselError> {
    let (Some(task_id), Some(policy_id)) = (job.task_id, job.policy_id) else { return Ok(()) };
    let msg = TaskStatus {
        task_id: *task_id,
        project_id: job.project_id.0.clone(),
        policy_id: *policy_id,
        volume_id: *job.volume_id,
        at: Utc::now(),
        vbs_job_id: Some(*job.id),
        outcome,
    };
    outbox::enqueue(conn, &outbox::envelope(msg))
}

/// Writes the job's `backup.job` message to the outbox.
pub fn announce(conn: &mut PgConnection, job: &JobRow) -> Result<(), DieselError> {
    outbox::enqueue(
        conn,
        &outbox::envelope(BackupJob { job_id: *job.id, project_id: job.project_id.0.clone() }),
    )
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Refuses a backup of a volume that another job occupies.
fn check_volume_free_for_backup(
    conn: &mut PgConnection,
    project: &ProjectId,
    volume: ResourceId,
) -> Result<(), BackupError> {
    match jobs::on_volume(conn, project, volume)?.and_then(|j| j.job_type()) {
        Some(JobType::Restore) => Err(BackupError::VolumeRestoring(volume.to_string())),
        Some(_) => Err(BackupError::BackupInProgress(volume.to_string())),
        None => Ok(()),
    }
}

fn check_quotas(
    conn: &mut PgConnection,
    project: &ProjectId,
    quotas: Quotas,
    adding_gib: i64,
) -> Result<(), BackupError> {
    if quotas.backups < 0 && quotas.gigabytes < 0 {
        return Ok(());
    }
    let (count, gib) = backups::usage(conn, project)?;
    if quotas.backups >= 0 && count >= quotas.backups {
        return Err(BackupError::BackupQuota { used: count, quota: quotas.backups });
    }
    if quotas.gigabytes >= 0 && gib + adding_gib > quotas.gigabytes {
        return Err(BackupError::CapacityQuota { used: gib, quota: quotas.gigabytes });
    }
    Ok(())
}

fn new_backup_row(new: &NewBackup, now: NaiveDateTime) -> BackupRow {
    BackupRow {
        id: DbId::new_v4(),
        project_id: DbProjectId::from(&new.project),
        volume_id: DbId(new.volume_id),
        snapshot_id: new.snapshot_id.map(DbId),
        name: new.name.clone(),
        description: new.description.clone(),
        status: BackupStatus::Creating.as_str().to_owned(),
        policy_id: new.auto.as_ref().map(|a| DbId(a.policy_id)),
        parent_id: None,
        volume_bytes: i64::try_from(new.volume_bytes).unwrap_or(i64::MAX),
        size_gib: size_gib(new.volume_bytes),
        object_count: None,
        stored_bytes: None,
        progress_done: 0,
        progress_total: 0,
        crash_consistent: false,
        fail_reason: None,
        created_at: now,
        updated_at: now,
        data_timestamp: None,
        metadata: serde_json::to_string(&new.metadata).unwrap_or_else(|_| "{}".to_owned()),
        availability_zone: new.availability_zone.clone(),
    }
}

fn create_job_row(new: &NewBackup, backup: &BackupRow, now: NaiveDateTime) -> Result<JobRow, BackupError> {
    let mut job = JobRow::new(JobType::Create, &new.project, *backup.id, new.volume_id, now);
    job.snapshot_id = backup.snapshot_id;
    job.backup_name = backup.name.clone();
    job.full_backup = new.full;
    job.busy_volume = Some(DbId(new.volume_id));
    if let Some(auto) = &new.auto {
        job.task_id = Some(DbId(auto.task_id));
        job.policy_id = Some(DbId(auto.policy_id));
        job.retention = Some(serde_json::to_string(&auto.retention).map_err(anyhow::Error::from)?);
        job.utc_offset_minutes = Some(auto.utc_offset_minutes);
    }
    Ok(job)
}

/// Records a backup in `creating` and its create job.
pub fn record_backup(
    conn: &mut PgConnection,
    new: &NewBackup,
    quotas: Quotas,
    now: NaiveDateTime,
) -> Result<(BackupRow, JobRow), BackupError> {
    check_volume_free_for_backup(conn, &new.project, new.volume_id)?;
    check_quotas(conn, &new.project, quotas, size_gib(new.volume_bytes))?;
    let backup = new_backup_row(new, now);
    let job = create_job_row(new, &backup, now)?;
    backups::insert(conn, &backup)?;
    match jobs::insert(conn, &job) {
        Ok(()) => {}
        // Another request for the volume committed since the check above.
        Err(e) if is_unique_violation(&e) => {
            return Err(BackupError::BackupInProgress(new.volume_id.to_string()));
        }
        Err(e) => return Err(e.into()),
    }
    projects::note_storage(conn, &new.project, now)?;
    announce(conn, &job)?;
    Ok((backup, job))
}

/// Marks an available backup `restoring` and records the restore job into `target`.
pub fn record_restore(
    conn: &mut PgConnection,
    project: &ProjectId,
    backup_id: ResourceId,
    target: ResourceId,
    target_bytes: u64,
    now: NaiveDateTime,
) -> Result<(BackupRow, JobRow), BackupError> {
    // The project's own backup, or one shared with it.
    let mut backup = backups::find_visible(conn, project, backup_id, true)?
        .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_string()))?;
    if backup.status() != Some(BackupStatus::Available) {
        return Err(BackupError::BackupStatus {
            id: backup_id.to_string(),
            status: backup.status.clone(),
            wanted: "only an available backup can be restored",
        });
    }
    if jobs::on_volume(conn, project, target)?.is_some() {
        return Err(BackupError::RestoreTargetBusy(target.to_string()));
    }
    let backup_bytes = u64::try_from(backup.volume_bytes).unwrap_or(0);
    if target_bytes < backup_bytes {
        return Err(BackupError::RestoreTooSmall {
            volume: target.to_string(),
            target: target_bytes,
            backup: backup_bytes,
        });
    }
    backups::set_status(conn, backup_id, BackupStatus::Restoring, backup.fail_reason.as_deref(), now)?;
    backup.status = BackupStatus::Restoring.as_str().to_owned();
    let mut job = JobRow::new(JobType::Restore, project, backup_id, target, now);
    job.backup_name = backup.name.clone();
    if backup.project_id.0 != *project {
        job.backup_project_id = Some(backup.project_id.clone());
    }
    job.busy_volume = Some(DbId(target));
    match jobs::insert(conn, &job) {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Err(BackupError::RestoreTargetBusy(target.to_string())),
        Err(e) => return Err(e.into()),
    }
    announce(conn, &job)?;
    Ok((backup, job))
}

/// Marks a backup `deleting` and records its delete job. `None` when a deletion is already
/// under way (deleting twice is not an error).
pub fn record_deletion(
    conn: &mut PgConnection,
    project: &ProjectId,
    backup_id: ResourceId,
    now: NaiveDateTime,
) -> Result<Option<JobRow>, BackupError> {
    let backup = backups::find_for_update(conn, project, backup_id)?
        .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_string()))?;
    match backup.status() {
        Some(BackupStatus::Deleting) => return Ok(None),
        Some(s) if s.deletable() => {}
        _ => {
            return Err(BackupError::BackupStatus {
                id: backup_id.to_string(),
                status: backup.status.clone(),
                wanted: "it can be deleted once it is available or error",
            });
        }
    }
    backups::set_status(conn, backup_id, BackupStatus::Deleting, backup.fail_reason.as_deref(), now)?;
    let mut job = JobRow::new(JobType::Delete, project, backup_id, *backup.volume_id, now);
    job.backup_name = backup.name.clone();
    jobs::insert(conn, &job)?;
    announce(conn, &job)?;
    Ok(Some(job))
}
