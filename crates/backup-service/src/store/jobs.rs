//! The `jobs` table: work on backups (create, restore, delete). A job is recorded with its
//! `backup.job` message in one transaction; a worker claims it with a lease it renews
//! (`heartbeat_at`) and ends it in the transaction that records the result.

use std::collections::HashSet;

use api_types::domain::{ProjectId, ResourceId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use service_kit::db::{DbId, DbProjectId};

use super::schema::{backups, jobs};
use crate::domain::{JobStatus, JobType};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub job_type: String,
    pub status: String,
    pub backup_id: DbId,
    /// Create: the source volume; restore: the target volume; delete: the backup's volume.
    pub volume_id: DbId,
    pub snapshot_id: Option<DbId>,
    pub backup_name: Option<String>,
    pub full_backup: bool,
    /// The volume this job occupies while it is INIT or RUNNING (one backup or restore per
    /// volume at a time; a unique index guards it).
    pub busy_volume: Option<DbId>,
    pub task_id: Option<DbId>,
    pub policy_id: Option<DbId>,
    /// A policy backup's retention rule (JSON of `RetentionRule`).
    pub retention: Option<String>,
    pub utc_offset_minutes: Option<i16>,
    pub attempts: i32,
    /// The claim of the attempt running it.
    pub lease: Option<DbId>,
    pub heartbeat_at: Option<NaiveDateTime>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub error_code: Option<String>,
    pub fail_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub begin_time: Option<NaiveDateTime>,
    pub end_time: Option<NaiveDateTime>,
    /// A restore of a backup shared from another project: its owner. `None`: `project_id`.
    pub backup_project_id: Option<DbProjectId>,
}

impl JobRow {
    /// A job in state INIT for `backup_id`.
    pub fn new(
        job_type: JobType,
        project_id: &ProjectId,
        backup_id: ResourceId,
        volume_id: ResourceId,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: DbId::new_v4(),
            project_id: project_id.into(),
            job_type: job_type.as_str().to_owned(),
            status: JobStatus::Init.as_str().to_owned(),
            backup_id: DbId(backup_id),
            volume_id: DbId(volume_id),
            snapshot_id: None,
            backup_name: None,
            full_backup: false,
            busy_volume: None,
            task_id: None,
            policy_id: None,
            retention: None,
            utc_offset_minutes: None,
            attempts: 0,
            lease: None,
            heartbeat_at: None,
            progress_done: 0,
            progress_total: 0,
            error_code: None,
            fail_reason: None,
            created_at: now,
            updated_at: now,
            begin_time: None,
            end_time: None,
            backup_project_id: None,
        }
    }

    /// The project that owns the job's backup (whose object-store data it reads).
    pub fn backup_project(&self) -> &ProjectId {
        self.backup_project_id.as_ref().map_or(&self.project_id.0, |p| &p.0)
    }

    pub fn job_type(&self) -> Option<JobType> {
        JobType::parse(&self.job_type)
    }

    pub fn status(&self) -> Option<JobStatus> {
        JobStatus::parse(&self.status)
    }
}

pub fn insert(conn: &mut PgConnection, row: &JobRow) -> QueryResult<()> {
    diesel::insert_into(jobs::table).values(row).execute(conn).map(drop)
}

pub fn find(conn: &mut PgConnection, project: &ProjectId, id: ResourceId) -> QueryResult<Option<JobRow>> {
    jobs::table
        .filter(jobs::id.eq(DbId(id)))
        .filter(jobs::project_id.eq(DbProjectId::from(project)))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// PostgreSQL-specific: the job with its row locked.
pub fn find_for_update(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Option<JobRow>> {
    jobs::table.find(DbId(id)).select(JobRow::as_select()).for_update().first(conn).optional()
}

/// The job that occupies a volume (a backup or restore INIT or RUNNING), if any.
pub fn on_volume(
    conn: &mut PgConnection,
    project: &ProjectId,
    volume: ResourceId,
) -> QueryResult<Option<JobRow>> {
    jobs::table
        .filter(jobs::project_id.eq(DbProjectId::from(project)))
        .filter(jobs::busy_volume.eq(DbId(volume)))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// The job, locked for a worker to record what happened to it — after its backup's row. Every
/// transaction that locks a backup and its jobs takes the backup first (the API's delete,
/// force delete and restore lock the backup, then its jobs); a worker locking the job first
/// and then updating or deleting the backup could wait on the API in a cycle (a deadlock,
/// which PostgreSQL breaks by failing one of them).
pub fn find_for_update_after_backup(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Option<JobRow>> {
    let Some(backup_id) =
        jobs::table.find(DbId(id)).select(jobs::backup_id).first::<DbId>(conn).optional()?
    else {
        return Ok(None);
    };
    backups::table.find(backup_id).select(backups::id).for_update().first::<DbId>(conn).optional()?;
    find_for_update(conn, id)
}

/// The jobs of a backup that have not ended (INIT or RUNNING), locked.
pub fn unfinished_for_backup(conn: &mut PgConnection, backup: ResourceId) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .filter(jobs::backup_id.eq(DbId(backup)))
        .filter(jobs::status.eq_any([JobStatus::Init.as_str(), JobStatus::Running.as_str()]))
        .for_update()
        .select(JobRow::as_select())
        .load(conn)
}

/// Which of these scheduler tasks have a job already (`task_id` is unique).
pub fn tasks_with_jobs(conn: &mut PgConnection, task_ids: &[ResourceId]) -> QueryResult<HashSet<ResourceId>> {
    let ids: Vec<DbId> = task_ids.iter().copied().map(DbId).collect();
    let found: Vec<Option<DbId>> =
        jobs::table.filter(jobs::task_id.eq_any(ids)).select(jobs::task_id).load(conn)?;
    Ok(found.into_iter().flatten().map(|id| *id).collect())
}

/// A new attempt runs the job under `lease`.
pub fn start_attempt(
    conn: &mut PgConnection,
    job: &JobRow,
    lease: ResourceId,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(jobs::table.find(job.id))
        .set((
            jobs::status.eq(JobStatus::Running.as_str()),
            jobs::attempts.eq(job.attempts + 1),
            jobs::lease.eq(DbId(lease)),
            jobs::heartbeat_at.eq(now),
            jobs::begin_time.eq(job.begin_time.unwrap_or(now)),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Renews the lease and records progress; `false` when `lease` no longer holds the job.
pub fn renew_lease(
    conn: &mut PgConnection,
    id: ResourceId,
    lease: ResourceId,
    done: i64,
    total: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let renewed = diesel::update(
        jobs::table
            .filter(jobs::id.eq(DbId(id)))
            .filter(jobs::lease.eq(DbId(lease)))
            .filter(jobs::status.eq(JobStatus::Running.as_str())),
    )
    .set((
        jobs::heartbeat_at.eq(now),
        jobs::progress_done.eq(done),
        jobs::progress_total.eq(total),
        jobs::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(renewed == 1)
}

pub fn set_progress(conn: &mut PgConnection, id: ResourceId, done: i64, total: i64) -> QueryResult<()> {
    diesel::update(jobs::table.find(DbId(id)))
        .set((jobs::progress_done.eq(done), jobs::progress_total.eq(total)))
        .execute(conn)
        .map(drop)
}

/// Ends a job: it frees its volume and its lease; a failed one keeps its code and reason.
pub fn end(
    conn: &mut PgConnection,
    id: ResourceId,
    status: JobStatus,
    failure: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(jobs::table.find(DbId(id)))
        .set((
            jobs::status.eq(status.as_str()),
            jobs::busy_volume.eq(None::<DbId>),
            jobs::lease.eq(None::<DbId>),
            jobs::error_code.eq(failure.map(|(code, _)| code)),
            jobs::fail_reason.eq(failure.map(|(_, reason)| reason)),
            jobs::end_time.eq(now),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Back to `INIT` with `attempts` spent, for another worker to claim.
pub fn release(
    conn: &mut PgConnection,
    id: ResourceId,
    attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(jobs::table.find(DbId(id)))
        .set((
            jobs::status.eq(JobStatus::Init.as_str()),
            jobs::attempts.eq(attempts),
            jobs::lease.eq(None::<DbId>),
            jobs::heartbeat_at.eq(None::<NaiveDateTime>),
            jobs::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// PostgreSQL-specific: the running jobs whose lease was last renewed before `before`, locked
/// (`SKIP LOCKED`, so the reapers of several workers split them).
pub fn lock_stale(conn: &mut PgConnection, before: NaiveDateTime) -> QueryResult<Vec<JobRow>> {
    jobs::table
        .filter(jobs::status.eq(JobStatus::Running.as_str()))
        .filter(jobs::heartbeat_at.lt(before))
        .for_update()
        .skip_locked()
        .select(JobRow::as_select())
        .load(conn)
}
