use actix_web::web;
use api_types::{
    dto::{CreateShareRequest, ShareListResponse},
    error::ErrorEnvelope,
};

use super::{id, project, share_view};
use crate::{
    error::VbsResult,
    routes::{VbsJson, VbsWrite},
    startup::AppState,
};

/// Share a backup with other projects.
///
/// The backup must be an available backup of this project (a backup shared with this
/// project cannot be shared on); `to_project_ids` names 1–10 other projects it is not yet
/// shared with. The recipients see the backup (show, list) and may restore it into their own
/// volumes; they cannot change, delete or share it.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/os-vendor-backup-sharing",
    operation_id = "createBackupShare",
    tag = "Backup sharing",
    params(("project_id" = String, Path, description = "Project ID")),
    request_body = CreateShareRequest,
    responses(
        (status = 200, description = "One share per project", body = ShareListResponse),
        (status = 400, description = "Invalid projects, backup not available, or shared already", body = ErrorEnvelope),
        (status = 403, description = "Not a member or admin of this project", body = ErrorEnvelope),
        (status = 404, description = "No such backup in this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn create_share(
    access: VbsWrite,
    state: web::Data<AppState>,
    body: VbsJson<CreateShareRequest>,
) -> VbsResult<web::Json<ShareListResponse>> {
    let input = body.into_inner().shared;
    let backup_id = id("shared.backup_id", input.backup_id.as_deref().unwrap_or_default())?;
    let to = input
        .to_project_ids
        .unwrap_or_default()
        .iter()
        .map(|p| project("shared.to_project_ids", p))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = state.backups.share(access.project, backup_id, to).await?;
    Ok(web::Json(ShareListResponse {
        shared: rows.iter().map(|r| share_view(r, None, None)).collect(),
        shared_links: None,
    }))
}
