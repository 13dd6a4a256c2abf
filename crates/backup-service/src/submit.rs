//! Recording work: a backup, restore or deletion becomes a job row plus its `backup.job`
//! message, written in the transaction that changes the backup's status. The HTTP handlers,
//! the `backup.requested` consumer and retention all submit work through here, so the rules
//! (one backup or restore per volume at a time, statuses that allow the operation, quotas)
//! hold whoever asks.

use api_types::{
    domain::{ProjectId, ResourceId},
    message::{BackupJob, RetentionRule},
};
use chrono::NaiveDateTime;
use diesel::{
    PgConnection,
    result::{DatabaseErrorKind, Error as DieselError},
};
use service_kit::outbox;

use crate::{
    config::Quotas,
    domain::{BackupStatus, JobType, size_gib},
    error::BackupError,
    store::{self, BackupRow, JobRow},
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
    pub auto: Option<AutoBackup>,
}

fn enqueue(conn: &mut PgConnection, job: &JobRow) -> Result<(), BackupError> {
    let job_id = ResourceId::parse("job_id", &job.id).map_err(|e| anyhow::anyhow!("stored job id: {e}"))?;
    outbox::enqueue(conn, &outbox::envelope(BackupJob { job_id, project_id: job.project_id.clone() }))?;
    Ok(())
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Refuses a backup of a volume that another job occupies.
fn check_volume_free_for_backup(
    conn: &mut PgConnection,
    project: &str,
    volume: &str,
) -> Result<(), BackupError> {
    match store::job_on_volume(conn, project, volume)?.and_then(|j| j.job_type()) {
        Some(JobType::Restore) => Err(BackupError::VolumeRestoring(volume.to_owned())),
        Some(_) => Err(BackupError::BackupInProgress(volume.to_owned())),
        None => Ok(()),
    }
}

fn check_quotas(
    conn: &mut PgConnection,
    project: &str,
    quotas: Quotas,
    adding_gib: i64,
) -> Result<(), BackupError> {
    if quotas.backups < 0 && quotas.gigabytes < 0 {
        return Ok(());
    }
    let (count, gib) = store::usage(conn, project)?;
    if quotas.backups >= 0 && count >= quotas.backups {
        return Err(BackupError::BackupQuota { used: count, quota: quotas.backups });
    }
    if quotas.gigabytes >= 0 && gib + adding_gib > quotas.gigabytes {
        return Err(BackupError::CapacityQuota { used: gib, quota: quotas.gigabytes });
    }
    Ok(())
}

/// Records a backup in `creating` and its create job. Call inside a transaction.
pub fn backup(
    conn: &mut PgConnection,
    new: &NewBackup,
    quotas: Quotas,
    now: NaiveDateTime,
) -> Result<(BackupRow, JobRow), BackupError> {
    let project = new.project.as_str();
    let volume = new.volume_id.to_string();
    check_volume_free_for_backup(conn, project, &volume)?;
    let size = size_gib(new.volume_bytes);
    check_quotas(conn, project, quotas, size)?;
    let backup = BackupRow {
        id: ResourceId::new_v4().to_string(),
        project_id: project.to_owned(),
        volume_id: volume.clone(),
        snapshot_id: new.snapshot_id.map(|s| s.to_string()),
        name: new.name.clone(),
        description: new.description.clone(),
        status: BackupStatus::Creating.as_str().to_owned(),
        policy_id: new.auto.as_ref().map(|a| a.policy_id.to_string()),
        parent_id: None,
        volume_bytes: i64::try_from(new.volume_bytes).unwrap_or(i64::MAX),
        size_gib: size,
        object_count: None,
        stored_bytes: None,
        progress_done: 0,
        progress_total: 0,
        crash_consistent: false,
        fail_reason: None,
        created_at: now,
        updated_at: now,
        data_timestamp: None,
    };
    let mut job = JobRow::new(JobType::Create, project, &backup.id, &volume, now);
    job.snapshot_id = backup.snapshot_id.clone();
    job.backup_name = backup.name.clone();
    job.full_backup = new.full;
    job.busy_volume = Some(volume.clone());
    if let Some(auto) = &new.auto {
        job.task_id = Some(auto.task_id.to_string());
        job.policy_id = Some(auto.policy_id.to_string());
        job.retention = Some(serde_json::to_string(&auto.retention).map_err(anyhow::Error::from)?);
        job.utc_offset_minutes = Some(auto.utc_offset_minutes);
    }
    store::insert_backup(conn, &backup)?;
    match store::insert_job(conn, &job) {
        Ok(()) => {}
        // Another request for the volume committed since the check above.
        Err(e) if is_unique_violation(&e) => return Err(BackupError::BackupInProgress(volume)),
        Err(e) => return Err(e.into()),
    }
    store::note_project_storage(conn, project, now)?;
    enqueue(conn, &job)?;
    Ok((backup, job))
}

/// Marks an available backup `restoring` and records the restore job into `target`.
pub fn restore(
    conn: &mut PgConnection,
    project: &ProjectId,
    backup_id: ResourceId,
    target: ResourceId,
    target_bytes: u64,
    now: NaiveDateTime,
) -> Result<(BackupRow, JobRow), BackupError> {
    let project = project.as_str();
    let id = backup_id.to_string();
    let mut backup = store::find_backup_for_update(conn, project, &id)?
        .ok_or_else(|| BackupError::BackupNotFound(id.clone()))?;
    if backup.status() != Some(BackupStatus::Available) {
        return Err(BackupError::BackupStatus {
            id,
            status: backup.status.clone(),
            wanted: "only an available backup can be restored",
        });
    }
    let target_id = target.to_string();
    if store::job_on_volume(conn, project, &target_id)?.is_some() {
        return Err(BackupError::RestoreTargetBusy(target_id));
    }
    let backup_bytes = u64::try_from(backup.volume_bytes).unwrap_or(0);
    if target_bytes < backup_bytes {
        return Err(BackupError::RestoreTooSmall {
            volume: target_id,
            target: target_bytes,
            backup: backup_bytes,
        });
    }
    store::set_backup_status(conn, &id, BackupStatus::Restoring, backup.fail_reason.as_deref(), now)?;
    backup.status = BackupStatus::Restoring.as_str().to_owned();
    let mut job = JobRow::new(JobType::Restore, project, &id, &target_id, now);
    job.backup_name = backup.name.clone();
    job.busy_volume = Some(target_id.clone());
    match store::insert_job(conn, &job) {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Err(BackupError::RestoreTargetBusy(target_id)),
        Err(e) => return Err(e.into()),
    }
    enqueue(conn, &job)?;
    Ok((backup, job))
}

/// Marks a backup `deleting` and records its delete job. `None` when a deletion is already
/// under way (deleting twice is not an error).
pub fn delete(
    conn: &mut PgConnection,
    project: &str,
    backup_id: &str,
    now: NaiveDateTime,
) -> Result<Option<JobRow>, BackupError> {
    let backup = store::find_backup_for_update(conn, project, backup_id)?
        .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_owned()))?;
    match backup.status() {
        Some(BackupStatus::Deleting) => return Ok(None),
        Some(s) if s.deletable() => {}
        _ => {
            return Err(BackupError::BackupStatus {
                id: backup_id.to_owned(),
                status: backup.status.clone(),
                wanted: "it can be deleted once it is available or error",
            });
        }
    }
    store::set_backup_status(conn, backup_id, BackupStatus::Deleting, backup.fail_reason.as_deref(), now)?;
    let mut job = JobRow::new(JobType::Delete, project, backup_id, &backup.volume_id, now);
    job.backup_name = backup.name.clone();
    store::insert_job(conn, &job)?;
    enqueue(conn, &job)?;
    Ok(Some(job))
}
