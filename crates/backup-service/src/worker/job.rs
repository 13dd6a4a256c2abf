//! `backup.job`: claim a job, run it with the engine under a renewed lease, record the outcome.

use std::time::Duration;

use api_types::{
    domain::{ProjectId, ResourceId, TimeZoneOffset},
    error::codes::volume_backup as vb,
    message::{BackupJob, Envelope, RetentionRule, TaskOutcome, TaskStatus},
};
use backup_engine::{BackupRequest, BackupStats, EngineError, Progress, RestoreOptions};
use chrono::{NaiveDateTime, Utc};
use diesel::{Connection, PgConnection, prelude::*};
use service_kit::{CancellationToken, amqp::Outcome, db, outbox};

use super::Inner;
use crate::{
    domain::{BackupStatus, JobStatus, JobType, retention, size_gib},
    error::BackupError,
    storage::ProjectLock,
    store::{
        self, JobRow,
        schema::{backups, jobs},
    },
    submit,
    volumes::{Source, VolumeError},
};

/// Why a job failed, as the job (`error_code`, `fail_reason`), the backup (`fail_reason`) and
/// the task status report it. The message is for the tenant: no paths, no internal causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// What running a job produced.
#[derive(Debug)]
enum Done {
    Created {
        stats: BackupStats,
        parent: Option<String>,
        crash_consistent: bool,
        data_timestamp: NaiveDateTime,
    },
    Restored,
    Deleted,
    Failed(Failure),
}

enum Claim {
    Run(Box<JobRow>),
    /// The job failed for good at claim time (too many attempts); its dead attempt's marker is
    /// to be dropped after the commit.
    GaveUp(Box<JobRow>),
    Skip(&'static str),
    Poison(String),
}

enum RunResult {
    Done(Done),
    LeaseLost,
    Stopped,
}

fn default_failure_code(t: JobType) -> &'static str {
    match t {
        JobType::Create => vb::CREATE_FAILED,
        JobType::Restore => vb::RESTORE_FAILED,
        JobType::Delete => vb::DELETE_FAILED,
    }
}

pub(super) async fn handle(inner: &Inner, shutdown: &CancellationToken, body: &[u8]) -> Outcome {
    let env = match Envelope::<BackupJob>::decode(body) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "malformed backup.job, dead-lettered");
            return Outcome::Reject;
        }
    };
    let job_id = env.payload.job_id.to_string();
    let project = env.payload.project_id.clone();
    let lease = uuid::Uuid::new_v4().to_string();
    let max_attempts = inner.settings.max_attempts.max(1);
    let claimed = {
        let (job_id, lease) = (job_id.clone(), lease.clone());
        db::run(&inner.pool, move |conn: &mut PgConnection| {
            conn.transaction(|conn| claim(conn, &job_id, &project, &lease, max_attempts))
        })
        .await
    };
    let job = match claimed {
        Ok(Claim::Run(job)) => *job,
        Ok(Claim::GaveUp(job)) => {
            inner.wake_relay.notify_one();
            abandon_attempt(inner, &job).await;
            return Outcome::Ack;
        }
        Ok(Claim::Skip(why)) => {
            tracing::info!(%job_id, why, "job delivery skipped");
            return Outcome::Ack;
        }
        Ok(Claim::Poison(why)) => {
            tracing::error!(%job_id, %why, "job message refused, dead-lettered");
            return Outcome::Reject;
        }
        Err(e) => {
            tracing::warn!(%job_id, error = %e, "could not claim the job; will retry");
            return Outcome::Retry;
        }
    };
    inner.wake_relay.notify_one();
    tracing::info!(%job_id, job_type = %job.job_type, backup_id = %job.backup_id, attempt = job.attempts, "job started");

    match run_with_heartbeat(inner, shutdown, &job, &lease).await {
        RunResult::Done(done) => {
            let failed = matches!(done, Done::Failed(_));
            let (j, l) = (job.clone(), lease.clone());
            let finished = db::run(&inner.pool, move |conn: &mut PgConnection| {
                conn.transaction(|conn| finish(conn, &j, &l, done))
            })
            .await;
            match finished {
                Ok(true) => {
                    inner.wake_relay.notify_one();
                    if failed && job.job_type() == Some(JobType::Create) {
                        abandon_attempt(inner, &job).await;
                    }
                    tracing::info!(%job_id, failed, "job finished");
                    Outcome::Ack
                }
                Ok(false) => {
                    tracing::warn!(%job_id, "the job's lease was taken over before it finished; result dropped");
                    Outcome::Ack
                }
                // The job keeps its lease; once it goes stale the reaper hands the job out again
                // (a re-run of a committed backup finds its manifest and only records it).
                Err(e) => {
                    tracing::error!(%job_id, error = ?e, "could not record the job's outcome; will retry");
                    Outcome::Retry
                }
            }
        }
        RunResult::LeaseLost => {
            tracing::warn!(%job_id, "lost the job's lease (a worker presumed this one dead); stopped");
            Outcome::Ack
        }
        RunResult::Stopped => {
            let (j, l) = (job.clone(), lease.clone());
            let handed = db::run(&inner.pool, move |conn: &mut PgConnection| {
                conn.transaction(|conn| hand_back(conn, &j, &l))
            })
            .await;
            match handed {
                Ok(()) => {
                    inner.wake_relay.notify_one();
                    tracing::info!(%job_id, "worker stopping: job handed back");
                    Outcome::Ack
                }
                Err(e) => {
                    tracing::warn!(%job_id, error = %e, "could not hand the job back; the reaper will");
                    Outcome::Retry
                }
            }
        }
    }
}

fn claim(
    conn: &mut PgConnection,
    job_id: &str,
    project: &str,
    lease: &str,
    max_attempts: i32,
) -> Result<Claim, BackupError> {
    let Some(job) = store::find_job_for_update(conn, job_id)? else {
        return Ok(Claim::Skip("no such job"));
    };
    if job.project_id != project {
        return Ok(Claim::Poison(format!("message names project {project}, the job belongs to another")));
    }
    let (Some(status), Some(job_type)) = (job.status(), job.job_type()) else {
        return Ok(Claim::Poison(format!("job has status {:?} and type {:?}", job.status, job.job_type)));
    };
    match status {
        JobStatus::Success | JobStatus::Fail => return Ok(Claim::Skip("already finished")),
        JobStatus::Running => return Ok(Claim::Skip("running on another worker")),
        JobStatus::Init => {}
    }
    let now = Utc::now().naive_utc();
    if job.attempts >= max_attempts {
        let failure = Failure::new(
            default_failure_code(job_type),
            format!("the worker running this job stopped before it finished ({} attempts)", job.attempts),
        );
        record_failure(conn, &job, &failure, now)?;
        return Ok(Claim::GaveUp(Box::new(job)));
    }
    diesel::update(jobs::table.find(&job.id))
        .set((
            jobs::status.eq(JobStatus::Running.as_str()),
            jobs::attempts.eq(job.attempts + 1),
            jobs::lease.eq(lease),
            jobs::heartbeat_at.eq(now),
            jobs::begin_time.eq(job.begin_time.unwrap_or(now)),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
    if job_type == JobType::Create && job.attempts == 0 {
        task_status(conn, &job, TaskOutcome::Running)?;
    }
    let mut job = job;
    job.status = JobStatus::Running.as_str().to_owned();
    job.attempts += 1;
    job.lease = Some(lease.to_owned());
    Ok(Claim::Run(Box::new(job)))
}

/// Reports a policy backup's progress to the scheduler (nothing for other jobs).
fn task_status(conn: &mut PgConnection, job: &JobRow, outcome: TaskOutcome) -> Result<(), BackupError> {
    let (Some(task), Some(policy)) = (&job.task_id, &job.policy_id) else { return Ok(()) };
    let parse =
        |f: &'static str, v: &str| ResourceId::parse(f, v).map_err(|e| anyhow::anyhow!("stored {f}: {e}"));
    let msg = TaskStatus {
        task_id: parse("task_id", task)?,
        project_id: job.project_id.clone(),
        policy_id: parse("policy_id", policy)?,
        volume_id: parse("volume_id", &job.volume_id)?,
        at: Utc::now(),
        vbs_job_id: Some(parse("job_id", &job.id)?),
        outcome,
    };
    outbox::enqueue(conn, &outbox::envelope(msg))?;
    Ok(())
}

fn end_job(
    conn: &mut PgConnection,
    job: &JobRow,
    status: JobStatus,
    failure: Option<&Failure>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(jobs::table.find(&job.id))
        .set((
            jobs::status.eq(status.as_str()),
            jobs::busy_volume.eq(None::<String>),
            jobs::lease.eq(None::<String>),
            jobs::error_code.eq(failure.map(|f| f.code)),
            jobs::fail_reason.eq(failure.map(|f| f.message.as_str())),
            jobs::end_time.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

fn record_failure(
    conn: &mut PgConnection,
    job: &JobRow,
    f: &Failure,
    now: NaiveDateTime,
) -> Result<(), BackupError> {
    end_job(conn, job, JobStatus::Fail, Some(f), now)?;
    let backup = store::find_backup_for_update(conn, &job.project_id, &job.backup_id)?;
    match job.job_type() {
        Some(JobType::Create) => {
            store::set_backup_status(conn, &job.backup_id, BackupStatus::Error, Some(&f.message), now)?;
            task_status(
                conn,
                job,
                TaskOutcome::ExecuteFail { code: f.code.to_owned(), message: f.message.clone() },
            )?;
        }
        // The backup itself is intact: it is available again.
        Some(JobType::Restore) => {
            if let Some(b) = backup.filter(|b| b.status() == Some(BackupStatus::Restoring)) {
                store::set_backup_status(
                    conn,
                    &b.id,
                    BackupStatus::Available,
                    b.fail_reason.as_deref(),
                    now,
                )?;
            }
        }
        Some(JobType::Delete) => {
            store::set_backup_status(
                conn,
                &job.backup_id,
                BackupStatus::ErrorDeleting,
                Some(&f.message),
                now,
            )?;
        }
        None => {}
    }
    tracing::warn!(job_id = %job.id, code = f.code, reason = %f.message, "job failed");
    Ok(())
}

/// Records the outcome if this attempt still holds the lease; `false` when it does not.
fn finish(conn: &mut PgConnection, job: &JobRow, lease: &str, done: Done) -> Result<bool, BackupError> {
    let Some(current) = store::find_job_for_update(conn, &job.id)? else { return Ok(false) };
    if current.lease.as_deref() != Some(lease) || current.status() != Some(JobStatus::Running) {
        return Ok(false);
    }
    let now = Utc::now().naive_utc();
    match done {
        Done::Failed(f) => record_failure(conn, &current, &f, now)?,
        Done::Created { stats, parent, crash_consistent, data_timestamp } => {
            let logical = i64::try_from(stats.logical_bytes).unwrap_or(i64::MAX);
            diesel::update(backups::table.find(&job.backup_id))
                .set((
                    backups::status.eq(BackupStatus::Available.as_str()),
                    backups::parent_id.eq(parent.as_deref()),
                    backups::object_count.eq(i64::try_from(stats.objects_written).unwrap_or(i64::MAX)),
                    backups::stored_bytes.eq(i64::try_from(stats.stored_bytes).unwrap_or(i64::MAX)),
                    backups::volume_bytes.eq(logical),
                    backups::size_gib.eq(size_gib(stats.logical_bytes)),
                    backups::progress_done.eq(logical),
                    backups::progress_total.eq(logical),
                    backups::crash_consistent.eq(crash_consistent),
                    backups::data_timestamp.eq(data_timestamp),
                    backups::fail_reason.eq(None::<String>),
                    backups::updated_at.eq(now),
                ))
                .execute(conn)?;
            diesel::update(jobs::table.find(&job.id))
                .set((jobs::progress_done.eq(logical), jobs::progress_total.eq(logical)))
                .execute(conn)?;
            end_job(conn, &current, JobStatus::Success, None, now)?;
            let pruned = apply_retention(conn, &current, now)?;
            let backup_id =
                ResourceId::parse("backup_id", &job.backup_id).map_err(|e| anyhow::anyhow!("{e}"))?;
            task_status(
                conn,
                &current,
                TaskOutcome::ExecuteSuccess {
                    backup_id,
                    backup_name: current.backup_name.clone().unwrap_or_default(),
                    pruned_backup_ids: pruned,
                },
            )?;
        }
        Done::Restored => {
            if let Some(b) = store::find_backup_for_update(conn, &job.project_id, &job.backup_id)?
                && b.status() == Some(BackupStatus::Restoring)
            {
                store::set_backup_status(
                    conn,
                    &b.id,
                    BackupStatus::Available,
                    b.fail_reason.as_deref(),
                    now,
                )?;
            }
            end_job(conn, &current, JobStatus::Success, None, now)?;
        }
        Done::Deleted => {
            store::delete_backup_row(conn, &job.backup_id)?;
            end_job(conn, &current, JobStatus::Success, None, now)?;
        }
    }
    Ok(true)
}

/// After a policy backup: the policy's retention over its automatic backups of the volume.
/// The pruned backups turn `deleting` (their deletion jobs run like any other).
fn apply_retention(
    conn: &mut PgConnection,
    job: &JobRow,
    now: NaiveDateTime,
) -> Result<Vec<ResourceId>, BackupError> {
    let (Some(policy), Some(rule)) = (&job.policy_id, &job.retention) else { return Ok(Vec::new()) };
    let rule: RetentionRule =
        serde_json::from_str(rule).map_err(|e| anyhow::anyhow!("stored retention: {e}"))?;
    let offset =
        TimeZoneOffset::from_minutes(job.utc_offset_minutes.unwrap_or(0)).unwrap_or(TimeZoneOffset::UTC);
    let candidates: Vec<retention::BackupInfo> =
        store::auto_backups(conn, &job.project_id, policy, &job.volume_id)?
            .into_iter()
            .map(|b| retention::BackupInfo { id: b.id, created_at: b.created_at.and_utc() })
            .collect();
    let mut pruned = Vec::new();
    for id in retention::to_prune(&candidates, &rule, offset, now.and_utc()) {
        match conn.transaction(|c| submit::delete(c, &job.project_id, &id, now)) {
            Ok(_) => pruned.push(ResourceId::parse("backup_id", &id).map_err(|e| anyhow::anyhow!("{e}"))?),
            Err(e) => tracing::warn!(backup_id = %id, error = %e, "retention could not delete a backup"),
        }
    }
    if !pruned.is_empty() {
        tracing::info!(policy_id = %policy, volume_id = %job.volume_id, pruned = pruned.len(), "retention applied");
    }
    Ok(pruned)
}

/// A worker that stops hands its job back for another to run at once.
fn hand_back(conn: &mut PgConnection, job: &JobRow, lease: &str) -> Result<(), BackupError> {
    let Some(current) = store::find_job_for_update(conn, &job.id)? else { return Ok(()) };
    if current.lease.as_deref() != Some(lease) || current.status() != Some(JobStatus::Running) {
        return Ok(());
    }
    release_to_init(conn, &current, (current.attempts - 1).max(0))
}

/// Back to `INIT`, published again.
pub(super) fn release_to_init(
    conn: &mut PgConnection,
    job: &JobRow,
    attempts: i32,
) -> Result<(), BackupError> {
    diesel::update(jobs::table.find(&job.id))
        .set((
            jobs::status.eq(JobStatus::Init.as_str()),
            jobs::attempts.eq(attempts),
            jobs::lease.eq(None::<String>),
            jobs::heartbeat_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    let job_id = ResourceId::parse("job_id", &job.id).map_err(|e| anyhow::anyhow!("{e}"))?;
    outbox::enqueue(conn, &outbox::envelope(BackupJob { job_id, project_id: job.project_id.clone() }))?;
    Ok(())
}

/// Drops the pending marker of a create job's dead or failed attempt, so GC reclaims its packs.
async fn abandon_attempt(inner: &Inner, job: &JobRow) {
    if job.job_type() != Some(JobType::Create) {
        return;
    }
    if let Err(e) = inner.engine.abandon_backup(&job.project_id, &job.backup_id).await {
        tracing::warn!(backup_id = %job.backup_id, error = %e, "could not drop the attempt's marker; GC will after its TTL");
    }
}

async fn run_with_heartbeat(
    inner: &Inner,
    shutdown: &CancellationToken,
    job: &JobRow,
    lease: &str,
) -> RunResult {
    let progress = Progress::new();
    let work = execute(inner, job, progress.clone());
    tokio::pin!(work);
    let mut tick = tokio::time::interval(inner.settings.heartbeat.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return RunResult::Done(done),
            () = shutdown.cancelled() => return RunResult::Stopped,
            _ = tick.tick() => match heartbeat(inner, job, lease, &progress).await {
                Ok(true) => {}
                Ok(false) => return RunResult::LeaseLost,
                // The database is briefly unreachable: keep working; the lease is only lost
                // if another worker takes the job over, which the next heartbeat sees.
                Err(e) => tracing::warn!(job_id = %job.id, error = %e, "heartbeat failed"),
            },
        }
    }
}

/// Renews the lease and publishes progress; `false` when the lease is no longer ours.
async fn heartbeat(
    inner: &Inner,
    job: &JobRow,
    lease: &str,
    progress: &Progress,
) -> Result<bool, BackupError> {
    let (id, backup_id, lease) = (job.id.clone(), job.backup_id.clone(), lease.to_owned());
    let is_create = job.job_type() == Some(JobType::Create);
    let done = i64::try_from(progress.done()).unwrap_or(i64::MAX);
    let total = i64::try_from(progress.total()).unwrap_or(i64::MAX);
    db::run(&inner.pool, move |conn: &mut PgConnection| -> Result<bool, BackupError> {
        let now = Utc::now().naive_utc();
        let n = diesel::update(
            jobs::table
                .filter(jobs::id.eq(&id))
                .filter(jobs::lease.eq(&lease))
                .filter(jobs::status.eq(JobStatus::Running.as_str())),
        )
        .set((
            jobs::heartbeat_at.eq(now),
            jobs::progress_done.eq(done),
            jobs::progress_total.eq(total),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)?;
        if n == 1 && is_create {
            diesel::update(backups::table.find(&backup_id))
                .set((backups::progress_done.eq(done), backups::progress_total.eq(total)))
                .execute(conn)?;
        }
        Ok(n == 1)
    })
    .await
}

async fn execute(inner: &Inner, job: &JobRow, progress: Progress) -> Done {
    let result = match job.job_type() {
        Some(JobType::Create) => create(inner, job, progress).await,
        Some(JobType::Restore) => restore(inner, job, progress).await,
        Some(JobType::Delete) => delete(inner, job).await,
        None => Err(Failure::new(vb::INTERNAL, "unknown job type")),
    };
    result.unwrap_or_else(Done::Failed)
}

fn internal(what: &str) -> impl FnOnce(String) -> Failure + '_ {
    move |detail| {
        tracing::error!(what, %detail, "job data invalid");
        Failure::new(vb::INTERNAL, "an internal error occurred")
    }
}

fn ids(job: &JobRow) -> Result<(ProjectId, ResourceId, ResourceId), Failure> {
    let project = ProjectId::parse(&job.project_id).map_err(|e| internal("project id")(e.to_string()))?;
    let volume =
        ResourceId::parse("volume_id", &job.volume_id).map_err(|e| internal("volume id")(e.to_string()))?;
    let backup =
        ResourceId::parse("backup_id", &job.backup_id).map_err(|e| internal("backup id")(e.to_string()))?;
    Ok((project, volume, backup))
}

/// What the tenant is told about an engine failure; the details go to the log.
fn engine_failure(e: EngineError, code: &'static str, io_means: &str) -> Failure {
    tracing::error!(error = %e, "engine operation failed");
    match e {
        EngineError::TargetTooSmall { target, volume } => Failure::new(
            vb::RESTORE_TOO_SMALL,
            format!("the volume ({target} bytes) is smaller than the backup ({volume} bytes)"),
        ),
        EngineError::Io { .. } => Failure::new(code, io_means.to_owned()),
        EngineError::Store(_) => Failure::new(code, "the object store failed"),
        EngineError::Corrupt { .. } => Failure::new(code, "stored backup data is corrupt"),
        EngineError::BackupNotFound(_) => {
            Failure::new(code, "the backup's data is missing from the object store")
        }
        EngineError::ParentNotFound(_) => Failure::new(code, "the parent backup disappeared"),
        EngineError::InvalidInput(m) => Failure::new(code, format!("invalid request: {m}")),
        EngineError::Pipeline(_) => Failure::new(code, "an internal error occurred"),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failure> {
    service_kit::telemetry::spawn_blocking_in_span(f)
        .await
        .map_err(|e| internal("blocking task")(e.to_string()))
}

fn volume_failure(e: VolumeError) -> Failure {
    match e {
        VolumeError::VolumeNotFound(v) => {
            Failure::new(vb::VOLUME_NOT_FOUND, format!("volume {v} does not exist"))
        }
        VolumeError::SnapshotNotFound { volume, snapshot } => Failure::new(
            vb::SNAPSHOT_NOT_FOUND,
            format!("snapshot {snapshot} of volume {volume} does not exist"),
        ),
        other => {
            tracing::error!(error = %other, "volume unusable");
            Failure::new(vb::VOLUME_STATUS, "the volume is unavailable")
        }
    }
}

async fn create(inner: &Inner, job: &JobRow, progress: Progress) -> Result<Done, Failure> {
    let (project, volume_id, backup_id) = ids(job)?;
    let snapshot = match &job.snapshot_id {
        Some(s) => {
            Some(ResourceId::parse("snapshot_id", s).map_err(|e| internal("snapshot id")(e.to_string()))?)
        }
        None => None,
    };
    let drv = inner.volumes.clone();
    let p = project.clone();
    let source: Source = blocking(move || match snapshot {
        Some(s) => drv.snapshot(&p, volume_id, s),
        None => drv.volume(&p, volume_id).and_then(|v| drv.take_snapshot(&v, backup_id)),
    })
    .await?
    .map_err(volume_failure)?;
    let data_timestamp = Utc::now().naive_utc();
    let crash_consistent = source.crash_consistent;

    let (proj, vol, id, full) =
        (job.project_id.clone(), job.volume_id.clone(), job.backup_id.clone(), job.full_backup);
    let parent =
        db::run(&inner.pool, move |conn: &mut PgConnection| -> Result<Option<String>, BackupError> {
            diesel::update(backups::table.find(&id))
                .set((
                    backups::data_timestamp.eq(data_timestamp),
                    backups::crash_consistent.eq(crash_consistent),
                ))
                .execute(conn)?;
            if full {
                return Ok(None);
            }
            Ok(store::latest_available_backup(conn, &proj, &vol, &id)?.map(|b| b.id))
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the parent backup");
            Failure::new(vb::CREATE_FAILED, "the service is temporarily unavailable")
        })?;

    let engine = &inner.engine;
    let backup_key = backup_id.to_string();
    fn request<'a>(
        project: &'a ProjectId,
        backup_id: &'a str,
        source: &'a Source,
        parent: Option<&'a str>,
        progress: &Progress,
    ) -> BackupRequest<'a> {
        BackupRequest {
            project: project.as_str(),
            backup_id,
            source: &source.path,
            parent,
            progress: Some(progress.clone()),
        }
    }
    let mut used_parent = parent.clone();
    let mut result =
        engine.backup(request(&project, &backup_key, &source, parent.as_deref(), &progress)).await;
    if let Err(EngineError::ParentNotFound(p)) = &result {
        // Deleted since it was chosen: take a full backup instead.
        tracing::info!(parent = %p, "parent backup gone; taking a full backup");
        used_parent = None;
        result = engine.backup(request(&project, &backup_key, &source, None, &progress)).await;
    }
    let _ = blocking(move || source.release()).await;
    let stats = result.map_err(|e| engine_failure(e, vb::CREATE_FAILED, "reading the volume failed"))?;
    if stats.already_existed {
        // A previous attempt committed the manifest before it could record it: its parent is
        // the one that counts.
        used_parent = engine
            .backup_info(project.as_str(), &backup_key)
            .await
            .map_err(|e| engine_failure(e, vb::CREATE_FAILED, "reading the volume failed"))?
            .parent;
    }
    Ok(Done::Created { stats, parent: used_parent, crash_consistent, data_timestamp })
}

async fn restore(inner: &Inner, job: &JobRow, progress: Progress) -> Result<Done, Failure> {
    let (project, volume_id, backup_id) = ids(job)?;
    let drv = inner.volumes.clone();
    let (target, write_zeros) = blocking(move || {
        let v = drv.volume(&project, volume_id).map_err(|e| match e {
            VolumeError::VolumeNotFound(v) => {
                Failure::new(vb::RESTORE_VOLUME_NOT_FOUND, format!("volume {v} does not exist"))
            }
            other => volume_failure(other),
        })?;
        let zeros = drv.prepare_restore_target(&v).map_err(volume_failure)?;
        Ok::<_, Failure>((v, zeros))
    })
    .await??;
    let opts = RestoreOptions { write_zeros, verify_blocks: true, flush: true, progress: Some(progress) };
    inner
        .engine
        .restore(&job.project_id, &backup_id.to_string(), &target.disk, opts)
        .await
        .map_err(|e| engine_failure(e, vb::RESTORE_FAILED, "writing the volume failed"))?;
    Ok(Done::Restored)
}

async fn delete(inner: &Inner, job: &JobRow) -> Result<Done, Failure> {
    let (project, _, backup_id) = ids(job)?;
    // Garbage collection of the project must not run while a manifest moves to the trash.
    let lock = ProjectLock::acquire(&inner.pool, &project, Duration::from_secs(600)).await.map_err(|e| {
        tracing::warn!(error = %e, "project lock");
        Failure::new(vb::DELETE_FAILED, "the backup store is busy; delete the backup again")
    })?;
    let id = backup_id.to_string();
    let result = match inner.engine.delete_backup(project.as_str(), &id).await {
        // Nothing committed (a failed backup), or removed by an earlier attempt.
        Ok(()) | Err(EngineError::BackupNotFound(_)) => Ok(Done::Deleted),
        Err(e) => Err(engine_failure(e, vb::DELETE_FAILED, "the object store failed")),
    };
    if result.is_ok()
        && let Err(e) = inner.engine.abandon_backup(project.as_str(), &id).await
    {
        tracing::warn!(backup_id = %id, error = %e, "could not drop a pending marker");
    }
    lock.release().await;
    result
}
