use actix_web::{HttpResponse, web};

use crate::{
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{NativeWrite, params::path_backup_id},
    startup::AppState,
};

/// Delete a backup.
///
/// The backup turns `deleting` and disappears once a worker removed it from the object store;
/// every other backup stays restorable. Refused (`VolumeBackup.0089`) while the backup is
/// being created or restored; deleting a backup that is already being deleted is accepted
/// again. Also served under `/v3/{project_id}/backups` and `/v3/{project_id}/native/backups`.
#[utoipa::path(
    delete,
    path = "/v2/{project_id}/backups/{backup_id}",
    operation_id = "deleteNativeBackup",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    responses(
        (status = 202, description = "Accepted: the backup is `deleting`"),
        (status = 400, description = "The backup is being created or restored", body = CinderFaultDoc),
        (status = 404, description = "No such backup in this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn delete_backup(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> NativeResult<HttpResponse> {
    let id = path_backup_id(&path.1)?;
    state.backups.request_deletion(access.project, id).await?;
    Ok(HttpResponse::Accepted().finish())
}
