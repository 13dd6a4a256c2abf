use actix_web::web;
use api_types::{
    dto::{QuotaResource, QuotaResponse, QuotaSet},
    error::ErrorEnvelope,
};

use crate::{error::VbsResult, routes::VbsRead, startup::AppState};

/// The project's backup quotas: `backups` (count) and `backup_gigabytes` (total `size`),
/// with what is used; -1 is unlimited. Creating a backup beyond them fails with
/// `VolumeBackup.0080` / `VolumeBackup.0081`.
#[utoipa::path(
    get,
    path = "/v2/{project_id}/cloudbackups/quota",
    operation_id = "showCloudBackupQuota",
    tag = "VBS backups",
    params(("project_id" = String, Path, description = "Project ID")),
    responses(
        (status = 200, description = "Quotas and usage", body = QuotaResponse),
        (status = 401, description = "Missing, malformed or expired token", body = ErrorEnvelope),
        (status = 403, description = "The token does not cover this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn show_quota(access: VbsRead, state: web::Data<AppState>) -> VbsResult<web::Json<QuotaResponse>> {
    let (count, gib) = state.backups.usage(access.project).await?;
    let quotas = state.backups.quotas();
    let resource =
        |t: &str, used: i64, quota: i64| QuotaResource { resource_type: t.into(), used, reserved: 0, quota };
    Ok(web::Json(QuotaResponse {
        quotas: QuotaSet {
            resources: vec![
                resource("backups", count, quotas.backups),
                resource("backup_gigabytes", gib, quotas.gigabytes),
            ],
        },
    }))
}
