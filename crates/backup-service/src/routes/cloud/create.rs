use actix_web::web;
use api_types::{
    domain::{BackupDescription, BackupName, ValidationError},
    dto::{BackupTagInput, CreateCloudBackupRequest, JobIdResponse},
    error::{ErrorEnvelope, codes::volume_backup as vb},
};

use crate::{
    app::CreateParams,
    error::{BackupError, VbsResult},
    routes::{
        VbsJson, VbsWrite,
        params::{backup_snapshot_id, backup_volume_id},
    },
    startup::AppState,
};

const MAX_TAGS: usize = 10;

/// Tags are checked as the vendor documents them (key 1–36, value 0–43 characters, neither
/// with control characters or any of `=*<>\,|/`) and then not kept: nothing in this API
/// reads a backup's tags back.
fn check_tags(tags: &[BackupTagInput]) -> Result<(), ValidationError> {
    let bad = |m: String| ValidationError::new("backup.tags", m).with_code(vb::TAG_INVALID);
    if tags.len() > MAX_TAGS {
        return Err(bad(format!("at most {MAX_TAGS} tags")));
    }
    let clean = |s: &str| !s.chars().any(|c| c.is_control() || "=*<>\\,|/".contains(c));
    let mut keys = std::collections::HashSet::new();
    for t in tags {
        let key = t.key.as_deref().unwrap_or_default();
        let value = t.value.as_deref().ok_or_else(|| bad(format!("tag {key:?} has no value")))?;
        if key.is_empty() || key.chars().count() > 36 || !clean(key) {
            return Err(bad(format!("key {key:?} must be 1 to 36 characters without =*<>\\,|/")));
        }
        if value.chars().count() > 43 || !clean(value) {
            return Err(bad(format!("value {value:?} must be at most 43 characters without =*<>\\,|/")));
        }
        if !keys.insert(key) {
            return Err(bad(format!("key {key:?} appears twice")));
        }
    }
    Ok(())
}

fn parse(body: CreateCloudBackupRequest) -> Result<CreateParams, BackupError> {
    let b = body.backup;
    let volume_id = backup_volume_id(b.volume_id.as_deref())?;
    let snapshot_id = match b.snapshot_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(backup_snapshot_id(s)?),
    };
    let name = b
        .name
        .as_deref()
        .ok_or_else(|| ValidationError::new("backup.name", "is required").with_code(vb::NAME_EMPTY))?;
    check_tags(b.tags.as_deref().unwrap_or_default())?;
    let full = match b.extend_param.as_ref().and_then(|p| p.get("FullBackup")) {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) if s == "true" => true,
        Some(serde_json::Value::String(s)) if s == "false" => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ValidationError::new(
                "backup.extend_param.FullBackup",
                format!("{other} is not \"true\" or \"false\""),
            )
            .with_code(vb::MALFORMED_REQUEST)
            .into());
        }
    };
    Ok(CreateParams {
        volume_id,
        snapshot_id,
        name: Some(BackupName::parse(name)?),
        description: b
            .description
            .as_deref()
            .map(|d| BackupDescription::parse(d, BackupDescription::VBS_MAX_LEN))
            .transpose()?,
        // The VBS API backs up volumes in use without asking.
        force: true,
        full,
        metadata: Default::default(),
        availability_zone: None,
    })
}

/// Create a backup (VBS API); poll the job it answers.
///
/// `snapshot_id` is optional: without one the worker takes its own snapshot (a reflink copy
/// where the file system supports it, else it reads the live volume and records that the
/// backup is only crash-consistent). `extend_param.FullBackup` `"true"` stores a full backup
/// even when the volume has earlier ones. The job's `entities.backup_id` names the backup.
#[utoipa::path(
    post,
    path = "/v2/{project_id}/cloudbackups",
    operation_id = "createCloudBackup",
    tag = "VBS backups",
    params(("project_id" = String, Path, description = "Project ID")),
    request_body = CreateCloudBackupRequest,
    responses(
        (status = 200, description = "The job creating the backup", body = JobIdResponse),
        (status = 400, description = "Invalid request, unknown volume, volume busy", body = ErrorEnvelope),
        (status = 401, description = "Missing, malformed or expired token", body = ErrorEnvelope),
        (status = 403, description = "The token does not cover this project", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn create_cloud_backup(
    access: VbsWrite,
    state: web::Data<AppState>,
    body: VbsJson<CreateCloudBackupRequest>,
) -> VbsResult<web::Json<JobIdResponse>> {
    let params = parse(body.into_inner())?;
    let (_, job) = state.backups.request_backup(access.project, params).await?;
    Ok(web::Json(JobIdResponse { job_id: job.id.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: Option<&str>) -> BackupTagInput {
        BackupTagInput { key: Some(k.into()), value: v.map(Into::into) }
    }

    #[test]
    fn tags() {
        assert!(check_tags(&[tag("key", Some("value")), tag("k2", Some(""))]).is_ok());
        for bad in [
            vec![tag("", Some("v"))],
            vec![tag(&"k".repeat(37), Some("v"))],
            vec![tag("k", Some(&"v".repeat(44)))],
            vec![tag("a/b", Some("v"))],
            vec![tag("k", None)],
            vec![tag("k", Some("1")), tag("k", Some("2"))],
            (0..11).map(|i| tag(&format!("k{i}"), Some("v"))).collect(),
        ] {
            assert_eq!(check_tags(&bad).unwrap_err().code, Some(vb::TAG_INVALID));
        }
    }
}
