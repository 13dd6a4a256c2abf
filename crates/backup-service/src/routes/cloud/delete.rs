use actix_web::web;
use api_types::{dto::JobIdResponse, error::ErrorEnvelope};

use crate::{
    error::VbsResult,
    routes::{VbsWrite, params::vbs_path_backup_id},
    startup::AppState,
};

/// Delete a backup (VBS API, deprecated by the vendor in favour of the native delete); poll
/// the job it answers.
///
/// The same rules as the native delete: refused (`VolumeBackup.0089`) while the backup is
/// being created or restored; asking again while it is being deleted answers the running
/// deletion's job.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/cloudbackups/{backup_id}",
    operation_id = "deleteCloudBackup",
    tag = "VBS backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    responses(
        (status = 200, description = "The job deleting the backup", body = JobIdResponse),
        (status = 400, description = "Invalid backup id, or the backup is busy", body = ErrorEnvelope),
        (status = 404, description = "No such backup in this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn delete_cloud_backup(
    access: VbsWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> VbsResult<web::Json<JobIdResponse>> {
    let backup_id = vbs_path_backup_id(&path.1)?;
    let job = state.backups.request_deletion_job(access.project, backup_id).await?;
    Ok(web::Json(JobIdResponse { job_id: job.id.to_string() }))
}
