use std::collections::BTreeMap;

use actix_web::web;
use api_types::{domain::ResourceId, dto::JobView, error::ErrorEnvelope};

use crate::{
    domain::{JobStatus, JobType, job_time, percent},
    error::{BackupError, VbsResult},
    routes::VbsAccess,
    startup::AppState,
    store::{self, JobRow},
};

fn view(job: JobRow) -> JobView {
    let mut entities = BTreeMap::new();
    entities.insert("backup_id".to_owned(), job.backup_id.clone());
    entities.insert("volume_id".to_owned(), job.volume_id.clone());
    if let Some(s) = &job.snapshot_id {
        entities.insert("snapshot_id".to_owned(), s.clone());
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
        job_id: job.id,
        job_type: job.job_type,
        begin_time: job.begin_time.map(job_time),
        end_time: job.end_time.map(job_time),
        error_code: job.error_code,
        fail_reason: job.fail_reason,
        sub_jobs: Vec::new(),
    }
}

/// Show a job: creating, restoring or deleting a backup.
///
/// `status` is `INIT` (queued), `RUNNING`, `SUCCESS` or `FAIL` (with `error_code` and
/// `fail_reason`). `entities` are strings: `backup_id`, `volume_id` (the volume backed up or
/// restored into), `snapshot_id`, `bks_create_volume_name` (the backup name) and the progress
/// (`progress` in percent, `bytes_done` of `bytes_total`). Served at `/v1/…` as the vendor
/// documents and at `/v2/{project_id}/jobs/{job_id}`, where otcextensions looks.
#[utoipa::path(
    get,
    path = "/v1/{project_id}/jobs/{job_id}",
    operation_id = "showJob",
    tag = "Jobs",
    params(
        ("project_id" = String, Path, description = "Project ID"),
        ("job_id" = String, Path, description = "Job ID"),
    ),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job in this project (`common.0011`)", body = ErrorEnvelope),
    ),
    security(("token" = []))
)]
pub async fn handler(
    access: VbsAccess,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> VbsResult<web::Json<JobView>> {
    let raw = path.1.clone();
    let id =
        ResourceId::parse("job_id", &raw).map_err(|_| BackupError::JobNotFound(raw.clone()))?.to_string();
    let project = access.project.as_str().to_owned();
    let job = state
        .db
        .read(move |conn| store::find_job(conn, &project, &id)?.ok_or(BackupError::JobNotFound(raw)))
        .await?;
    Ok(web::Json(view(job)))
}
