//! Ids from paths and bodies. Each endpoint family answers a malformed id the way its vendor
//! does; an id that is not a UUID never reaches the store or the file system.

use api_types::{
    domain::{ResourceId, ValidationError},
    error::codes::volume_backup as vb,
};

use crate::error::BackupError;

/// A backup id from a native path: anything that is not a UUID names no backup, so 404, as
/// Cinder answers for an unknown id.
pub fn path_backup_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("backup_id", raw).map_err(|_| BackupError::BackupNotFound(raw.to_owned()))
}

/// A backup id from a VBS path: the vendor answers a malformed one with 400 `VolumeBackup.0002`.
pub fn vbs_path_backup_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("backup_id", raw).map_err(|_| {
        ValidationError::new("backup_id", format!("{raw:?} is not a backup id"))
            .with_code(vb::BACKUP_ID_INVALID)
            .into()
    })
}

/// A volume id from a path: not a UUID, no such volume (404, as Cinder).
pub fn path_volume_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("volume_id", raw).map_err(|_| BackupError::NoSuchVolume(raw.to_owned()))
}

/// A job id from a path: not a UUID, no such job.
pub fn path_job_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("job_id", raw).map_err(|_| BackupError::JobNotFound(raw.to_owned()))
}

/// A required volume id in a body: empty → `empty_code`, not a UUID → `invalid_code`.
pub fn body_volume_id(
    field: &'static str,
    raw: Option<&str>,
    empty_code: &'static str,
    invalid_code: &'static str,
) -> Result<ResourceId, BackupError> {
    let raw = raw.map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ValidationError::new(field, "is required").with_code(empty_code).into());
    }
    ResourceId::parse(field, raw).map_err(|e| e.with_code(invalid_code).into())
}

/// The volume to back up, `backup.volume_id`.
pub fn backup_volume_id(raw: Option<&str>) -> Result<ResourceId, BackupError> {
    body_volume_id("backup.volume_id", raw, vb::VOLUME_ID_EMPTY, vb::VOLUME_ID_INVALID)
}

/// A snapshot id in a create body (given, not empty): one that is not a UUID names no snapshot.
pub fn backup_snapshot_id(raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse("backup.snapshot_id", raw).map_err(|e| e.with_code(vb::SNAPSHOT_NOT_FOUND).into())
}

/// A target volume for a restore, from `{"restore":{"volume_id":…}}`.
pub fn restore_target(raw: Option<&str>) -> Result<ResourceId, BackupError> {
    body_volume_id("restore.volume_id", raw, vb::RESTORE_VOLUME_ID_INVALID, vb::RESTORE_VOLUME_ID_INVALID)
}
