use actix_web::web;
use api_types::{dto::JobView, error::ErrorEnvelope};

use crate::{
    error::VbsResult,
    routes::{VbsRead, params::path_job_id, views::job_view},
    startup::AppState,
};

/// Show a job: creating, restoring or deleting a backup.
///
/// `status` is `INIT` (queued), `RUNNING`, `SUCCESS` or `FAIL` (with `error_code` and
/// `fail_reason`). `entities` are strings: `backup_id`, `volume_id` (the volume backed up or
/// restored into), `snapshot_id`, `bks_create_volume_name` (the backup name) and the progress
/// (`progress` in percent, `bytes_done` of `bytes_total`). Served at `/v1/…` as the vendor
/// documents and at `/v2/{project_id}/jobs/{job_id}`, where otcextensions looks.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/jobs/{job_id}",
    operation_id = "showJob",
    tag = "Jobs",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("job_id" = String, Path, description = "Job ID"),
    ),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job in this project (`common.0011`)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn show_job(
    access: VbsRead,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> VbsResult<web::Json<JobView>> {
    let id = path_job_id(&path.1)?;
    let job = state.backups.job(access.project, id).await?;
    Ok(web::Json(job_view(job)))
}
