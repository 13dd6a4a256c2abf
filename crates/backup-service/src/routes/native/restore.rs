use actix_web::{HttpResponse, web};
use api_types::{
    domain::{ProjectId, ResourceId},
    dto::{RestoreInfo, RestoreRequest, RestoreResponse},
};
use chrono::Utc;

use crate::{
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{NativeAccess, NativeJson, native::create::volume_error, path_backup_id, restore_target},
    startup::AppState,
    store::JobRow,
    submit,
    volumes::VolumeError,
};

/// Checks the target volume and records the restore job; returns the job and the target's
/// display name.
pub async fn record_restore(
    state: &AppState,
    project: ProjectId,
    backup_id: ResourceId,
    target: ResourceId,
) -> Result<(JobRow, String), BackupError> {
    let proj = project.clone();
    let volume = state
        .volumes(move |drv| {
            drv.volume(&proj, target).map_err(|e| match e {
                VolumeError::VolumeNotFound(v) => {
                    BackupError::RestoreTargetNotFound { volume: v.to_string() }
                }
                other => volume_error(other),
            })
        })
        .await?;
    let (size, name) = (volume.size, volume.name);
    let (_, job) = state
        .db
        .write(move |conn| submit::restore(conn, &project, backup_id, target, size, Utc::now().naive_utc()))
        .await?;
    tracing::info!(backup_id = %backup_id, volume_id = %target, job_id = %job.id, "restore requested");
    Ok((job, name))
}

/// Restore a backup into a volume.
///
/// The target must be a volume of this project at least as large as the backed-up volume;
/// its content is replaced. The backup is `restoring` until a worker has written it, then
/// `available` again. Also served under `/v3/{project_id}/backups` and
/// `/v3/{project_id}/native/backups`.
#[utoipa::path(
    post,
    path = "/v3/{project_id}/native/backups/{backup_id}/restore",
    operation_id = "restoreNativeBackup",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    request_body = RestoreRequest,
    responses(
        (status = 202, description = "Accepted: the restore runs", body = RestoreResponse),
        (status = 400, description = "Unknown, busy or too small target; backup not available", body = CinderFaultDoc),
        (status = 404, description = "No such backup in this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn handler(
    access: NativeAccess,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<RestoreRequest>,
) -> NativeResult<HttpResponse> {
    let backup_id = path_backup_id(&path.1)?;
    let target = restore_target(body.restore.volume_id.as_deref())?;
    let (_, volume_name) = record_restore(&state, access.project, backup_id, target).await?;
    Ok(HttpResponse::Accepted().json(RestoreResponse {
        restore: RestoreInfo { backup_id: backup_id.to_string(), volume_id: target.to_string(), volume_name },
    }))
}
