//! The tasks: created by the scheduler, moved by worker reports and the sweeper, read by the
//! task query.

use std::collections::{HashMap, HashSet};

use api_types::{
    domain::{ProjectId, ResourceId},
    dto::{SortDir, TaskState},
};
use chrono::NaiveDateTime;
use diesel::{
    dsl::{AsSelect, sql},
    expression::{SqlLiteral, TypedExpressionType},
    pg::Pg,
    prelude::*,
    sql_types::{BigInt, Bool, Nullable, SqlType, Timestamp},
};
use service_kit::db::{DbId, DbProjectId};

use super::schema::{policies, tasks};
use crate::domain::{query::TaskQuery, task::TaskPatch};

/// What started a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A slot of the policy's schedule.
    Schedule,
    /// "Execute now".
    Manual,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

/// A stored task; fields in table order, so the row loads from `tasks::table` as it is.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: DbId,
    pub seq: i64,
    pub project_id: DbProjectId,
    pub policy_id: DbId,
    pub volume_id: DbId,
    pub trigger: String,
    pub scheduled_at: NaiveDateTime,
    pub status: String,
    pub backup_name: String,
    pub backup_id: Option<DbId>,
    pub vbs_job_id: Option<DbId>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub deadline: NaiveDateTime,
}

impl TaskRow {
    pub fn state(&self) -> anyhow::Result<TaskState> {
        TaskState::parse(&self.status)
            .ok_or_else(|| anyhow::anyhow!("task {} has unknown status {:?}", self.id, self.status))
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tasks)]
pub struct NewTask {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub policy_id: DbId,
    pub volume_id: DbId,
    pub trigger: &'static str,
    pub scheduled_at: NaiveDateTime,
    pub status: &'static str,
    pub backup_name: String,
    pub message: Option<String>,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub deadline: NaiveDateTime,
}

/// `WAITING` or `RUNNING`, written as a literal so that the planner matches it against the
/// partial indexes' predicate (a bound parameter would not prove the implication).
fn is_open() -> SqlLiteral<Bool> {
    sql::<Bool>("status IN ('WAITING', 'RUNNING')")
}

/// Inserts the task unless its policy, volume, trigger and slot already have one; `false` when
/// it already existed (another scheduler fired the slot first).
pub fn insert(conn: &mut PgConnection, task: &NewTask) -> QueryResult<bool> {
    let n = diesel::insert_into(tasks::table)
        .values(task)
        .on_conflict((tasks::policy_id, tasks::volume_id, tasks::trigger, tasks::scheduled_at))
        .do_nothing()
        .execute(conn)?;
    Ok(n == 1)
}

/// Inserts the tasks whose policy, volume, trigger and slot have none yet, in order, with as
/// few statements as the bind-parameter limit allows; returns the ids of those inserted (the
/// others were fired already, by another scheduler).
pub fn insert_all(conn: &mut PgConnection, new: &[NewTask]) -> QueryResult<HashSet<ResourceId>> {
    // Twelve parameters a row; PostgreSQL takes at most 65,535 in one statement.
    const ROWS_PER_STATEMENT: usize = 1000;
    let mut inserted = HashSet::with_capacity(new.len());
    for chunk in new.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<DbId> = diesel::insert_into(tasks::table)
            .values(chunk)
            .on_conflict((tasks::policy_id, tasks::volume_id, tasks::trigger, tasks::scheduled_at))
            .do_nothing()
            .returning(tasks::id)
            .get_results(conn)?;
        inserted.extend(ids.into_iter().map(ResourceId::from));
    }
    Ok(inserted)
}

/// For each of the volumes that has a task still `WAITING` or `RUNNING` (of any policy), its
/// oldest such task and that task's status.
pub fn open_tasks_of_volumes(
    conn: &mut PgConnection,
    project_id: &ProjectId,
    volume_ids: &[ResourceId],
) -> QueryResult<HashMap<ResourceId, (ResourceId, String)>> {
    let volumes: Vec<DbId> = volume_ids.iter().copied().map(DbId).collect();
    let open: Vec<(DbId, DbId, String)> = tasks::table
        .filter(tasks::project_id.eq(DbProjectId::from(project_id)))
        .filter(tasks::volume_id.eq_any(&volumes))
        .filter(is_open())
        .order((tasks::volume_id.asc(), tasks::seq.asc()))
        .distinct_on(tasks::volume_id)
        .select((tasks::volume_id, tasks::id, tasks::status))
        .load(conn)?;
    Ok(open.into_iter().map(|(volume, task, status)| (volume.into(), (task.into(), status))).collect())
}

/// PostgreSQL-specific: the task with its row locked until the transaction ends.
pub fn lock(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Option<TaskRow>> {
    tasks::table.find(DbId(id)).select(TaskRow::as_select()).for_update().first(conn).optional()
}

pub fn find(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Option<TaskRow>> {
    tasks::table.find(DbId(id)).select(TaskRow::as_select()).first(conn).optional()
}

#[derive(AsChangeset)]
#[diesel(table_name = tasks)]
struct Changes<'a> {
    status: Option<&'static str>,
    finished_at: Option<NaiveDateTime>,
    backup_id: Option<DbId>,
    backup_name: Option<&'a str>,
    vbs_job_id: Option<DbId>,
    code: Option<&'a str>,
    message: Option<&'a str>,
}

/// Writes a report's patch; `None` fields stay as they are.
pub fn apply(
    conn: &mut PgConnection,
    id: ResourceId,
    patch: &TaskPatch,
    vbs_job_id: Option<ResourceId>,
) -> QueryResult<()> {
    let changes = Changes {
        status: patch.status.map(TaskState::as_str),
        finished_at: patch.finished_at.map(|t| t.naive_utc()),
        backup_id: patch.backup_id.map(DbId),
        backup_name: patch.backup_name.as_deref(),
        vbs_job_id: vbs_job_id.map(DbId),
        code: patch.code.as_deref(),
        message: patch.message.as_deref(),
    };
    diesel::update(tasks::table.find(DbId(id))).set(&changes).execute(conn).map(drop)
}

/// Marks up to `batch` open tasks whose deadline passed before `now` as `EXECUTE_TIMEOUT`.
/// PostgreSQL-specific: the tasks are claimed with `FOR UPDATE SKIP LOCKED`, so two sweepers
/// never wait on (or deadlock over) each other's rows, and a task a worker's report holds right
/// now is left to that report (or the next sweep).
pub fn time_out(
    conn: &mut PgConnection,
    now: NaiveDateTime,
    message: &str,
    batch: i64,
) -> QueryResult<usize> {
    let ids: Vec<DbId> = tasks::table
        .filter(is_open())
        .filter(tasks::deadline.lt(now))
        .order(tasks::deadline.asc())
        .limit(batch)
        .for_update()
        .skip_locked()
        .select(tasks::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(tasks::table.filter(tasks::id.eq_any(&ids)))
        .set((
            tasks::status.eq(TaskState::ExecuteTimeout.as_str()),
            tasks::finished_at.eq(now),
            tasks::message.eq(message),
        ))
        .execute(conn)
}

/// Whether `task_id` is one of the policy's tasks (a marker the task query accepts).
pub fn is_task_of(conn: &mut PgConnection, policy_id: ResourceId, task_id: ResourceId) -> QueryResult<bool> {
    let seq: Option<i64> =
        diesel::select(of_marker::<Nullable<BigInt>>("seq", &policy_id.to_string(), task_id))
            .get_result(conn)?;
    Ok(seq.is_some())
}

/// The policy's tasks matching the query's filters (`status`, `job_id`).
fn matching(policy_id: ResourceId, q: &TaskQuery) -> tasks::BoxedQuery<'static, Pg> {
    let mut query = tasks::table.filter(tasks::policy_id.eq(DbId(policy_id))).into_boxed();
    if let Some(status) = q.status {
        query = query.filter(tasks::status.eq(status.as_str()));
    }
    if let Some(job) = q.job_id {
        query = query.filter(tasks::id.eq(DbId(job)));
    }
    query
}

/// The number of the policy's tasks matching the filters (`count` in the response), when
/// [`page`] read no row to carry it.
pub fn count(conn: &mut PgConnection, policy_id: ResourceId, q: &TaskQuery) -> QueryResult<i64> {
    diesel::select(total(policy_id.to_string(), q)).get_result(conn)
}

/// A page of tasks, each row with the total.
pub type PageQuery =
    diesel::dsl::Select<tasks::BoxedQuery<'static, Pg>, (AsSelect<TaskRow, Pg>, SqlLiteral<BigInt>)>;

/// One page with the total it is a page of, in one statement: tasks in `created_at` order
/// (ties in creation order), after the marker task when there is one, then `offset`, at most
/// `limit`, each row with the `count` of the response. It reads nothing unless the policy is
/// the project's and not deleted, and nothing after a marker that is not one of the policy's
/// tasks, so an empty result is either an empty page or one of those errors, which
/// [`is_task_of`] and [`crate::store::policies::find_visible`] then tell apart. Served by the
/// index on `(policy_id, created_at, seq)` (or `(policy_id, status, created_at, seq)`), read
/// forwards or backwards, with the marker's position and the count as subqueries run once, so
/// it costs the page and the offset, not the policy's history.
pub fn page_query(project: &ProjectId, policy_id: ResourceId, q: &TaskQuery) -> PageQuery {
    let policy = policy_id.to_string();
    let visible = diesel::dsl::exists(
        policies::table
            .find(DbId(policy_id))
            .filter(policies::project_id.eq(DbProjectId::from(project)))
            .filter(policies::deleted.eq(false)),
    );
    let mut query = matching(policy_id, q).filter(visible);
    if let Some(marker) = q.marker {
        // The marker's (created_at, seq); NULL, so no row, for a task not of this policy.
        let at = || of_marker::<Nullable<Timestamp>>("created_at", &policy, marker);
        let seq = || of_marker::<Nullable<BigInt>>("seq", &policy, marker);
        query = match q.dir {
            SortDir::Desc => query
                .filter(tasks::created_at.nullable().le(at()))
                .filter(tasks::created_at.nullable().lt(at()).or(tasks::seq.nullable().lt(seq()))),
            SortDir::Asc => query
                .filter(tasks::created_at.nullable().ge(at()))
                .filter(tasks::created_at.nullable().gt(at()).or(tasks::seq.nullable().gt(seq()))),
        };
    }
    query = match q.dir {
        SortDir::Desc => query.order((tasks::created_at.desc(), tasks::seq.desc())),
        SortDir::Asc => query.order((tasks::created_at.asc(), tasks::seq.asc())),
    };
    query.offset(q.offset).limit(q.limit).select((TaskRow::as_select(), total(policy, q)))
}

/// A column of the marker task (NULL for a task not of the policy), as a subquery of
/// [`page_query`] or on its own ([`is_task_of`]). Ids and status names are
/// written into these subqueries as literals: both are parsed values (a UUID, one of a fixed
/// set of names), never the request's text.
fn of_marker<ST: SqlType + TypedExpressionType>(
    column: &str,
    policy: &str,
    marker: ResourceId,
) -> SqlLiteral<ST> {
    sql(&format!("(SELECT m.{column} FROM tasks m WHERE m.id = '{marker}' AND m.policy_id = '{policy}')"))
}

/// The `count` of the response, as a subquery of [`page_query`] or on its own ([`count`]).
/// Without a `job_id` it is read from `task_counts`, which triggers keep per policy and status
/// in the transaction that changes the tasks (counting a long history row by row cost
/// milliseconds per request); with one, at most one task matches. SUM of a bigint is a numeric
/// in PostgreSQL, hence the cast; no policy has 2^63 tasks.
fn total(policy: String, q: &TaskQuery) -> SqlLiteral<BigInt> {
    let status = q.status.map_or_else(String::new, |s| format!(" AND status = '{}'", s.as_str()));
    match q.job_id {
        None => sql(&format!(
            "(SELECT coalesce(sum(n), 0)::bigint FROM task_counts WHERE policy_id = '{policy}'{status})"
        )),
        Some(job) => sql(&format!(
            "(SELECT count(*) FROM tasks c WHERE c.policy_id = '{policy}' AND c.id = '{job}'{status})"
        )),
    }
}

/// One page and its total (see [`page_query`]); empty when the page is, or the policy or the
/// marker is not there.
pub fn page(
    conn: &mut PgConnection,
    project: &ProjectId,
    policy_id: ResourceId,
    q: &TaskQuery,
) -> QueryResult<(Vec<TaskRow>, i64)> {
    let rows: Vec<(TaskRow, i64)> = page_query(project, policy_id, q).load(conn)?;
    let total = rows.first().map_or(0, |(_, n)| *n);
    Ok((rows.into_iter().map(|(row, _)| row).collect(), total))
}
