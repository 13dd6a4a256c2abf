use actix_web::{HttpRequest, web};
use api_types::dto::BackupDetailResponse;

use crate::{
    app::Reach,
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{
        NativeRead, link_root, microversion::Microversion, params::path_backup_id, views::backup_detail,
    },
    startup::AppState,
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
pub async fn show_backup(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    version: Microversion,
) -> NativeResult<web::Json<BackupDetailResponse>> {
    let id = path_backup_id(&path.1)?;
    let reach = Reach::reading(access.project, access.identity.is_admin());
    let row = state.backups.backup_in(reach, id).await?;
    Ok(web::Json(BackupDetailResponse {
        backup: backup_detail(&row, &link_root(&req, &state), state.availability_zone.as_deref(), version),
    }))
}
