use actix_web::web;
use api_types::{
    domain::{ResourceId, ValidationError},
    dto::{SortDir, SortKey, TaskListResponse, TaskQueryParams, TaskState, TaskView, format_task_time},
    error::ErrorEnvelope,
};
use utoipa::IntoParams;

use crate::{
    domain::query::TaskQuery,
    error::TaskError,
    routes::ReadAccess,
    startup::AppState,
    store::{
        policies,
        tasks::{self, TaskRow},
    },
};
use api_types::openapi::AuthErrors;

/// `/{project_id}/backuppolicy/{policy_id}/backuptasks`
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TasksPath {
    /// Project ID
    pub project_id: String,
    /// Backup policy ID
    pub policy_id: String,
}

/// Query the backup tasks ("backup jobs") a policy triggered, newest first by default.
///
/// `count` is the number of tasks matching `status` and `job_id`, whatever the page. Paging:
/// `marker` (a job id of this policy) starts the page right after that task in the chosen order,
/// then `offset` skips further tasks, then at most `limit` are returned; clients page until a
/// page is shorter than `limit`. Tasks created in the same instant keep their creation order.
/// A policy that does not exist, was deleted, or belongs to another project is a 404
/// (`AutoBackup.0205`); every bad parameter is a 400 naming it.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/backuppolicy/{policy_id}/backuptasks",
    operation_id = "listBackupTasks",
    tag = "Backup tasks",
    params(
        TasksPath,
        ("sort_dir" = Option<SortDir>, Query, description = "Sorting order, `asc` or `desc` (default `desc`)"),
        ("limit" = Option<i64>, Query, minimum = 1, description = "Page size: default 20, at most `VBS_SCHEDULER_MAX_PAGE_SIZE` (default 1000); a larger value is a 400, not a shorter page"),
        ("marker" = Option<String>, Query, description = "A job ID of this policy: the page starts after it (unknown job ID: 400)"),
        ("job_id" = Option<String>, Query, description = "Only this job (a UUID)"),
        ("status" = Option<TaskState>, Query, description = "Only jobs with this status"),
        ("sort_key" = Option<SortKey>, Query, description = "Must be `created_at`"),
        ("offset" = Option<i64>, Query, minimum = 0, description = "Jobs to skip (after the marker, if any); default 0"),
    ),
    responses(
        (status = 200, description = "One page of the policy's tasks and the total count", body = TaskListResponse),
        (status = 400, description = "A query parameter is invalid", body = ErrorEnvelope),
        AuthErrors,
        (status = 404, description = "No such policy (AutoBackup.0205)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn list_tasks(
    access: ReadAccess,
    path: web::Path<TasksPath>,
    params: web::Query<TaskQueryParams>,
    state: web::Data<AppState>,
) -> Result<web::Json<TaskListResponse>, TaskError> {
    // Policy ids are UUIDs; anything else names no policy.
    let policy_id = ResourceId::parse("policy_id", &path.policy_id)
        .map_err(|_| TaskError::PolicyNotFound(path.policy_id.clone()))?;
    // Checked once the policy is known to exist: a query on no policy is a 404 whatever it asks.
    let query = TaskQuery::parse(&params, state.max_page_size);
    let project = access.project;
    let response = state
        .db
        .read(move |conn| {
            // The usual request, one statement: a page of a visible policy.
            if let Ok(q) = &query {
                let (rows, count) = tasks::page(conn, &project, policy_id, q)?;
                if !rows.is_empty() {
                    let tasks = rows.into_iter().map(view).collect::<anyhow::Result<Vec<_>>>()?;
                    return Ok(TaskListResponse { tasks, count });
                }
            }
            // Nothing read: an empty page, or an error to tell apart, in one snapshot.
            conn.build_transaction().read_only().repeatable_read().run(|conn| {
                if policies::find_visible(conn, &project, policy_id)?.is_none() {
                    return Err(TaskError::PolicyNotFound(policy_id.to_string()));
                }
                let query = query?;
                if let Some(marker) = query.marker
                    && !tasks::is_task_of(conn, policy_id, marker)?
                {
                    return Err(ValidationError::new(
                        "marker",
                        format!("{marker} is not a job of backup policy {policy_id}"),
                    )
                    .into());
                }
                let (rows, count) = tasks::page(conn, &project, policy_id, &query)?;
                let count = if rows.is_empty() { tasks::count(conn, policy_id, &query)? } else { count };
                let tasks = rows.into_iter().map(view).collect::<anyhow::Result<Vec<_>>>()?;
                Ok(TaskListResponse { tasks, count })
            })
        })
        .await?;
    Ok(web::Json(response))
}

fn view(row: TaskRow) -> anyhow::Result<TaskView> {
    Ok(TaskView {
        status: row.state()?,
        job_id: row.id.to_string(),
        created_at: format_task_time(row.created_at),
        finished_at: row.finished_at.map(format_task_time),
        backup_name: row.backup_name,
        resource_id: row.volume_id.to_string(),
        resource_type: "volume".to_owned(),
        vbs_job_id: row.vbs_job_id.map(|job| job.to_string()),
        message: row.message,
        code: row.code,
    })
}
