use actix_web::web;
use api_types::{
    dto::{JobIdResponse, RestoreRequest},
    error::ErrorEnvelope,
};

use crate::{
    error::VbsResult,
    routes::{
        VbsJson, VbsWrite,
        params::{restore_target, vbs_path_backup_id},
    },
    startup::AppState,
};

/// Restore a backup into a volume (VBS API); poll the job it answers.
///
/// The same rules as the native restore: a volume of this project at least as large as the
/// backed-up one, not busy with a backup or another restore.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/cloudbackups/{backup_id}/restore",
    operation_id = "restoreCloudBackup",
    tag = "VBS backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    request_body = RestoreRequest,
    responses(
        (status = 200, description = "The job restoring the backup", body = JobIdResponse),
        (status = 400, description = "Invalid backup id or target", body = ErrorEnvelope),
        (status = 404, description = "No such backup in this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn restore_cloud_backup(
    access: VbsWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: VbsJson<RestoreRequest>,
) -> VbsResult<web::Json<JobIdResponse>> {
    let backup_id = vbs_path_backup_id(&path.1)?;
    let target = restore_target(body.restore.volume_id.as_deref())?;
    let (job, _) = state.backups.request_restore(access.project, backup_id, target).await?;
    Ok(web::Json(JobIdResponse { job_id: job.id.to_string() }))
}
