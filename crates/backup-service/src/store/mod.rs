//! The backup database (`vbs_backup`): backups, jobs, and the projects that have stored data.
//!
//! Functions take a connection and return `QueryResult`, so callers compose them in one
//! transaction with the outbox row that announces the change. Queries stay portable (text ids,
//! `TIMESTAMP` columns); PostgreSQL-only SQL is limited to row locks (`FOR UPDATE`), named so.

pub mod schema;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::{BackupStatus, JobStatus, JobType};
use schema::{backups, jobs, project_storage};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = backups)]
pub struct BackupRow {
    pub id: String,
    pub project_id: String,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub policy_id: Option<String>,
    pub parent_id: Option<String>,
    pub volume_bytes: i64,
    pub size_gib: i64,
    pub object_count: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub crash_consistent: bool,
    pub fail_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub data_timestamp: Option<NaiveDateTime>,
}

impl BackupRow {
    pub fn status(&self) -> Option<BackupStatus> {
        BackupStatus::parse(&self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct JobRow {
    pub id: String,
    pub project_id: String,
    pub job_type: String,
    pub status: String,
    pub backup_id: String,
    pub volume_id: String,
    pub snapshot_id: Option<String>,
    pub backup_name: Option<String>,
    pub full_backup: bool,
    pub busy_volume: Option<String>,
    pub task_id: Option<String>,
    pub policy_id: Option<String>,
    pub retention: Option<String>,
    pub utc_offset_minutes: Option<i16>,
    pub attempts: i32,
    pub lease: Option<String>,
    pub heartbeat_at: Option<NaiveDateTime>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub error_code: Option<String>,
    pub fail_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub begin_time: Option<NaiveDateTime>,
    pub end_time: Option<NaiveDateTime>,
}

impl JobRow {
    /// A job in state INIT for `backup_id`.
    pub fn new(
        job_type: JobType,
        project_id: &str,
        backup_id: &str,
        volume_id: &str,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_owned(),
            job_type: job_type.as_str().to_owned(),
            status: JobStatus::Init.as_str().to_owned(),
            backup_id: backup_id.to_owned(),
            volume_id: volume_id.to_owned(),
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
        }
    }

    pub fn job_type(&self) -> Option<JobType> {
        JobType::parse(&self.job_type)
    }

    pub fn status(&self) -> Option<JobStatus> {
        JobStatus::parse(&self.status)
    }
}

pub fn insert_backup(conn: &mut PgConnection, row: &BackupRow) -> QueryResult<()> {
    diesel::insert_into(backups::table).values(row).execute(conn).map(drop)
}

pub fn insert_job(conn: &mut PgConnection, row: &JobRow) -> QueryResult<()> {
    diesel::insert_into(jobs::table).values(row).execute(conn).map(drop)
}

pub fn find_backup(conn: &mut PgConnection, project: &str, id: &str) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::id.eq(id))
        .filter(backups::project_id.eq(project))
        .select(BackupRow::as_select())
        .first(conn)
        .optional()
}

/// PostgreSQL-specific: the backup with its row locked until the transaction ends, so status
/// changes of one backup (delete, restore, a worker finishing) apply one after the other.
pub fn find_backup_for_update(
    conn: &mut PgConnection,
    project: &str,
    id: &str,
) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::id.eq(id))
        .filter(backups::project_id.eq(project))
        .select(BackupRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// Every backup of a project matching the filters, in no particular order (the caller sorts
/// and pages: a project's backups are few enough to page in memory, and every sort key and
/// marker then behaves the same).
pub fn list_backups(
    conn: &mut PgConnection,
    project: &str,
    name: Option<&str>,
    status: Option<&str>,
    volume_id: Option<&str>,
) -> QueryResult<Vec<BackupRow>> {
    let mut q = backups::table.filter(backups::project_id.eq(project)).into_boxed();
    if let Some(n) = name {
        q = q.filter(backups::name.eq(n));
    }
    if let Some(s) = status {
        q = q.filter(backups::status.eq(s));
    }
    if let Some(v) = volume_id {
        q = q.filter(backups::volume_id.eq(v));
    }
    q.select(BackupRow::as_select()).load(conn)
}

pub fn set_backup_status(
    conn: &mut PgConnection,
    id: &str,
    status: BackupStatus,
    fail_reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(backups::table.find(id))
        .set((
            backups::status.eq(status.as_str()),
            backups::fail_reason.eq(fail_reason),
            backups::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

pub fn delete_backup_row(conn: &mut PgConnection, id: &str) -> QueryResult<()> {
    diesel::delete(backups::table.find(id)).execute(conn).map(drop)
}

/// The job that occupies a volume (a backup or restore INIT or RUNNING), if any.
pub fn job_on_volume(conn: &mut PgConnection, project: &str, volume: &str) -> QueryResult<Option<JobRow>> {
    jobs::table
        .filter(jobs::project_id.eq(project))
        .filter(jobs::busy_volume.eq(volume))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// The newest available backup of a volume other than `except`: the parent of its next
/// incremental.
pub fn latest_available_backup(
    conn: &mut PgConnection,
    project: &str,
    volume: &str,
    except: &str,
) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::project_id.eq(project))
        .filter(backups::volume_id.eq(volume))
        .filter(backups::status.eq_any([BackupStatus::Available.as_str(), BackupStatus::Restoring.as_str()]))
        .filter(backups::id.ne(except))
        .order((backups::created_at.desc(), backups::id.desc()))
        .select(BackupRow::as_select())
        .first(conn)
        .optional()
}

/// The available automatic backups one policy made of one volume: what retention chooses from.
pub fn auto_backups(
    conn: &mut PgConnection,
    project: &str,
    policy: &str,
    volume: &str,
) -> QueryResult<Vec<BackupRow>> {
    backups::table
        .filter(backups::project_id.eq(project))
        .filter(backups::policy_id.eq(policy))
        .filter(backups::volume_id.eq(volume))
        .filter(backups::status.eq(BackupStatus::Available.as_str()))
        .select(BackupRow::as_select())
        .load(conn)
}

/// `(number of backups, total size in GiB)` of a project, for quotas.
pub fn usage(conn: &mut PgConnection, project: &str) -> QueryResult<(i64, i64)> {
    let sizes: Vec<i64> =
        backups::table.filter(backups::project_id.eq(project)).select(backups::size_gib).load(conn)?;
    Ok((sizes.len() as i64, sizes.iter().sum()))
}

pub fn find_job(conn: &mut PgConnection, project: &str, id: &str) -> QueryResult<Option<JobRow>> {
    jobs::table
        .filter(jobs::id.eq(id))
        .filter(jobs::project_id.eq(project))
        .select(JobRow::as_select())
        .first(conn)
        .optional()
}

/// PostgreSQL-specific: the job with its row locked.
pub fn find_job_for_update(conn: &mut PgConnection, id: &str) -> QueryResult<Option<JobRow>> {
    jobs::table.find(id).select(JobRow::as_select()).for_update().first(conn).optional()
}

pub fn job_for_task(conn: &mut PgConnection, task_id: &str) -> QueryResult<Option<JobRow>> {
    jobs::table.filter(jobs::task_id.eq(task_id)).select(JobRow::as_select()).first(conn).optional()
}

/// Records that a project has data in the object store (for the periodic GC).
pub fn note_project_storage(conn: &mut PgConnection, project: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(project_storage::table)
        .values((project_storage::project_id.eq(project), project_storage::created_at.eq(now)))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(drop)
}

/// Projects whose last GC is older than `before` (or that never had one).
pub fn projects_due_for_gc(conn: &mut PgConnection, before: NaiveDateTime) -> QueryResult<Vec<String>> {
    project_storage::table
        .filter(project_storage::last_gc_at.is_null().or(project_storage::last_gc_at.lt(before)))
        .order(project_storage::project_id)
        .select(project_storage::project_id)
        .load(conn)
}

pub fn mark_gc_done(conn: &mut PgConnection, project: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(project_storage::table.find(project))
        .set(project_storage::last_gc_at.eq(now))
        .execute(conn)
        .map(drop)
}
