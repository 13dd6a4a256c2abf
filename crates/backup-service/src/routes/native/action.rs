use actix_web::{HttpResponse, web};
use api_types::{
    domain::ValidationError,
    dto::{BackupActionRequest, ResetStatus},
};

use crate::{
    domain::BackupStatus,
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{NativeAdmin, NativeJson, params::path_backup_id},
    startup::AppState,
};

/// An admin action on a backup of any project: `os-reset_status` or `os-force_delete`.
///
/// `{"os-reset_status": {"status": "available" | "error"}}` sets the status (running work is
/// not touched). `{"os-force_delete": {}}` deletes the backup whatever it is doing: a running
/// backup or restore is cancelled — its worker stops at its next heartbeat and garbage
/// collection reclaims what it wrote — and the backup turns `deleting`. Members and readers
/// are refused (403). Also served under `/v3/{project_id}/backups` and
/// `/v3/{project_id}/native/backups`.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/backups/{backup_id}/action",
    operation_id = "backupAction",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    request_body = BackupActionRequest,
    responses(
        (status = 202, description = "Done (reset) or accepted (force delete)"),
        (status = 400, description = "Not exactly one known action, or a status other than available or error", body = CinderFaultDoc),
        (status = 403, description = "Not an admin", body = CinderFaultDoc),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn backup_action(
    _admin: NativeAdmin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<serde_json::Map<String, serde_json::Value>>,
) -> NativeResult<HttpResponse> {
    let id = path_backup_id(&path.1)?;
    // By key, not by value: openstacksdk sends `{"os-force_delete": null}`.
    let body = body.into_inner();
    let one = || ValidationError::new("action", "must be exactly one of os-reset_status, os-force_delete");
    let (name, value) = match body.iter().next() {
        Some(entry) if body.len() == 1 => entry,
        _ => return Err(one().into()),
    };
    match name.as_str() {
        "os-reset_status" => {
            let reset: ResetStatus = serde_json::from_value(value.clone())
                .map_err(|e| ValidationError::new("os-reset_status", e.to_string()))?;
            let status = match reset.status.as_deref().map(BackupStatus::parse) {
                Some(Some(s @ (BackupStatus::Available | BackupStatus::Error))) => s,
                _ => {
                    return Err(
                        ValidationError::new("os-reset_status.status", "must be available or error").into()
                    );
                }
            };
            state.backups.reset_status(id, status).await?;
        }
        "os-force_delete" => {
            state.backups.force_delete(id).await?;
        }
        _ => return Err(one().into()),
    }
    Ok(HttpResponse::Accepted().finish())
}
