//! How backups and jobs look on the wire.

use std::collections::BTreeMap;

use api_types::{
    domain::ProjectId,
    dto::{BackupDetail, BackupRef, JobView, Link, VolumeView},
};

use service_kit::db::{DbId, DbProjectId};

use super::microversion::Microversion;
use crate::{
    domain::{BackupStatus, JobStatus, JobType, job_time, native_time, percent, size_gib},
    store::{BackupRow, JobRow, backups::Listed},
    volumes::Volume,
};

/// Where links point: the scheme and host, and the API the request came through (`/v2`,
/// `/v3` or `/v3/…/native`), so a client follows links into the API it speaks.
#[derive(Debug, Clone)]
pub struct LinkRoot {
    pub base: String,
    pub version: &'static str,
    pub native: bool,
}

impl LinkRoot {
    pub fn of(path: &str, base: String) -> Self {
        let version = if path.starts_with("/v3/") { "v3" } else { "v2" };
        Self { base, version, native: version == "v3" && path.contains("/native/") }
    }
}

pub fn links(root: &LinkRoot, project: &DbProjectId, id: &DbId) -> Vec<Link> {
    let (base, version) = (&root.base, root.version);
    let native = if root.native { "/native" } else { "" };
    vec![
        Link { href: format!("{base}/{version}/{project}{native}/backups/{id}"), rel: "self".into() },
        Link { href: format!("{base}/{project}{native}/backups/{id}"), rel: "bookmark".into() },
    ]
}

pub fn backup_ref(row: &impl Listed, root: &LinkRoot) -> BackupRef {
    BackupRef {
        id: row.id().to_string(),
        links: links(root, row.project_id(), row.id()),
        name: row.name().map(str::to_owned),
    }
}

/// A backup as spec/05 shows it, with what the request's microversion adds. Its availability
/// zone is the one it was created in, else the deployment's.
pub fn backup_detail(
    row: &BackupRow,
    root: &LinkRoot,
    availability_zone: Option<&str>,
    version: Microversion,
) -> BackupDetail {
    let available = row.status() == Some(BackupStatus::Available);
    let progress = if available { 100 } else { percent(row.progress_done, row.progress_total) };
    let metadata = serde_json::json!({
        "Type": if row.parent_id.is_some() { 0 } else { 1 },
        "progress": progress.to_string(),
        "bytes_done": row.progress_done,
        "bytes_total": row.progress_total,
        "stored_bytes": row.stored_bytes,
        "snap_id": row.snapshot_id.map(|s| s.to_string()),
        "crash_consistent": row.crash_consistent,
        "bootable": false,
    });
    BackupDetail {
        id: row.id.to_string(),
        name: row.name.clone(),
        status: row.status.clone(),
        description: row.description.clone(),
        links: links(root, &row.project_id, &row.id),
        availability_zone: row.availability_zone.clone().or_else(|| availability_zone.map(str::to_owned)),
        volume_id: row.volume_id.to_string(),
        snapshot_id: row.snapshot_id.map(|s| s.to_string()),
        fail_reason: row.fail_reason.clone(),
        size: row.size_gib,
        object_count: row.object_count,
        container: None,
        created_at: native_time(row.created_at),
        updated_at: native_time(row.updated_at),
        data_timestamp: row.data_timestamp.map(native_time),
        tenant_id: row.project_id.to_string(),
        project_id: row.project_id.to_string(),
        bak_tenant_id: row.project_id.to_string(),
        service_metadata: metadata.to_string(),
        has_dependent_backups: false,
        is_incremental: row.parent_id.is_some(),
        metadata: version.at_least(43).then(|| row.metadata()),
    }
}

/// A job as the VBS job API shows it: every entity a string, progress included.
pub fn job_view(job: JobRow) -> JobView {
    let mut entities = BTreeMap::new();
    entities.insert("backup_id".to_owned(), job.backup_id.to_string());
    entities.insert("volume_id".to_owned(), job.volume_id.to_string());
    if let Some(s) = &job.snapshot_id {
        entities.insert("snapshot_id".to_owned(), s.to_string());
    }
    if job.job_type() == Some(JobType::Create)
        && let Some(n) = &job.backup_name
    {
        entities.insert("bks_create_volume_name".to_owned(), n.clone());
    }
    let status = job.status();
    let (done, total) = match status {
        Some(JobStatus::Success) => (job.progress_total, job.progress_total),
        _ => (job.progress_done, job.progress_total),
    };
    let progress = if status == Some(JobStatus::Success) { 100 } else { percent(done, total).min(99) };
    entities.insert("progress".to_owned(), progress.to_string());
    entities.insert("bytes_done".to_owned(), done.to_string());
    entities.insert("bytes_total".to_owned(), total.to_string());
    JobView {
        status: job.status,
        entities,
        job_id: job.id.to_string(),
        job_type: job.job_type,
        begin_time: job.begin_time.map(job_time),
        end_time: job.end_time.map(job_time),
        error_code: job.error_code,
        fail_reason: job.fail_reason,
        sub_jobs: Vec::new(),
    }
}

/// A volume as Cinder's volumes API shows it.
pub fn volume_view(
    v: &Volume,
    project: &ProjectId,
    base: &str,
    availability_zone: Option<&str>,
) -> VolumeView {
    let created = v.created.map(|t| chrono::DateTime::<chrono::Utc>::from(t).naive_utc()).unwrap_or_default();
    VolumeView {
        id: v.id.to_string(),
        name: v.name.clone(),
        status: if v.attached { "in-use" } else { "available" }.to_owned(),
        size: size_gib(v.size),
        availability_zone: availability_zone.map(str::to_owned),
        created_at: native_time(created),
        updated_at: None,
        description: None,
        volume_type: None,
        bootable: "false".to_owned(),
        encrypted: false,
        multiattach: false,
        attachments: Vec::new(),
        metadata: serde_json::Map::new(),
        snapshot_id: None,
        source_volid: None,
        links: vec![
            Link { href: format!("{base}/v3/{project}/volumes/{}", v.id), rel: "self".into() },
            Link { href: format!("{base}/{project}/volumes/{}", v.id), rel: "bookmark".into() },
        ],
        tenant_id: project.to_string(),
    }
}
