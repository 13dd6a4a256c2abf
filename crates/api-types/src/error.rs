//! The two error envelopes of the API.
//!
//! The VBS endpoints (policies, tasks, cloud backups, jobs) answer
//! `{"error":{"code":"AutoBackup.XXXX","message":"…"}}`. The OpenStack native backup endpoints
//! answer in Cinder's fault style, keyed by the fault name:
//! `{"badRequest":{"code":"VolumeBackup.XXXX","message":"…"}}` or
//! `{"itemNotFound":{"code":404,"message":"…"}}`. Clients (otcextensions, cinderclient, the Go
//! SDKs) parse these shapes, so they are part of the wire contract; messages never carry an
//! internal cause.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The VBS error envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable error code such as `AutoBackup.0005`.
    #[schema(example = "AutoBackup.0005")]
    pub code: String,
    /// What went wrong, for a human.
    pub message: String,
}

impl ErrorEnvelope {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error: ErrorBody { code: code.into(), message: message.into() } }
    }
}

/// The fault names Cinder uses as the single key of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CinderFaultKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    ItemNotFound,
    BadMethod,
    NotAcceptable,
    ConflictingRequest,
    RequestEntityTooLarge,
    BadMediaType,
    OverLimit,
    ComputeFault,
    ServiceUnavailable,
}

impl CinderFaultKind {
    pub fn key(self) -> &'static str {
        match self {
            Self::BadRequest => "badRequest",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::ItemNotFound => "itemNotFound",
            Self::BadMethod => "badMethod",
            Self::NotAcceptable => "notAcceptable",
            Self::ConflictingRequest => "conflictingRequest",
            Self::RequestEntityTooLarge => "requestEntityTooLarge",
            Self::BadMediaType => "badMediaType",
            Self::OverLimit => "overLimit",
            Self::ComputeFault => "computeFault",
            Self::ServiceUnavailable => "serviceUnavailable",
        }
    }

    /// The fault Cinder uses for an HTTP status.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::ItemNotFound,
            405 => Self::BadMethod,
            406 => Self::NotAcceptable,
            409 => Self::ConflictingRequest,
            413 => Self::RequestEntityTooLarge,
            415 => Self::BadMediaType,
            429 => Self::OverLimit,
            503 => Self::ServiceUnavailable,
            s if s >= 500 => Self::ComputeFault,
            _ => Self::BadRequest,
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::BadRequest,
            Self::Unauthorized,
            Self::Forbidden,
            Self::ItemNotFound,
            Self::BadMethod,
            Self::NotAcceptable,
            Self::ConflictingRequest,
            Self::RequestEntityTooLarge,
            Self::BadMediaType,
            Self::OverLimit,
            Self::ComputeFault,
            Self::ServiceUnavailable,
        ]
        .into_iter()
        .find(|k| k.key() == key)
    }
}

/// Cinder puts either a vendor code string or the numeric HTTP status in `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FaultCode {
    Text(String),
    Status(u16),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FaultBody {
    pub code: FaultCode,
    pub message: String,
}

/// A Cinder-style fault: `{"<kind>": {"code": …, "message": …}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CinderFault {
    pub kind: CinderFaultKind,
    pub body: FaultBody,
}

impl CinderFault {
    pub fn new(kind: CinderFaultKind, code: FaultCode, message: impl Into<String>) -> Self {
        Self { kind, body: FaultBody { code, message: message.into() } }
    }
}

impl Serialize for CinderFault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.kind.key(), &self.body)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for CinderFault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, FaultBody>::deserialize(d)?;
        let mut entries = map.into_iter();
        match (entries.next(), entries.next()) {
            (Some((key, body)), None) => {
                let kind = CinderFaultKind::from_key(&key)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown fault kind {key:?}")))?;
                Ok(Self { kind, body })
            }
            _ => Err(serde::de::Error::custom("a fault has exactly one key")),
        }
    }
}

/// Error codes. The vendor's codes keep their vendor meaning; the `AutoBackup.04xx` codes are
/// ours, for protocol-level failures the vendor's table does not cover (unknown route, wrong
/// method, oversized body, wrong media type): they mirror the HTTP status.
pub mod codes {
    /// Backup policy and task endpoints.
    pub mod auto_backup {
        pub const EMPTY_REQUEST: &str = "AutoBackup.0000";
        pub const EMPTY_OBJECT: &str = "AutoBackup.0001";
        pub const TOKEN_MISSING: &str = "AutoBackup.0002";
        pub const TOKEN_EXPIRED: &str = "AutoBackup.0003";
        pub const TOKEN_INVALID: &str = "AutoBackup.0005";
        pub const POLICY_ID_EMPTY: &str = "AutoBackup.0006";
        pub const MALFORMED_JSON: &str = "AutoBackup.0008";
        pub const INTERNAL: &str = "AutoBackup.0009";
        pub const NAME_LENGTH: &str = "AutoBackup.0101";
        pub const NAME_INVALID: &str = "AutoBackup.0102";
        pub const START_TIME_INVALID: &str = "AutoBackup.0103";
        pub const STATUS_INVALID: &str = "AutoBackup.0104";
        pub const FIRST_OF_MONTH_INVALID: &str = "AutoBackup.0105";
        pub const FREQUENCY_INVALID: &str = "AutoBackup.0106";
        pub const RETENTION_INVALID: &str = "AutoBackup.0107";
        pub const POLICY_LIMIT: &str = "AutoBackup.0203";
        pub const VOLUME_LIMIT: &str = "AutoBackup.0204";
        pub const POLICY_NOT_FOUND: &str = "AutoBackup.0205";
        pub const RESOURCE_EMPTY: &str = "AutoBackup.0207";
        pub const RESOURCE_ID_EMPTY: &str = "AutoBackup.0209";
        pub const RESOURCE_TYPE_INVALID: &str = "AutoBackup.0211";
        pub const NOT_AUTHORIZED: &str = "AutoBackup.0213";
        pub const TAG_INVALID: &str = "AutoBackup.0214";
        pub const TAG_LIMIT: &str = "AutoBackup.0215";
        pub const TAG_NOT_FOUND: &str = "AutoBackup.0216";
        pub const ANGLE_BRACKETS: &str = "AutoBackup.0221";
        pub const ACTION_UNSUPPORTED: &str = "AutoBackup.0222";
        pub const TIME_ZONE_INVALID: &str = "AutoBackup.0226";
        pub const RESOURCE_INVALID: &str = "AutoBackup.1400";
        pub const ROUTE_NOT_FOUND: &str = "AutoBackup.0404";
        pub const METHOD_NOT_ALLOWED: &str = "AutoBackup.0405";
        pub const BODY_TOO_LARGE: &str = "AutoBackup.0413";
        pub const MEDIA_TYPE: &str = "AutoBackup.0415";
        pub const UNAVAILABLE: &str = "AutoBackup.0503";
    }

    /// Backup, restore and job endpoints.
    pub mod volume_backup {
        pub const MALFORMED_REQUEST: &str = "VolumeBackup.0002";
        pub const NAME_TOO_LONG: &str = "VolumeBackup.0003";
        pub const NAME_INVALID: &str = "VolumeBackup.0004";
        pub const NAME_STARTS_WITH_AUTO: &str = "VolumeBackup.0005";
        pub const DESCRIPTION_INVALID: &str = "VolumeBackup.0006";
        pub const NAME_EMPTY: &str = "VolumeBackup.0007";
        pub const VOLUME_ID_EMPTY: &str = "VolumeBackup.0010";
        pub const VOLUME_ID_INVALID: &str = "VolumeBackup.0011";
        pub const VOLUME_STATUS: &str = "VolumeBackup.0012";
        pub const BACKUP_IN_PROGRESS: &str = "VolumeBackup.0013";
        pub const SUBMIT_FAILED: &str = "VolumeBackup.0014";
        pub const SNAPSHOT_QUERY_FAILED: &str = "VolumeBackup.0019";
        pub const SNAPSHOT_NOT_FOUND: &str = "VolumeBackup.0020";
        pub const VOLUME_NOT_FOUND: &str = "VolumeBackup.0021";
        pub const CREATE_FAILED: &str = "VolumeBackup.0027";
        pub const TAG_INVALID: &str = "VolumeBackup.0049";
        pub const BACKUP_QUOTA: &str = "VolumeBackup.0080";
        pub const CAPACITY_QUOTA: &str = "VolumeBackup.0081";
        pub const RIGHTS_CHECK_FAILED: &str = "VolumeBackup.0041";
        pub const NO_RIGHTS: &str = "VolumeBackup.0042";
        pub const RIGHTS_INVALID: &str = "VolumeBackup.0044";
        pub const DELETE_FAILED: &str = "VolumeBackup.0102";
        pub const DELETE_REQUEST_INVALID: &str = "VolumeBackup.0105";
        pub const RESTORE_TARGET_MISSING: &str = "VolumeBackup.0111";
        pub const RESTORE_FAILED: &str = "VolumeBackup.0200";
        pub const BACKUP_ID_EMPTY: &str = "VolumeBackup.0203";
        pub const BACKUP_ID_INVALID: &str = "VolumeBackup.0204";
        pub const RESTORE_VOLUME_BUSY: &str = "VolumeBackup.0206";
        pub const RESTORE_VOLUME_NOT_FOUND: &str = "VolumeBackup.0207";
        pub const RESTORE_VOLUME_ID_INVALID: &str = "VolumeBackup.0208";
        pub const RESTORE_TOO_SMALL: &str = "VolumeBackup.0209";
        pub const RESTORE_REQUEST_INVALID: &str = "VolumeBackup.0210";
        pub const BACKUP_UNAVAILABLE: &str = "VolumeBackup.0089";
        /// Backup sharing: an invalid share request (projects, a backup shared already).
        pub const SHARE_INVALID: &str = "VolumeBackup.0300";
        /// Backup sharing: no such share of (or to) this project.
        pub const SHARE_NOT_FOUND: &str = "VolumeBackup.0301";
        pub const SERVICE_UNAVAILABLE: &str = "VolumeBackup.0900";
        pub const ROUTE_NOT_FOUND: &str = "VolumeBackup.0404";
        pub const METHOD_NOT_ALLOWED: &str = "VolumeBackup.0405";
        pub const BODY_TOO_LARGE: &str = "VolumeBackup.0413";
        pub const MEDIA_TYPE: &str = "VolumeBackup.0415";
        pub const INTERNAL: &str = "VolumeBackup.0500";
        /// `common.0011`: "Failed to query the task" — the vendor's answer for a job id it
        /// cannot find.
        pub const JOB_NOT_FOUND: &str = "common.0011";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vbs_envelope_shape() {
        let e = ErrorEnvelope::new("AutoBackup.0005", "bad");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"error": {"code": "AutoBackup.0005", "message": "bad"}})
        );
    }

    #[test]
    fn cinder_fault_shapes() {
        let bad =
            CinderFault::new(CinderFaultKind::BadRequest, FaultCode::Text("VolumeBackup.0001".into()), "bad");
        assert_eq!(
            serde_json::to_value(&bad).unwrap(),
            json!({"badRequest": {"code": "VolumeBackup.0001", "message": "bad"}})
        );
        let nf = CinderFault::new(CinderFaultKind::ItemNotFound, FaultCode::Status(404), "gone");
        let v = serde_json::to_value(&nf).unwrap();
        assert_eq!(v, json!({"itemNotFound": {"code": 404, "message": "gone"}}));
        assert_eq!(serde_json::from_value::<CinderFault>(v).unwrap(), nf);
    }

    #[test]
    fn fault_for_status() {
        assert_eq!(CinderFaultKind::for_status(404).key(), "itemNotFound");
        assert_eq!(CinderFaultKind::for_status(400).key(), "badRequest");
        assert_eq!(CinderFaultKind::for_status(500).key(), "computeFault");
    }
}
