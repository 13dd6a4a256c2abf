use actix_web::{HttpResponse, web};
use api_types::{dto::ShareDeleteQuery, error::ErrorEnvelope};

use super::{flag, id};
use crate::{
    error::VbsResult,
    routes::{VbsWrite, params::vbs_path_backup_id},
    startup::AppState,
};

/// End a share this project made, or with `is_backup_id=true` every share of one of its
/// backups (the path's id is then the backup's).
#[utoipa::path(
    delete,
    path = "/v2/{project_id}/os-vendor-backup-sharing/{share_id}",
    operation_id = "deleteBackupShare",
    tag = "Backup sharing",
    params(("project_id" = String, Path, description = "Project ID"), ("share_id" = String, Path, description = "Share ID, or backup ID with is_backup_id=true"), ShareDeleteQuery),
    responses(
        (status = 200, description = "Ended"),
        (status = 404, description = "No such share (or backup) of this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn delete_share(
    access: VbsWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    query: web::Query<ShareDeleteQuery>,
) -> VbsResult<HttpResponse> {
    if flag(query.is_backup_id.as_deref()) {
        state.backups.end_shares_of(access.project, vbs_path_backup_id(&path.1)?).await?;
    } else {
        state.backups.end_share(access.project, id("share_id", &path.1)?).await?;
    }
    Ok(HttpResponse::Ok().finish())
}
