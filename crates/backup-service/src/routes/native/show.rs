use actix_web::{HttpRequest, web};
use api_types::dto::BackupDetailResponse;

use crate::{
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{NativeAccess, backup_detail, base_url, path_backup_id},
    startup::AppState,
    store,
};

/// Show a backup (spec/05).
///
/// `size` is the volume's size in GiB (rounded up), `object_count` the objects this backup
/// wrote, `is_incremental` whether it was taken against an earlier backup, and
/// `has_dependent_backups` is always false: every backup restores alone. While it runs,
/// `service_metadata.progress` gives the percentage done. Also served at
/// `/v3/{project_id}/backups/{backup_id}` and `/v2/{project_id}/backups/{backup_id}`.
#[utoipa::path(
    get,
    path = "/v3/{project_id}/native/backups/{backup_id}",
    operation_id = "showNativeBackup",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    responses(
        (status = 200, description = "The backup", body = BackupDetailResponse),
        (status = 404, description = "No such backup in this project", body = CinderFaultDoc),
        (status = 401, description = "Missing, malformed or expired token", body = CinderFaultDoc),
        (status = 403, description = "The token does not cover this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn handler(
    req: HttpRequest,
    access: NativeAccess,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> NativeResult<web::Json<BackupDetailResponse>> {
    let id = path_backup_id(&path.1)?.to_string();
    let project = access.project.as_str().to_owned();
    let row = state
        .db
        .read(move |conn| store::find_backup(conn, &project, &id)?.ok_or(BackupError::BackupNotFound(id)))
        .await?;
    Ok(web::Json(BackupDetailResponse {
        backup: backup_detail(&row, &base_url(&req, &state), state.availability_zone.as_deref()),
    }))
}
