//! The read-only Cinder volumes API VBS serves for the volumes its driver sees, so that clients
//! which look a volume up before backing it up or restoring into it (openstackclient,
//! openstacksdk) find it at the same endpoint.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Link;

/// A volume as Cinder shows it (the fields clients read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub id: String,
    pub name: String,
    /// `available`, or `in-use` while the volume is attached.
    #[schema(example = "available")]
    pub status: String,
    /// GiB, rounded up.
    pub size: i64,
    pub availability_zone: Option<String>,
    /// UTC, microseconds, no zone.
    pub created_at: String,
    pub updated_at: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    /// `"true"` or `"false"`, a string as in Cinder.
    pub bootable: String,
    pub encrypted: bool,
    pub multiattach: bool,
    pub attachments: Vec<serde_json::Value>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub links: Vec<Link>,
    #[serde(rename = "os-vol-tenant-attr:tenant_id")]
    pub tenant_id: String,
}

/// `{"volume": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeResponse {
    pub volume: VolumeView,
}

/// `{"volumes": […]}`: every volume of the project, in one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VolumeListResponse {
    pub volumes: Vec<VolumeView>,
}
