use actix_web::{HttpRequest, HttpResponse, web};
use api_types::{
    domain::{BackupDescription, BackupName, ProjectId, ResourceId, ValidationError},
    dto::{BackupCreatedResponse, CreateNativeBackupRequest},
    error::codes::volume_backup as vb,
};
use chrono::Utc;

use crate::{
    error::{BackupError, NativeResult},
    openapi::CinderFaultDoc,
    routes::{NativeAccess, NativeJson, backup_ref, base_url, body_volume_id},
    startup::AppState,
    store::{BackupRow, JobRow},
    submit::{self, NewBackup},
    volumes::VolumeError,
};

/// What a create request asks for, validated.
#[derive(Debug, Clone)]
pub struct CreateParams {
    pub volume_id: ResourceId,
    pub snapshot_id: Option<ResourceId>,
    pub name: Option<BackupName>,
    pub description: Option<BackupDescription>,
    /// Back up an attached volume.
    pub force: bool,
    /// Store a full backup even when the volume has one to be incremental against.
    pub full: bool,
}

/// Maps a driver failure to what the tenant may learn: a volume or snapshot that is not
/// there, or is not usable as one, does not exist for them.
pub fn volume_error(e: VolumeError) -> BackupError {
    match e {
        VolumeError::VolumeNotFound(v) => BackupError::VolumeNotFound(v.to_string()),
        VolumeError::SnapshotNotFound { volume, snapshot } => {
            BackupError::SnapshotNotFound { volume: volume.to_string(), snapshot: snapshot.to_string() }
        }
        VolumeError::Refused { ref path, reason } => {
            tracing::warn!(path = %path.display(), reason, "volume data refused");
            anyhow::anyhow!(e).into()
        }
        e @ VolumeError::Io { .. } => anyhow::anyhow!(e).into(),
    }
}

/// Checks the volume (and snapshot) and records the backup with its job.
pub async fn record_backup(
    state: &AppState,
    project: ProjectId,
    p: CreateParams,
) -> Result<(BackupRow, JobRow), BackupError> {
    let (proj, params) = (project.clone(), p.clone());
    let volume_bytes = state
        .volumes(move |drv| {
            let volume = drv.volume(&proj, params.volume_id).map_err(volume_error)?;
            if volume.attached && !params.force {
                return Err(BackupError::VolumeAttached(volume.id.to_string()));
            }
            match params.snapshot_id {
                Some(s) => Ok(drv.snapshot(&proj, params.volume_id, s).map_err(volume_error)?.size),
                None => Ok(volume.size),
            }
        })
        .await?;
    let new = NewBackup {
        project,
        volume_id: p.volume_id,
        snapshot_id: p.snapshot_id,
        volume_bytes,
        name: p.name.map(|n| n.as_str().to_owned()),
        description: p.description.map(|d| d.as_str().to_owned()),
        full: p.full,
        auto: None,
    };
    let quotas = state.quotas;
    state.db.write(move |conn| submit::backup(conn, &new, quotas, Utc::now().naive_utc())).await
}

fn parse(body: CreateNativeBackupRequest) -> Result<CreateParams, BackupError> {
    let b = body.backup;
    let volume_id = body_volume_id(
        "backup.volume_id",
        b.volume_id.as_deref(),
        vb::VOLUME_ID_EMPTY,
        vb::VOLUME_ID_INVALID,
    )?;
    let snapshot = b.snapshot_id.as_deref().map(str::trim).unwrap_or_default();
    if snapshot.is_empty() {
        return Err(ValidationError::new("backup.snapshot_id", "is required")
            .with_code(vb::MALFORMED_REQUEST)
            .into());
    }
    let snapshot_id =
        ResourceId::parse("backup.snapshot_id", snapshot).map_err(|e| e.with_code(vb::SNAPSHOT_NOT_FOUND))?;
    Ok(CreateParams {
        volume_id,
        snapshot_id: Some(snapshot_id),
        name: b.name.as_deref().map(BackupName::parse).transpose()?,
        description: b
            .description
            .as_deref()
            .map(|d| BackupDescription::parse(d, BackupDescription::NATIVE_MAX_LEN))
            .transpose()?,
        force: b.force.unwrap_or(false),
        full: false,
    })
}

/// Create a backup of a volume's snapshot (spec/03).
///
/// `volume_id` and `snapshot_id` must name a volume of this project and one of its
/// snapshots. The first backup of a volume is full; later ones store only the blocks that
/// changed since the volume's latest backup (`incremental` is accepted and ignored, as is
/// `container`). An attached volume needs `force: true`. One backup per volume at a time
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
pub async fn handler(
    req: HttpRequest,
    access: NativeAccess,
    state: web::Data<AppState>,
    body: NativeJson<CreateNativeBackupRequest>,
) -> NativeResult<HttpResponse> {
    let params = parse(body.into_inner())?;
    let (backup, job) = record_backup(&state, access.project, params).await?;
    tracing::info!(backup_id = %backup.id, job_id = %job.id, volume_id = %backup.volume_id, "backup requested");
    Ok(HttpResponse::Accepted()
        .json(BackupCreatedResponse { backup: backup_ref(&backup, &base_url(&req, &state)) }))
}
