//! Running a claimed job with the engine while a heartbeat renews its lease and publishes its
//! progress.

use std::{sync::Arc, time::Duration};

use api_types::{domain::ResourceId, error::codes::volume_backup as vb};
use backup_engine::{BackupRequest, BackupStats, EngineError, Progress, RestoreOptions};
use chrono::Utc;

use super::{
    WorkerState,
    error::{Failure, WorkerError},
    finish::{Created, JobResult},
};
use crate::{
    domain::JobType,
    project_lock::ProjectLock,
    store::{JobRow, backups, jobs},
    volumes::{Source, VolumeError},
};

/// How a run ended.
pub enum RunEnd {
    Done(JobResult),
    /// Another worker took the job over (this one was presumed dead).
    LeaseLost,
    /// The worker is stopping.
    Stopped,
}

pub async fn run_with_heartbeat(state: &WorkerState, job: &JobRow, lease: ResourceId) -> RunEnd {
    let progress = Progress::new();
    let work = execute(state, job, progress.clone());
    tokio::pin!(work);
    let mut tick = tokio::time::interval(state.settings.heartbeat.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return RunEnd::Done(done),
            () = state.shutdown.cancelled() => return RunEnd::Stopped,
            _ = tick.tick() => match heartbeat(state, job, lease, &progress).await {
                Ok(true) => {}
                Ok(false) => return RunEnd::LeaseLost,
                // The database is briefly unreachable: keep working; the lease is only lost
                // if another worker takes the job over, which the next heartbeat sees.
                Err(e) => tracing::warn!(job_id = %job.id, error = %e, "heartbeat failed"),
            },
        }
    }
}

/// Renews the lease and publishes progress; `false` when the lease is no longer ours.
async fn heartbeat(
    state: &WorkerState,
    job: &JobRow,
    lease: ResourceId,
    progress: &Progress,
) -> Result<bool, WorkerError> {
    let (id, backup_id) = (*job.id, *job.backup_id);
    let is_create = job.job_type() == Some(JobType::Create);
    let done = i64::try_from(progress.done()).unwrap_or(i64::MAX);
    let total = i64::try_from(progress.total()).unwrap_or(i64::MAX);
    state
        .db
        .read(move |conn| {
            let renewed = jobs::renew_lease(conn, id, lease, done, total, Utc::now().naive_utc())?;
            if renewed && is_create {
                backups::set_progress(conn, backup_id, done, total)?;
            }
            Ok(renewed)
        })
        .await
}

async fn execute(state: &WorkerState, job: &JobRow, progress: Progress) -> JobResult {
    let result = match job.job_type() {
        Some(JobType::Create) => create(state, job, progress).await,
        Some(JobType::Restore) => restore(state, job, progress).await,
        Some(JobType::Delete) => delete(state, job).await,
        None => Err(Failure::new(vb::INTERNAL, "unknown job type")),
    };
    result.unwrap_or_else(JobResult::Failed)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failure> {
    service_kit::telemetry::spawn_blocking_in_span(f).await.map_err(|e| Failure::internal("blocking task", e))
}

async fn create(state: &WorkerState, job: &JobRow, progress: Progress) -> Result<JobResult, Failure> {
    let source = take_source(state, job).await?;
    let data_timestamp = Utc::now().naive_utc();
    let crash_consistent = source.crash_consistent;
    let parent = choose_parent(state, job, data_timestamp, crash_consistent).await?;
    let result = back_up(state, job, &source, parent, progress).await;
    let committed = result.is_ok();
    // Housekeeping the result does not wait for: removing a Ceph snapshot trims its objects
    // (0.6 s for a 4 GiB image here). If the process stops first, the next committed backup
    // of the volume removes it.
    drop(tokio::spawn(service_kit::telemetry::spawn_blocking_in_span(move || source.release(committed))));
    let (stats, parent) = result?;
    Ok(JobResult::Created(Created { stats, parent, crash_consistent, data_timestamp }))
}

/// The snapshot the request named, or one the driver takes now.
async fn take_source(state: &WorkerState, job: &JobRow) -> Result<Source, Failure> {
    let drv = state.volumes.clone();
    let (project, volume, backup, snapshot) =
        (job.project_id.0.clone(), *job.volume_id, *job.backup_id, job.snapshot_id.map(ResourceId::from));
    blocking(move || match snapshot {
        Some(s) => drv.snapshot(&project, volume, s),
        None => drv.volume(&project, volume).and_then(|v| drv.take_snapshot(&project, &v, backup)),
    })
    .await?
    .map_err(Failure::volume)
}

/// Records when and how the data was captured, and picks the parent of an incremental (none
/// for a full backup).
async fn choose_parent(
    state: &WorkerState,
    job: &JobRow,
    data_timestamp: chrono::NaiveDateTime,
    crash_consistent: bool,
) -> Result<Option<ResourceId>, Failure> {
    let (project, volume, id, full) =
        (job.project_id.0.clone(), *job.volume_id, *job.backup_id, job.full_backup);
    // A database restart must not fail the backup: wait for it (the heartbeat keeps the
    // lease meanwhile, or another worker takes over once it is back).
    let deadline = tokio::time::Instant::now() + DATABASE_PATIENCE;
    loop {
        let project = project.clone();
        let read = state
            .db
            .read(move |conn| {
                backups::record_capture(conn, id, data_timestamp, crash_consistent)?;
                if full {
                    return Ok(None);
                }
                Ok(backups::latest_available(conn, &project, volume, id)?.map(|b| *b.id))
            })
            .await;
        match read {
            Ok(parent) => return Ok(parent),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %e, "reading the parent backup; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the parent backup");
                return Err(Failure::new(vb::CREATE_FAILED, "the service is temporarily unavailable"));
            }
        }
    }
}

/// How long a job waits for an unreachable database before it fails.
const DATABASE_PATIENCE: Duration = Duration::from_secs(60);

/// Backs `source` up against `parent`; returns the stats and the parent that really counts.
async fn back_up(
    state: &WorkerState,
    job: &JobRow,
    source: &Source,
    parent: Option<ResourceId>,
    progress: Progress,
) -> Result<(BackupStats, Option<ResourceId>), Failure> {
    let engine = &state.engine;
    let (project, backup_id) = (job.project_id.as_str(), job.backup_id.to_string());
    let mut used_parent = parent;
    let parent_key = parent.map(|p| p.to_string());
    let mut result =
        engine.backup(request(project, &backup_id, source, parent_key.as_deref(), &progress)).await;
    if let Err(EngineError::ParentNotFound(p)) = &result {
        // Deleted since it was chosen: take a full backup instead.
        tracing::info!(parent = %p, "parent backup gone; taking a full backup");
        used_parent = None;
        result = engine.backup(request(project, &backup_id, source, None, &progress)).await;
    }
    let failed = |e| Failure::engine(e, vb::CREATE_FAILED, "reading the volume failed");
    let stats = result.map_err(failed)?;
    if stats.already_existed {
        // A previous attempt committed the manifest before it could record it: its parent is
        // the one that counts.
        let recorded = engine.backup_info(project, &backup_id).await.map_err(failed)?.parent;
        used_parent = match recorded {
            Some(p) => {
                Some(ResourceId::parse("parent", &p).map_err(|e| Failure::internal("manifest parent", e))?)
            }
            None => None,
        };
    }
    Ok((stats, used_parent))
}

fn request<'a>(
    project: &'a str,
    backup_id: &'a str,
    source: &'a Source,
    parent: Option<&'a str>,
    progress: &Progress,
) -> BackupRequest<'a> {
    BackupRequest {
        project,
        backup_id,
        source: backup_engine::Source::Reader(Arc::clone(&source.reader)),
        parent,
        progress: Some(progress.clone()),
    }
}

async fn restore(state: &WorkerState, job: &JobRow, progress: Progress) -> Result<JobResult, Failure> {
    let drv = state.volumes.clone();
    let (project, volume) = (job.project_id.0.clone(), *job.volume_id);
    let target = blocking(move || {
        let v = drv.volume(&project, volume).map_err(|e| match e {
            VolumeError::VolumeNotFound(v) => {
                Failure::new(vb::RESTORE_VOLUME_NOT_FOUND, format!("volume {v} does not exist"))
            }
            other => Failure::volume(other),
        })?;
        drv.restore_target(&project, &v).map_err(Failure::volume)
    })
    .await??;
    let opts = RestoreOptions {
        write_zeros: target.write_zeros,
        verify_blocks: true,
        flush: true,
        progress: Some(progress),
    };
    state
        .engine
        .restore_to(job.backup_project().as_str(), &job.backup_id.to_string(), target.writer, opts)
        .await
        .map_err(|e| Failure::engine(e, vb::RESTORE_FAILED, "writing the volume failed"))?;
    Ok(JobResult::Restored)
}

pub(super) async fn delete(state: &WorkerState, job: &JobRow) -> Result<JobResult, Failure> {
    // Garbage collection of the project must not run while a manifest moves to the trash.
    let lock = ProjectLock::acquire(state.db.pool(), &job.project_id, Duration::from_secs(600))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "project lock");
            Failure::new(vb::DELETE_FAILED, "the backup store is busy; delete the backup again")
        })?;
    let (project, id) = (job.project_id.as_str(), job.backup_id.to_string());
    let result = match state.engine.delete_backup(project, &id).await {
        // Nothing committed (a failed backup), or removed by an earlier attempt.
        Ok(()) | Err(EngineError::BackupNotFound(_)) => Ok(JobResult::Deleted),
        Err(e) => Err(Failure::engine(e, vb::DELETE_FAILED, "the object store failed")),
    };
    if result.is_ok()
        && let Err(e) = state.engine.abandon_backup(project, &id).await
    {
        tracing::warn!(backup_id = %id, error = %e, "could not drop a pending marker");
    }
    lock.release().await;
    result
}
