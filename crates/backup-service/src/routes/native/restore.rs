use actix_web::{HttpResponse, web};
use api_types::dto::{RestoreInfo, RestoreRequest, RestoreResponse};

use api_types::domain::ValidationError;

use crate::{
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{
        NativeJson, NativeWrite,
        params::{path_backup_id, restore_target},
    },
    startup::AppState,
};

/// Restore a backup into a volume.
///
/// The target (`volume_id`) must be a volume of this project at least as large as the
/// backed-up volume; its content is replaced. Without `volume_id` a new volume of the backup's
/// size is created, named `name` or `restore_backup_<backup_id>`, as Cinder does. The backup is `restoring` until a worker has written it, then
/// `available` again. Also served under `/v3/{project_id}/backups` and
/// `/v3/{project_id}/native/backups`.
#[utoipa::path(
    post,
    path = "/v3/{project_id}/native/backups/{backup_id}/restore",
    operation_id = "restoreNativeBackup",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    request_body = RestoreRequest,
    responses(
        (status = 202, description = "Accepted: the restore runs", body = RestoreResponse),
        (status = 400, description = "Unknown, busy or too small target; backup not available", body = CinderFaultDoc),
        (status = 404, description = "No such backup in this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn restore_backup(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<RestoreRequest>,
) -> NativeResult<HttpResponse> {
    let backup_id = path_backup_id(&path.1)?;
    let restore = body.into_inner().restore;
    let (volume_id, volume_name) = match restore.volume_id.as_deref().map(str::trim) {
        // What cinderclient and openstacksdk send by default: Cinder creates the volume.
        None | Some("") => {
            let name = restore.name.as_deref().map(new_volume_name).transpose()?;
            let (_, id, name) =
                state.backups.request_restore_to_new_volume(access.project, backup_id, name).await?;
            (id, name)
        }
        Some(raw) => {
            let target = restore_target(Some(raw))?;
            (target, state.backups.request_restore(access.project, backup_id, target).await?.1)
        }
    };
    Ok(HttpResponse::Accepted().json(RestoreResponse {
        restore: RestoreInfo {
            backup_id: backup_id.to_string(),
            volume_id: volume_id.to_string(),
            volume_name,
        },
    }))
}

/// A new volume's name: 1–255 characters, no control characters.
fn new_volume_name(raw: &str) -> Result<String, BackupError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "restore.name",
            "must be 1 to 255 characters without control characters",
        )
        .into());
    }
    Ok(name.to_owned())
}
