//! Ending a job: its result recorded in one transaction with the backup's new status, the
//! task status of a policy backup and, after a policy backup, retention; or the job handed
//! back to another worker.

use std::sync::Arc;

use api_types::{
    domain::{ResourceId, TimeZoneOffset},
    message::{RetentionRule, TaskOutcome},
};
use backup_engine::BackupStats;
use chrono::{NaiveDateTime, Utc};
use diesel::{Connection, PgConnection, QueryResult};
use service_kit::amqp::Applied;

use super::{WorkerState, error::Failure, error::WorkerError};
use crate::{
    app::requests,
    domain::{BackupStatus, JobStatus, JobType, retention, size_gib},
    store::{
        JobRow,
        backups::{self, StoredBackup},
        jobs,
    },
};

/// What running a job produced.
#[derive(Debug)]
pub enum JobResult {
    Created(Created),
    Restored,
    Deleted,
    Failed(Failure),
}

/// A backup the engine stored.
#[derive(Debug)]
pub struct Created {
    pub stats: BackupStats,
    pub parent: Option<ResourceId>,
    pub crash_consistent: bool,
    pub data_timestamp: NaiveDateTime,
}

/// Records the result of a job this worker ran under `lease`.
pub async fn record_result(
    state: &Arc<WorkerState>,
    job: JobRow,
    lease: ResourceId,
    result: JobResult,
) -> Result<Applied, WorkerError> {
    let failed = matches!(result, JobResult::Failed(_));
    let created = matches!(result, JobResult::Created(_));
    let j = job.clone();
    // On an error the job keeps its lease; once that goes stale the reaper hands the job out
    // again (a re-run of a committed backup finds its manifest and only records it).
    let recorded = state.db.write(move |conn| record(conn, &j, lease, result)).await?;
    if !recorded && created && cancelled(state, &job).await? {
        // A force delete cancelled the job while the engine committed: the backup's deletion
        // may already have run, so drop what was just committed (deleting twice is harmless).
        if let Err(f) = super::run::delete(state, &job).await {
            tracing::warn!(job_id = %job.id, reason = f.message, "could not drop a cancelled backup's data");
        }
        return Ok(Applied::Ignored(format!(
            "job {}: cancelled by a force delete; its data dropped",
            job.id
        )));
    }
    if !recorded {
        return Ok(Applied::Ignored(format!(
            "job {}: the lease was taken over before it finished; result dropped",
            job.id
        )));
    }
    if failed {
        abandon_attempt(state, &job).await;
    }
    Ok(Applied::Done(format!("job {} finished{}", job.id, if failed { " (failed)" } else { "" })))
}

/// Whether the job ended because a force delete cancelled it.
async fn cancelled(state: &Arc<WorkerState>, job: &JobRow) -> Result<bool, WorkerError> {
    let (project, id) = (job.project_id.0.clone(), *job.id);
    let current = state.db.read(move |conn| Ok(jobs::find(conn, &project, id)?)).await?;
    Ok(current.is_some_and(|j| {
        j.status() == Some(JobStatus::Fail)
            && j.fail_reason.as_deref().is_some_and(|r| r.starts_with("cancelled"))
    }))
}

/// Records the outcome if this attempt still holds the lease; `false` when it does not.
fn record(
    conn: &mut PgConnection,
    job: &JobRow,
    lease: ResourceId,
    result: JobResult,
) -> Result<bool, WorkerError> {
    let Some(current) = jobs::find_for_update_after_backup(conn, *job.id)? else { return Ok(false) };
    if current.lease != Some(lease.into()) || current.status() != Some(JobStatus::Running) {
        return Ok(false);
    }
    let now = Utc::now().naive_utc();
    match result {
        JobResult::Failed(f) => record_failure(conn, &current, &f, now)?,
        JobResult::Created(created) => record_backup(conn, &current, &created, now)?,
        JobResult::Restored => {
            // The whole backup was written, however fast: the job says so in bytes too.
            if let Some(b) = backups::find_anywhere(conn, *current.backup_id, false)? {
                jobs::set_progress(conn, *current.id, b.volume_bytes, b.volume_bytes)?;
            }
            make_available_again(conn, &current, now)?;
            jobs::end(conn, *current.id, JobStatus::Success, None, now)?;
        }
        JobResult::Deleted => {
            backups::delete(conn, *current.backup_id)?;
            jobs::end(conn, *current.id, JobStatus::Success, None, now)?;
        }
    }
    Ok(true)
}

fn record_backup(
    conn: &mut PgConnection,
    job: &JobRow,
    c: &Created,
    now: NaiveDateTime,
) -> Result<(), WorkerError> {
    let logical = i64::try_from(c.stats.logical_bytes).unwrap_or(i64::MAX);
    let stored = StoredBackup {
        parent_id: c.parent,
        object_count: i64::try_from(c.stats.objects_written).unwrap_or(i64::MAX),
        stored_bytes: i64::try_from(c.stats.stored_bytes).unwrap_or(i64::MAX),
        volume_bytes: logical,
        size_gib: size_gib(c.stats.logical_bytes),
        crash_consistent: c.crash_consistent,
        data_timestamp: c.data_timestamp,
    };
    backups::mark_available(conn, *job.backup_id, &stored, now)?;
    jobs::set_progress(conn, *job.id, logical, logical)?;
    jobs::end(conn, *job.id, JobStatus::Success, None, now)?;
    let pruned = apply_retention(conn, job, now)?;
    requests::report_task(
        conn,
        job,
        TaskOutcome::ExecuteSuccess {
            backup_id: *job.backup_id,
            backup_name: job.backup_name.clone().unwrap_or_default(),
            pruned_backup_ids: pruned,
        },
    )?;
    Ok(())
}

/// A restore ended (either way): the backup itself is intact and available again.
fn make_available_again(conn: &mut PgConnection, job: &JobRow, now: NaiveDateTime) -> QueryResult<()> {
    if let Some(b) = backups::find_for_update(conn, job.backup_project(), *job.backup_id)?
        && b.status() == Some(BackupStatus::Restoring)
    {
        backups::set_status(conn, *b.id, BackupStatus::Available, b.fail_reason.as_deref(), now)?;
    }
    Ok(())
}

/// The job failed for good: the job, its backup and (for a policy backup) the task say why.
pub fn record_failure(
    conn: &mut PgConnection,
    job: &JobRow,
    f: &Failure,
    now: NaiveDateTime,
) -> QueryResult<()> {
    jobs::end(conn, *job.id, JobStatus::Fail, Some((f.code, &f.message)), now)?;
    match job.job_type() {
        Some(JobType::Create) => {
            backups::set_status(conn, *job.backup_id, BackupStatus::Error, Some(&f.message), now)?;
            requests::report_task(
                conn,
                job,
                TaskOutcome::ExecuteFail { code: f.code.to_owned(), message: f.message.clone() },
            )?;
        }
        Some(JobType::Restore) => make_available_again(conn, job, now)?,
        Some(JobType::Delete) => {
            backups::set_status(conn, *job.backup_id, BackupStatus::ErrorDeleting, Some(&f.message), now)?;
        }
        None => {}
    }
    tracing::warn!(job_id = %job.id, code = f.code, reason = %f.message, "job failed");
    Ok(())
}

/// After a policy backup: the policy's retention over its automatic backups of the volume.
/// The pruned backups turn `deleting` (their deletion jobs run like any other).
fn apply_retention(
    conn: &mut PgConnection,
    job: &JobRow,
    now: NaiveDateTime,
) -> Result<Vec<ResourceId>, WorkerError> {
    let (Some(policy), Some(rule)) = (job.policy_id, &job.retention) else { return Ok(Vec::new()) };
    let rule: RetentionRule =
        serde_json::from_str(rule).map_err(|e| anyhow::anyhow!("stored retention rule: {e}"))?;
    let offset =
        TimeZoneOffset::from_minutes(job.utc_offset_minutes.unwrap_or(0)).unwrap_or(TimeZoneOffset::UTC);
    let candidates: Vec<retention::BackupInfo<ResourceId>> =
        backups::auto_backups(conn, &job.project_id, *policy, *job.volume_id)?
            .into_iter()
            .map(|b| retention::BackupInfo { id: *b.id, created_at: b.created_at.and_utc() })
            .collect();
    let mut pruned = Vec::new();
    for id in retention::to_prune(&candidates, &rule, offset, now.and_utc()) {
        match conn.transaction(|c| requests::record_deletion(c, &job.project_id, id, now)) {
            Ok(_) => pruned.push(id),
            Err(e) => tracing::warn!(backup_id = %id, error = %e, "retention could not delete a backup"),
        }
    }
    if !pruned.is_empty() {
        tracing::info!(policy_id = %policy, volume_id = %job.volume_id, pruned = pruned.len(), "retention applied");
    }
    Ok(pruned)
}

/// A worker that stops hands its job back for another to run at once.
pub async fn hand_back(
    state: &Arc<WorkerState>,
    job: JobRow,
    lease: ResourceId,
) -> Result<Applied, WorkerError> {
    state
        .db
        .write(move |conn| {
            let Some(current) = jobs::find_for_update_after_backup(conn, *job.id)? else { return Ok(()) };
            if current.lease != Some(lease.into()) || current.status() != Some(JobStatus::Running) {
                return Ok(());
            }
            release(conn, &current, (current.attempts - 1).max(0))
        })
        .await?;
    Ok(Applied::Done("worker stopping: job handed back".into()))
}

/// Back to `INIT` with `attempts` spent, published again.
pub fn release(conn: &mut PgConnection, job: &JobRow, attempts: i32) -> Result<(), WorkerError> {
    jobs::release(conn, *job.id, attempts, Utc::now().naive_utc())?;
    requests::announce(conn, job)?;
    Ok(())
}

/// Drops the pending marker of a create job's dead or failed attempt, so GC reclaims its packs.
pub async fn abandon_attempt(state: &WorkerState, job: &JobRow) {
    if job.job_type() != Some(JobType::Create) {
        return;
    }
    let (project, backup) = (job.project_id.as_str(), job.backup_id.to_string());
    if let Err(e) = state.engine.abandon_backup(project, &backup).await {
        tracing::warn!(backup_id = %backup, error = %e, "could not drop the attempt's marker; GC will after its TTL");
    }
}
