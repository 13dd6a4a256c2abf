use actix_web::{HttpRequest, web};
use api_types::dto::VolumeListResponse;

use crate::{
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{NativeRead, base_url, views::volume_view},
    startup::AppState,
};

async fn list(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
) -> NativeResult<VolumeListResponse> {
    let project = access.project.clone();
    let volumes = state.backups.volumes(access.project).await?;
    let base = base_url(&req, &state);
    let az = state.availability_zone.as_deref();
    Ok(VolumeListResponse { volumes: volumes.iter().map(|v| volume_view(v, &project, &base, az)).collect() })
}

/// List volumes.
///
/// Every volume of the project, in one page, with every field (the summary and the detail list
/// are the same).
#[utoipa::path(
    get,
    path = "/v3/{project_id}/volumes",
    operation_id = "listVolumes",
    tag = "Volumes",
    params(("project_id" = String, Path, description = "Project ID")),
    responses(
        (status = 200, description = "The project's volumes", body = VolumeListResponse),
        (status = 401, description = "Missing, malformed or expired token", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn list_volumes(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
) -> NativeResult<web::Json<VolumeListResponse>> {
    Ok(web::Json(list(req, access, state).await?))
}

/// List volumes with every field.
#[utoipa::path(
    get,
    path = "/v3/{project_id}/volumes/detail",
    operation_id = "listVolumesDetail",
    tag = "Volumes",
    params(("project_id" = String, Path, description = "Project ID")),
    responses(
        (status = 200, description = "The project's volumes", body = VolumeListResponse),
        (status = 401, description = "Missing, malformed or expired token", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn list_volumes_detail(
    req: HttpRequest,
    access: NativeRead,
    state: web::Data<AppState>,
) -> NativeResult<web::Json<VolumeListResponse>> {
    Ok(web::Json(list(req, access, state).await?))
}
