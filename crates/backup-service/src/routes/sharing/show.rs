use actix_web::web;
use api_types::{dto::ShareResponse, error::ErrorEnvelope};

use super::{id, share_view};
use crate::{error::VbsResult, routes::VbsRead, startup::AppState};

/// Show a share this project made or received, with its backup.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/os-vendor-backup-sharing/{share_id}",
    operation_id = "showBackupShare",
    tag = "Backup sharing",
    params(("project_id" = String, Path, description = "Project ID"), ("share_id" = String, Path, description = "Share ID")),
    responses(
        (status = 200, description = "The share", body = ShareResponse),
        (status = 404, description = "No such share of or to this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn show_share(
    access: VbsRead,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> VbsResult<web::Json<ShareResponse>> {
    let (share, backup) = state.backups.share_of(access.project, id("share_id", &path.1)?).await?;
    Ok(web::Json(ShareResponse {
        shared: share_view(&share, Some(&backup), state.availability_zone.as_deref()),
    }))
}
