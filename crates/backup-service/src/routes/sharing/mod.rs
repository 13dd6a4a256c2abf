//! VBS backup sharing (`/v2/{project_id}/os-vendor-backup-sharing`), in the VBS envelope.

pub mod create;
pub mod delete;
pub mod list;
pub mod show;

use api_types::{
    domain::{ProjectId, ResourceId, ValidationError},
    dto::{ShareView, SharedBackup},
    error::codes::volume_backup as vb,
};

use crate::{
    domain::native_time,
    error::BackupError,
    routes::views::{LinkRoot, backup_detail},
    store::{BackupRow, shares::ShareRow},
};

/// A share as the vendor shows it; with its backup for list and show.
pub fn share_view(share: &ShareRow, backup: Option<&BackupRow>, zone: Option<&str>) -> ShareView {
    ShareView {
        id: share.id.to_string(),
        backup_id: share.backup_id.to_string(),
        from_project_id: share.from_project_id.to_string(),
        to_project_id: share.to_project_id.to_string(),
        created_at: native_time(share.created_at),
        updated_at: Some(native_time(share.updated_at)),
        deleted: "false".to_owned(),
        deleted_at: None,
        backup: backup.map(|b| {
            let root = LinkRoot { base: String::new(), version: "v2", native: false };
            let d = backup_detail(b, &root, zone, crate::routes::microversion::MIN);
            SharedBackup {
                id: d.id,
                name: d.name,
                status: d.status,
                description: d.description,
                availability_zone: d.availability_zone,
                volume_id: d.volume_id,
                fail_reason: d.fail_reason,
                size: d.size,
                object_count: d.object_count,
                container: d.container,
                created_at: d.created_at,
                updated_at: d.updated_at,
                data_timestamp: d.data_timestamp,
                service_metadata: d.service_metadata,
                has_dependent_backups: d.has_dependent_backups,
                snapshot_id: d.snapshot_id,
                is_incremental: d.is_incremental,
            }
        }),
    }
}

/// An id in a sharing path or filter: not a UUID, `VolumeBackup.0300`.
fn id(field: &'static str, raw: &str) -> Result<ResourceId, BackupError> {
    ResourceId::parse(field, raw).map_err(|e| e.with_code(vb::SHARE_INVALID).into())
}

fn project(field: &'static str, raw: &str) -> Result<ProjectId, BackupError> {
    ProjectId::parse(raw).map_err(|_| {
        ValidationError::new(field, format!("{raw:?} is not a project id"))
            .with_code(vb::SHARE_INVALID)
            .into()
    })
}

/// A flag given and true (`true`, `True`, `1`…).
fn flag(v: Option<&str>) -> bool {
    v.is_some_and(api_types::domain::truthy)
}
