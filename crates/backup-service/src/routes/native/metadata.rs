//! `…/backups/{backup_id}/metadata[/{key}]`: what openstacksdk's metadata mixin calls. Backup
//! metadata is Cinder's 3.43, but the mixin sends no microversion, so these calls are served at
//! every one (the backup's own body shows `metadata` from 3.43). Reading needs any role,
//! changing member or admin.

use actix_web::{HttpResponse, web};
use api_types::{
    domain::{BackupMetadata, ValidationError},
    dto::{MetaItemRequest, MetaItemResponse, MetadataRequest, MetadataResponse},
};

use crate::{
    app::Reach,
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{NativeJson, NativeRead, NativeWrite, params::path_backup_id},
    startup::AppState,
};

type ItemPath = web::Path<(String, String, String)>;

/// Changes reach the caller's own backups (an admin's: any).
fn reach<N>(access: &service_kit::auth::ProjectAccess<service_kit::http::Cinder, N>) -> Reach {
    Reach::new(access.project.clone(), access.identity.is_admin())
}

/// Reading reaches backups shared with the caller too.
fn reading<N>(access: &service_kit::auth::ProjectAccess<service_kit::http::Cinder, N>) -> Reach {
    Reach::reading(access.project.clone(), access.identity.is_admin())
}

fn no_key(key: &str) -> BackupError {
    BackupError::MetadataKeyNotFound(key.to_owned())
}

/// Show a backup's metadata.
#[utoipa::path(
    get,
    path = "/v3/{project_id}/backups/{backup_id}/metadata",
    operation_id = "showBackupMetadata",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID"), ("backup_id" = String, Path, description = "Backup ID")),
    responses(
        (status = 200, description = "The metadata", body = MetadataResponse),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn show_metadata(
    access: NativeRead,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> NativeResult<web::Json<MetadataResponse>> {
    let row = state.backups.backup_in(reading(&access), path_backup_id(&path.1)?).await?;
    Ok(web::Json(MetadataResponse { metadata: row.metadata() }))
}

/// Add or change metadata keys (the others stay).
#[utoipa::path(
    post,
    path = "/v3/{project_id}/backups/{backup_id}/metadata",
    operation_id = "addBackupMetadata",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID"), ("backup_id" = String, Path, description = "Backup ID")),
    request_body = MetadataRequest,
    responses(
        (status = 200, description = "The whole metadata now", body = MetadataResponse),
        (status = 400, description = "Invalid keys or values", body = CinderFaultDoc),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn add_metadata(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<MetadataRequest>,
) -> NativeResult<web::Json<MetadataResponse>> {
    let items = BackupMetadata::parse("metadata", &body.metadata)?.into_inner();
    let metadata = state
        .backups
        .change_metadata(reach(&access), path_backup_id(&path.1)?, move |m| {
            m.extend(items);
            Ok(())
        })
        .await?;
    Ok(web::Json(MetadataResponse { metadata }))
}

/// Replace the whole metadata.
#[utoipa::path(
    put,
    path = "/v3/{project_id}/backups/{backup_id}/metadata",
    operation_id = "replaceBackupMetadata",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID"), ("backup_id" = String, Path, description = "Backup ID")),
    request_body = MetadataRequest,
    responses(
        (status = 200, description = "The metadata now", body = MetadataResponse),
        (status = 400, description = "Invalid keys or values", body = CinderFaultDoc),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn replace_metadata(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: NativeJson<MetadataRequest>,
) -> NativeResult<web::Json<MetadataResponse>> {
    let items = BackupMetadata::parse("metadata", &body.metadata)?.into_inner();
    let metadata = state
        .backups
        .change_metadata(reach(&access), path_backup_id(&path.1)?, move |m| {
            *m = items;
            Ok(())
        })
        .await?;
    Ok(web::Json(MetadataResponse { metadata }))
}

/// Show one metadata item.
#[utoipa::path(
    get,
    path = "/v3/{project_id}/backups/{backup_id}/metadata/{key}",
    operation_id = "showBackupMetadataItem",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
        ("key" = String, Path, description = "Metadata key"),
    ),
    responses(
        (status = 200, description = "The item", body = MetaItemResponse),
        (status = 404, description = "No such backup or key", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn show_metadata_item(
    access: NativeRead,
    state: web::Data<AppState>,
    path: ItemPath,
) -> NativeResult<web::Json<MetaItemResponse>> {
    let (_, id, key) = path.into_inner();
    let row = state.backups.backup_in(reading(&access), path_backup_id(&id)?).await?;
    let value = row.metadata().remove(&key).ok_or_else(|| no_key(&key))?;
    Ok(web::Json(MetaItemResponse { meta: [(key, value)].into() }))
}

/// Set one metadata item: the body is `{"meta": {key: value}}` with the path's key.
#[utoipa::path(
    put,
    path = "/v3/{project_id}/backups/{backup_id}/metadata/{key}",
    operation_id = "setBackupMetadataItem",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
        ("key" = String, Path, description = "Metadata key"),
    ),
    request_body = MetaItemRequest,
    responses(
        (status = 200, description = "The item", body = MetaItemResponse),
        (status = 400, description = "Not exactly the path's key, or an invalid value", body = CinderFaultDoc),
        (status = 404, description = "No such backup", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn set_metadata_item(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: ItemPath,
    body: NativeJson<MetaItemRequest>,
) -> NativeResult<web::Json<MetaItemResponse>> {
    let (_, id, key) = path.into_inner();
    let item = BackupMetadata::parse("meta", &body.meta)?.into_inner();
    let value = match item.get(&key) {
        Some(v) if item.len() == 1 => v.clone(),
        _ => {
            return Err(ValidationError::new(
                "meta",
                format!("must hold exactly the key {key:?} of the path"),
            )
            .into());
        }
    };
    let (k, v) = (key.clone(), value.clone());
    state
        .backups
        .change_metadata(reach(&access), path_backup_id(&id)?, move |m| {
            m.insert(k, v);
            Ok(())
        })
        .await?;
    Ok(web::Json(MetaItemResponse { meta: [(key, value)].into() }))
}

/// Delete one metadata item.
#[utoipa::path(
    delete,
    path = "/v3/{project_id}/backups/{backup_id}/metadata/{key}",
    operation_id = "deleteBackupMetadataItem",
    tag = "Native backups",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("backup_id" = String, Path, description = "Backup ID"),
        ("key" = String, Path, description = "Metadata key"),
    ),
    responses(
        (status = 200, description = "Deleted"),
        (status = 404, description = "No such backup or key", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn delete_metadata_item(
    access: NativeWrite,
    state: web::Data<AppState>,
    path: ItemPath,
) -> NativeResult<HttpResponse> {
    let (_, id, key) = path.into_inner();
    state
        .backups
        .change_metadata(reach(&access), path_backup_id(&id)?, move |m| {
            m.remove(&key).map(drop).ok_or_else(|| no_key(&key))
        })
        .await?;
    Ok(HttpResponse::Ok().finish())
}
