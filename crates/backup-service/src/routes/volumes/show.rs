use actix_web::{HttpRequest, web};
use api_types::dto::VolumeResponse;

use crate::{
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{NativeRead, base_url, params::path_volume_id, views::volume_view},
    startup::AppState,
};

/// Show a volume.
///
/// A volume of the project as the volume driver sees it (`in-use` while attached). Read-only:
/// volumes come from the deployment's block storage.
#[utoipa::path(
    get,
    path = "/v3/{project_id}/volumes/{volume_id}",
    operation_id = "showVolume",
    tag = "Volumes",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("volume_id" = String, Path, description = "Volume ID"),
    ),
    responses(
        (status = 200, description = "The volume", body = VolumeResponse),
        (status = 404, description = "No such volume in this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn show_volume(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> NativeResult<web::Json<VolumeResponse>> {
    let id = path_volume_id(&path.1)?;
    let project = access.project.clone();
    let volume = state.backups.volume(access.project, id).await?;
    let base = base_url(&req, &state);
    Ok(web::Json(VolumeResponse {
        volume: volume_view(&volume, &project, &base, state.availability_zone.as_deref()),
    }))
}
