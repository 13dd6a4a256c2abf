//! The backup API's errors and how they reach the client.
//!
//! One error type, [`BackupError`], rendered in either of the two envelopes the service speaks:
//! the native (OpenStack) endpoints answer Cinder faults (`{"badRequest":{"code":
//! "VolumeBackup.XXXX",…}}`, `{"itemNotFound":{"code":404,…}}`), the VBS endpoints
//! (`cloudbackups`, `jobs`) answer `{"error":{"code":"VolumeBackup.XXXX","message":…}}` —
//! the [`VbsBackup`] flavor. Handlers return `Result<_, ApiError<F>>` with the flavor of their
//! endpoint, and the same failure carries the same vendor code in both.
//!
//! Validation messages name the field and the rule. The database being down (503, which
//! clients retry) and unexpected failures are [`InternalError`]s, logged once and answered
//! without their cause.

use std::marker::PhantomData;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use api_types::{
    domain::ValidationError,
    error::{ErrorEnvelope, codes::volume_backup as vb},
};
use service_kit::{
    db::DbError,
    error::InternalError,
    http::{Cinder, Flavor, Rejection},
};

/// `{"error":{"code":"VolumeBackup.XXXX","message":…}}` — the VBS backup, restore, job and
/// quota endpoints. Shared-mechanism failures (token, body, route) get the same VolumeBackup
/// codes as on the native endpoints.
pub struct VbsBackup;

impl Flavor for VbsBackup {
    fn code(rejection: Rejection) -> &'static str {
        Cinder::code(rejection)
    }

    fn field_code(field: &str) -> Option<&'static str> {
        Some(match field {
            "backup.name" => vb::NAME_INVALID,
            "backup.volume_id" => vb::VOLUME_ID_INVALID,
            "backup.description" => vb::DESCRIPTION_INVALID,
            f if f.starts_with("backup.tags") => vb::TAG_INVALID,
            "restore" => vb::RESTORE_REQUEST_INVALID,
            "restore.volume_id" => vb::RESTORE_VOLUME_ID_INVALID,
            _ => return None,
        })
    }

    fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
        HttpResponse::build(status).json(ErrorEnvelope::new(code, message))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("Backup {0} could not be found.")]
    BackupNotFound(String),
    #[error("job {0} does not exist")]
    JobNotFound(String),
    #[error("volume {0} does not exist")]
    VolumeNotFound(String),
    /// A volume looked up by itself (the volumes API): 404, as Cinder.
    #[error("Volume {0} could not be found.")]
    NoSuchVolume(String),
    #[error("snapshot {snapshot} of volume {volume} does not exist")]
    SnapshotNotFound { volume: String, snapshot: String },
    #[error("volume {0} is attached (in use); set force to true to back it up anyway")]
    VolumeAttached(String),
    #[error("volume {0} is being restored; back it up once the restore finished")]
    VolumeRestoring(String),
    #[error("a backup of volume {0} is still in progress")]
    BackupInProgress(String),
    #[error("volume {volume} to restore into does not exist")]
    RestoreTargetNotFound { volume: String },
    #[error("volume {0} is busy (a backup or restore of it is in progress)")]
    RestoreTargetBusy(String),
    #[error("volume {volume} ({target} bytes) is smaller than the backup ({backup} bytes)")]
    RestoreTooSmall { volume: String, target: u64, backup: u64 },
    #[error("backup {id} is {status}; {wanted}")]
    BackupStatus { id: String, status: String, wanted: &'static str },
    #[error("share {0} does not exist")]
    ShareNotFound(String),
    #[error("Backup metadata key {0:?} could not be found.")]
    MetadataKeyNotFound(String),
    /// A call Cinder serves from a later microversion than the request's: 404, as Cinder.
    #[error("this call needs microversion 3.{0} or later (OpenStack-API-Version: volume 3.{0})")]
    NeedsMicroversion(u16),
    #[error("the backup record cannot be imported: {0}")]
    ImportRefused(String),
    #[error("the project has {used} of its {quota} backups")]
    BackupQuota { used: i64, quota: i64 },
    #[error("the project's backups take {used} of its {quota} GiB")]
    CapacityQuota { used: i64, quota: i64 },
    #[error(transparent)]
    Internal(#[from] InternalError),
}

service_kit::internal_error_conversions!(BackupError);

impl BackupError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BackupNotFound(_)
            | Self::JobNotFound(_)
            | Self::NoSuchVolume(_)
            | Self::NeedsMicroversion(_)
            | Self::MetadataKeyNotFound(_)
            | Self::ShareNotFound(_) => StatusCode::NOT_FOUND,
            Self::Internal(e) => e.status(),
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn code<F: Flavor>(&self) -> &'static str {
        match self {
            Self::Invalid(v) => v.code.or_else(|| F::field_code(v.field)).unwrap_or(vb::MALFORMED_REQUEST),
            Self::BackupNotFound(_) => vb::RESTORE_TARGET_MISSING,
            Self::JobNotFound(_) => vb::JOB_NOT_FOUND,
            Self::VolumeNotFound(_) | Self::NoSuchVolume(_) => vb::VOLUME_NOT_FOUND,
            Self::SnapshotNotFound { .. } => vb::SNAPSHOT_NOT_FOUND,
            Self::VolumeAttached(_) | Self::VolumeRestoring(_) => vb::VOLUME_STATUS,
            Self::BackupInProgress(_) => vb::BACKUP_IN_PROGRESS,
            Self::RestoreTargetNotFound { .. } => vb::RESTORE_TARGET_MISSING,
            Self::RestoreTargetBusy(_) => vb::RESTORE_VOLUME_BUSY,
            Self::RestoreTooSmall { .. } => vb::RESTORE_TOO_SMALL,
            Self::BackupStatus { .. } => vb::BACKUP_UNAVAILABLE,
            Self::ImportRefused(_) => vb::MALFORMED_REQUEST,
            Self::ShareNotFound(_) => vb::SHARE_NOT_FOUND,
            Self::NeedsMicroversion(_) | Self::MetadataKeyNotFound(_) => vb::ROUTE_NOT_FOUND,
            Self::BackupQuota { .. } => vb::BACKUP_QUOTA,
            Self::CapacityQuota { .. } => vb::CAPACITY_QUOTA,
            Self::Internal(e) => F::code(e.rejection()),
        }
    }
}

/// A [`BackupError`] rendered in flavor `F`'s envelope.
pub struct ApiError<F> {
    pub error: BackupError,
    flavor: PhantomData<fn() -> F>,
}

impl<F> std::fmt::Debug for ApiError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl<F> std::fmt::Display for ApiError<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

macro_rules! into_api_error {
    ($($t:ty),*) => {$(
        impl<F> From<$t> for ApiError<F> {
            fn from(e: $t) -> Self {
                Self { error: e.into(), flavor: PhantomData }
            }
        }
    )*};
}

into_api_error!(BackupError, ValidationError, DbError, diesel::result::Error, anyhow::Error);

impl<F: Flavor> ResponseError for ApiError<F> {
    fn status_code(&self) -> StatusCode {
        self.error.status()
    }

    fn error_response(&self) -> HttpResponse {
        match &self.error {
            BackupError::Internal(e) => e.respond::<F>(),
            other => F::respond(other.status(), other.code::<F>(), &other.to_string()),
        }
    }
}

/// Native (Cinder-style) endpoint results.
pub type NativeResult<T> = Result<T, ApiError<Cinder>>;
/// VBS endpoint results.
pub type VbsResult<T> = Result<T, ApiError<VbsBackup>>;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body<F: Flavor>(e: BackupError) -> (u16, serde_json::Value) {
        let r = ApiError::<F>::from(e).error_response();
        let status = r.status().as_u16();
        let bytes = r.into_body().try_into_bytes().unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[test]
    fn one_error_two_envelopes() {
        let (s, v) = body::<Cinder>(BackupError::BackupNotFound("x".into()));
        assert_eq!(s, 404);
        assert_eq!(v["itemNotFound"]["code"], 404);
        let (s, v) = body::<Cinder>(BackupError::BackupInProgress("v".into()));
        assert_eq!(s, 400);
        assert_eq!(v["badRequest"]["code"], "VolumeBackup.0013");
        let (s, v) = body::<VbsBackup>(BackupError::BackupInProgress("v".into()));
        assert_eq!(s, 400);
        assert_eq!(v["error"]["code"], "VolumeBackup.0013");
        let (s, v) = body::<VbsBackup>(anyhow::anyhow!("secret cause").into());
        assert_eq!(s, 500);
        assert!(!v.to_string().contains("secret"));
    }
}
