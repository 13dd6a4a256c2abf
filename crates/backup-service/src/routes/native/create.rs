use actix_web::{HttpRequest, HttpResponse, web};
use api_types::{
    domain::{BackupDescription, BackupMetadata, BackupName, ValidationError},
    dto::{BackupCreatedResponse, CreateNativeBackupRequest},
};

use crate::{
    app::CreateParams,
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{
        NativeJson, NativeWrite, link_root,
        microversion::Microversion,
        params::{backup_snapshot_id, backup_volume_id},
        views::backup_ref,
    },
    startup::AppState,
};

/// The fields a microversion below their own does not know are refused, as Cinder's schema
/// (`additionalProperties: false`) refuses them.
fn parse(
    body: CreateNativeBackupRequest,
    version: Microversion,
    zone: Option<&str>,
) -> Result<CreateParams, BackupError> {
    let b = body.backup;
    let since = |field: &'static str, minor: u16| {
        ValidationError::new(
            field,
            format!("needs microversion 3.{minor} or later (OpenStack-API-Version: volume 3.{minor})"),
        )
    };
    let metadata = match &b.metadata {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(_) if !version.at_least(43) => return Err(since("backup.metadata", 43).into()),
        Some(m) => BackupMetadata::parse("backup.metadata", m)?.into_inner(),
    };
    let availability_zone = match b.availability_zone.as_deref() {
        None => None,
        Some(_) if !version.at_least(51) => return Err(since("backup.availability_zone", 51).into()),
        Some(az) if zone.is_some_and(|z| z != az) || az.is_empty() => {
            return Err(ValidationError::new(
                "backup.availability_zone",
                format!("{az:?} is not an availability zone of this deployment ({})", zone.unwrap_or("none")),
            )
            .into());
        }
        Some(az) => Some(az.to_owned()),
    };
    let volume_id = backup_volume_id(b.volume_id.as_deref())?;
    // Without a snapshot (what openstackclient and cinderclient send) the worker takes one.
    let snapshot_id = match b.snapshot_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(backup_snapshot_id(s)?),
    };
    Ok(CreateParams {
        volume_id,
        snapshot_id,
        name: b.name.as_deref().map(BackupName::parse).transpose()?,
        description: b
            .description
            .as_deref()
            .map(|d| BackupDescription::parse(d, BackupDescription::NATIVE_MAX_LEN))
            .transpose()?,
        force: b.force.unwrap_or(false),
        full: false,
        metadata,
        availability_zone,
    })
}

/// Create a backup of a volume, or of one of its snapshots (spec/03).
///
/// `volume_id` must name a volume of this project, and `snapshot_id`, when given, one of its
/// snapshots; without one the worker takes its own snapshot (a reflink copy where the file
/// system supports it, else it reads the live volume and records that the backup is only
/// crash-consistent). The first backup of a volume is full; later ones store only the blocks that
/// changed since the volume's latest backup (`incremental` is accepted and ignored, as is
/// `container`). An attached volume needs `force: true`. `metadata` (from microversion 3.43) is
/// kept with the backup; `availability_zone` (3.51) must be the deployment's. One backup per volume at a time
/// (`VolumeBackup.0013`). The backup runs on a worker; poll it with the show call. Also served
/// at `/v3/{project_id}/backups` and `/v3/{project_id}/native/backups`.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/backups",
    operation_id = "createNativeBackup",
    tag = "Native backups",
    params(("project_id" = String, Path, description = "Project ID")),
    request_body = CreateNativeBackupRequest,
    responses(
        (status = 202, description = "Accepted: the backup is `creating`", body = BackupCreatedResponse),
        (status = 400, description = "Invalid request, unknown volume or snapshot, volume busy", body = CinderFaultDoc),
        (status = 401, description = "Missing, invalid or expired token", body = CinderFaultDoc),
        (status = 403, description = "The token does not grant this project", body = CinderFaultDoc),
    ),
    security(("token" = []))
)]
pub async fn create_backup(
    req: HttpRequest,
    access: NativeWrite,
    state: web::Data<AppState>,
    version: Microversion,
    body: NativeJson<CreateNativeBackupRequest>,
) -> NativeResult<HttpResponse> {
    let params = parse(body.into_inner(), version, state.availability_zone.as_deref())?;
    let (backup, _) = state.backups.request_backup(access.project, params).await?;
    Ok(HttpResponse::Accepted()
        .json(BackupCreatedResponse { backup: backup_ref(&backup, &link_root(&req, &state)) }))
}
