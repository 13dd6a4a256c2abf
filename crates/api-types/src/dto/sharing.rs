//! Backup sharing, the vendor's API at `/v2/{project_id}/os-vendor-backup-sharing` (what
//! gophertelekomcloud's `vbs/v2/shares` and the Terraform provider call). Answers in the VBS
//! `{"error":…}` envelope.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `POST /v2/{project_id}/os-vendor-backup-sharing`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"shared": {"backup_id": "87566ed6-72cb-4053-aa6e-6f6216b3d507", "to_project_ids": ["91d687759aed45d28b5f6084bc2fa8ad"]}}))]
pub struct CreateShareRequest {
    pub shared: ShareInput,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ShareInput {
    /// An available backup of this project.
    #[serde(default)]
    pub backup_id: Option<String>,
    /// 1–10 other projects, each not yet sharing the backup.
    #[serde(default)]
    pub to_project_ids: Option<Vec<String>>,
}

/// One share. Times as the vendor writes them (`2017-03-28T11:26:15.184735`, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ShareView {
    pub id: String,
    pub backup_id: String,
    pub from_project_id: String,
    pub to_project_id: String,
    #[schema(example = "2017-03-28T11:26:15.184735")]
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Always `"false"` (a string, as the vendor sends it): deleted shares are not listed.
    pub deleted: String,
    pub deleted_at: Option<String>,
    /// The shared backup (list and show; not in the create answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<SharedBackup>,
}

/// The shared backup as a share shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct SharedBackup {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub description: Option<String>,
    pub availability_zone: Option<String>,
    pub volume_id: String,
    pub fail_reason: Option<String>,
    pub size: i64,
    pub object_count: Option<i64>,
    pub container: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub data_timestamp: Option<String>,
    pub service_metadata: String,
    pub has_dependent_backups: bool,
    pub snapshot_id: Option<String>,
    pub is_incremental: bool,
}

/// `{"shared": [...]}`: the create answer and the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ShareListResponse {
    pub shared: Vec<ShareView>,
    /// A `next` link while more shares follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_links: Option<Vec<super::Link>>,
}

/// `{"shared": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ShareResponse {
    pub shared: ShareView,
}

/// `{"count": N}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ShareCountResponse {
    pub count: i64,
}

/// Filters of the share list and count, as the vendor documents them.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShareListQuery {
    /// `true`: the shares other projects made to this one; else those this project made.
    pub share_to_me: Option<String>,
    pub backup_id: Option<String>,
    pub to_project_id: Option<String>,
    pub from_project_id: Option<String>,
    /// The shared backup's volume.
    pub volume_id: Option<String>,
    /// The shared backup's name.
    pub name: Option<String>,
    /// The shared backup's status.
    pub status: Option<String>,
    /// The shared backup's availability zone.
    pub availability_zone: Option<String>,
    /// `asc` (default, oldest share first) or `desc`.
    pub sort_dir: Option<String>,
    /// Page size, 1–1000 (default 1000).
    pub limit: Option<i64>,
    /// Shares to skip.
    pub offset: Option<i64>,
}

/// `DELETE …/os-vendor-backup-sharing/{id}`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShareDeleteQuery {
    /// `true`: the path's id is a backup id, and every share of that backup ends.
    pub is_backup_id: Option<String>,
}
