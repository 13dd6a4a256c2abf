use actix_web::{HttpResponse, web};
use api_types::dto::{RestoreInfo, RestoreRequest, RestoreResponse};

use crate::{
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{
        NativeJson, NativeWrite,
        params::{path_backup_id, restore_target},
    },
    startup::AppState,
};

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
pub async fn restore_backup(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<RestoreRequest>,
) -> NativeResult<HttpResponse> {
    let backup_id = path_backup_id(&path.1)?;
    let target = restore_target(body.restore.volume_id.as_deref())?;
    let (_, volume_name) = state.backups.request_restore(access.project, backup_id, target).await?;
    Ok(HttpResponse::Accepted().json(RestoreResponse {
        restore: RestoreInfo { backup_id: backup_id.to_string(), volume_id: target.to_string(), volume_name },
    }))
}
