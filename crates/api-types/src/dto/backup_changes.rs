//! Changing a backup through the native (Cinder) API: update (3.9), the metadata resource
//! (3.43), the admin actions (`os-reset_status`, `os-force_delete`) and the backup record
//! (`export_record`, `import_record`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT …/backups/{backup_id}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"backup": {"name": "nightly", "description": "before the upgrade"}}))]
pub struct UpdateBackupRequest {
    pub backup: BackupUpdateInput,
}

/// What to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct BackupUpdateInput {
    /// 1–64 letters, digits, `_` or `-`, not starting with `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most 255 characters, without `<` or `>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the whole metadata (microversion 3.43 under `/v3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST`/`PUT …/backups/{backup_id}/metadata`: keys to add or change (POST), or the whole
/// metadata (PUT).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct MetadataRequest {
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: serde_json::Value,
}

/// A backup's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct MetadataResponse {
    pub metadata: BTreeMap<String, String>,
}

/// `PUT …/backups/{backup_id}/metadata/{key}`: `{"meta": {key: value}}`, the path's key.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct MetaItemRequest {
    #[schema(value_type = BTreeMap<String, String>)]
    pub meta: serde_json::Value,
}

/// One metadata item, `{"meta": {key: value}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct MetaItemResponse {
    pub meta: BTreeMap<String, String>,
}

/// `POST …/backups/{backup_id}/action` (admin): exactly one action.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"os-reset_status": {"status": "available"}}))]
pub struct BackupActionRequest {
    /// Sets the status: `available` or `error`.
    #[serde(rename = "os-reset_status", default, skip_serializing_if = "Option::is_none")]
    pub reset_status: Option<ResetStatus>,
    /// Deletes the backup whatever it is doing; running work on it is cancelled.
    #[serde(rename = "os-force_delete", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub force_delete: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ResetStatus {
    /// `available` or `error`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET …/backups/{backup_id}/export_record` and the body of `POST …/backups/import_record`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"backup-record": {"backup_service": "vbs.backup_engine", "backup_url": "eyJmb3JtYXQiOjEs..."}}))]
pub struct BackupRecordBody {
    #[serde(rename = "backup-record")]
    pub backup_record: BackupRecordFields,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct BackupRecordFields {
    /// What wrote the record: `vbs.backup_engine`.
    pub backup_service: String,
    /// The backup's record, base64-encoded: give it back unchanged to import.
    pub backup_url: String,
}
