//! The backup record (admin): export what a deployment using the same object store needs to
//! serve the backup again, and import it — recovery from a lost metadata database.

use actix_web::{HttpRequest, HttpResponse, web};
use api_types::{
    domain::ValidationError,
    dto::{BackupCreatedResponse, BackupRecordBody, BackupRecordFields},
};

use crate::{
    app::{BackupRecord, RECORD_SERVICE},
    error::NativeResult,
    openapi::CinderFaultDoc,
    routes::{NativeAdmin, NativeJson, link_root, params::path_backup_id, views::backup_ref},
    startup::AppState,
};

/// Export the record of an available backup of any project (admin).
#[utoipa::path(
    get,
    path = "/v2/{project_id}/backups/{backup_id}/export_record",
    operation_id = "exportBackupRecord",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
    ),
    responses(
        (status = 200, description = "The record", body = BackupRecordBody),
        (status = 400, description = "The backup is not available", body = CinderFaultDoc),
        (status = 403, description = "Not an admin", body = CinderFaultDoc),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn export_record(
    _admin: NativeAdmin,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> NativeResult<web::Json<BackupRecordBody>> {
    let record = state.backups.export_record(path_backup_id(&path.1)?).await?;
    Ok(web::Json(BackupRecordBody {
        backup_record: BackupRecordFields {
            backup_service: RECORD_SERVICE.to_owned(),
            backup_url: record.encode(),
        },
    }))
}

/// Import a backup from its record (admin): its data must be in this deployment's object
/// store, and no backup of its id may exist (importing one that exists is refused). The
/// backup comes back `available` in the project it was exported from.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/backups/import_record",
    operation_id = "importBackupRecord",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID")),
    request_body = BackupRecordBody,
    responses(
        (status = 201, description = "The imported backup", body = BackupCreatedResponse),
        (status = 400, description = "Not a record of this service, no such data in the object store, or the backup exists", body = CinderFaultDoc),
        (status = 403, description = "Not an admin", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn import_record(
    req: HttpRequest,
    _admin: NativeAdmin,
    state: web::Data<AppState>,
    body: NativeJson<BackupRecordBody>,
) -> NativeResult<HttpResponse> {
    let fields = body.into_inner().backup_record;
    if fields.backup_service != RECORD_SERVICE {
        return Err(ValidationError::new(
            "backup-record.backup_service",
            format!("{:?} is not {RECORD_SERVICE}", fields.backup_service),
        )
        .into());
    }
    let (record, project, id) = BackupRecord::decode(&fields.backup_url).ok_or_else(|| {
        ValidationError::new("backup-record.backup_url", "is not a record this service exported")
    })?;
    let row = state.backups.import_record(record, project, id).await?;
    Ok(HttpResponse::Created()
        .json(BackupCreatedResponse { backup: backup_ref(&row, &link_root(&req, &state)) }))
}
