use actix_web::{HttpRequest, web};
use api_types::{
    domain::{BackupDescription, BackupMetadata, BackupName, ValidationError},
    dto::{BackupCreatedResponse, UpdateBackupRequest},
};

use crate::{
    app::Reach,
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{
        NativeJson, NativeWrite, link_root, microversion::Microversion, params::path_backup_id,
        views::backup_ref,
    },
    startup::AppState,
    store::backups::BackupChanges,
};

fn parse(body: UpdateBackupRequest, version: Microversion) -> Result<BackupChanges, BackupError> {
    let b = body.backup;
    let metadata = match &b.metadata {
        None => None,
        Some(_) if !version.at_least(43) => {
            return Err(ValidationError::new("backup.metadata", "needs microversion 3.43 or later").into());
        }
        Some(m) => {
            let items = BackupMetadata::parse("backup.metadata", m)?.into_inner();
            Some(serde_json::to_string(&items).map_err(anyhow::Error::from)?)
        }
    };
    if b.name.is_none() && b.description.is_none() && metadata.is_none() {
        return Err(
            ValidationError::new("backup", "names nothing to change (name, description, metadata)").into()
        );
    }
    Ok(BackupChanges {
        name: b
            .name
            .as_deref()
            .map(|n| BackupName::parse(n).map(|n| Some(n.as_str().to_owned())))
            .transpose()?,
        description: b
            .description
            .as_deref()
            .map(|d| {
                BackupDescription::parse(d, BackupDescription::NATIVE_MAX_LEN)
                    .map(|d| Some(d.as_str().to_owned()))
            })
            .transpose()?,
        metadata,
    })
}

/// Update a backup's name, description or metadata (Cinder 3.9; metadata from 3.43).
///
/// Under `/v3` the call needs microversion 3.9 (`OpenStack-API-Version: volume 3.9`); below it
/// answers 404, as Cinder. Answers the backup's summary. Also served at
/// `/v3/{project_id}/backups/{backup_id}` and `/v3/{project_id}/native/backups/{backup_id}`.
#[utoipa::path(
    put,
    path = "/v2/{project_id}/backups/{backup_id}",
    operation_id = "updateNativeBackup",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    request_body = UpdateBackupRequest,
    responses(
        (status = 200, description = "The backup as it now is", body = BackupCreatedResponse),
        (status = 400, description = "Invalid name, description or metadata", body = CinderFaultDoc),
        (status = 404, description = "No such backup in this project (or microversion below 3.9)", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn update_backup(
    req: HttpRequest,
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    version: Microversion,
    body: NativeJson<UpdateBackupRequest>,
) -> NativeResult<web::Json<BackupCreatedResponse>> {
    version.require(9)?;
    let id = path_backup_id(&path.1)?;
    let changes = parse(body.into_inner(), version)?;
    let reach = Reach::new(access.project, access.identity.is_admin());
    let row = state.backups.update(reach, id, changes).await?;
    Ok(web::Json(BackupCreatedResponse { backup: backup_ref(&row, &link_root(&req, &state)) }))
}
