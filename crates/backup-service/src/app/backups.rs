//! [`Backups`]: the use cases of the backup API.

use std::collections::BTreeMap;

use api_types::domain::{BackupDescription, BackupName, ProjectId, ResourceId};
use backup_engine::Engine;
use chrono::Utc;
use service_kit::{db::Db, error::InternalError};

use super::{
    list::{self, ListQuery, Page},
    requests::{self, NewBackup},
};
use crate::{
    config::Quotas,
    domain::BackupStatus,
    error::BackupError,
    store::{
        BackupRow, JobRow,
        backups::{self, BackupFilter, BackupSummaryRow, Listed, Window},
        jobs,
    },
    volumes::{Volume, VolumeDriver, VolumeError, Volumes},
};

/// Reads the backups a list query matches (see [`backups::list`]).
type ListFn<R> = fn(
    &mut diesel::PgConnection,
    Option<&ProjectId>,
    &BackupFilter,
    Option<&Window>,
) -> diesel::QueryResult<Vec<R>>;

/// What a create request asks for, validated.
#[derive(Debug, Clone)]
pub struct CreateParams {
    pub volume_id: ResourceId,
    pub snapshot_id: Option<ResourceId>,
    pub name: Option<BackupName>,
    pub description: Option<BackupDescription>,
    /// Back up an attached volume.
    pub force: bool,
    /// Store a full backup even when the volume has one to be incremental against.
    pub full: bool,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
}

/// The backups of every project: requests for work, and what is stored.
#[derive(Clone)]
pub struct Backups {
    pub(super) db: Db<BackupError>,
    volumes: Volumes,
    pub(super) engine: Engine,
    quotas: Quotas,
}

impl Backups {
    pub fn new(db: Db<BackupError>, volumes: Volumes, engine: Engine, quotas: Quotas) -> Self {
        Self { db, volumes, engine, quotas }
    }

    pub fn quotas(&self) -> Quotas {
        self.quotas
    }

    /// Checks the volume (and snapshot) and records the backup with its job.
    pub async fn request_backup(
        &self,
        project: ProjectId,
        p: CreateParams,
    ) -> Result<(BackupRow, JobRow), BackupError> {
        let (proj, params) = (project.clone(), p.clone());
        let volume_bytes = self
            .with_volumes(move |drv| {
                let volume = drv.volume(&proj, params.volume_id).map_err(volume_error)?;
                if volume.attached && !params.force {
                    return Err(BackupError::VolumeAttached(volume.id.to_string()));
                }
                match params.snapshot_id {
                    Some(s) => Ok(drv.snapshot(&proj, params.volume_id, s).map_err(volume_error)?.size),
                    None => Ok(volume.size),
                }
            })
            .await?;
        let new = NewBackup {
            project,
            volume_id: p.volume_id,
            snapshot_id: p.snapshot_id,
            volume_bytes,
            name: p.name.map(|n| n.as_str().to_owned()),
            description: p.description.map(|d| d.as_str().to_owned()),
            full: p.full,
            metadata: p.metadata,
            availability_zone: p.availability_zone,
            auto: None,
        };
        let quotas = self.quotas;
        let (backup, job) = self
            .db
            .write(move |conn| requests::record_backup(conn, &new, quotas, Utc::now().naive_utc()))
            .await?;
        tracing::info!(backup_id = %backup.id, job_id = %job.id, volume_id = %backup.volume_id, "backup requested");
        Ok((backup, job))
    }

    /// Creates a volume of the backup's size named `name` (Cinder's `restore_backup_<id>` by
    /// default) and records the restore into it; returns the job, the volume and its name.
    pub async fn request_restore_to_new_volume(
        &self,
        project: ProjectId,
        backup_id: ResourceId,
        name: Option<String>,
    ) -> Result<(JobRow, ResourceId, String), BackupError> {
        let backup = self.backup(project.clone(), backup_id).await?;
        if backup.status() != Some(BackupStatus::Available) {
            return Err(BackupError::BackupStatus {
                id: backup_id.to_string(),
                status: backup.status,
                wanted: "only an available backup can be restored",
            });
        }
        let name = name.unwrap_or_else(|| format!("restore_backup_{backup_id}"));
        let size = u64::try_from(backup.volume_bytes).unwrap_or(0);
        let (proj, volume_name) = (project.clone(), name.clone());
        let volume = self
            .with_volumes(move |drv| {
                let id = ResourceId::new_v4();
                drv.create_volume(&proj, id, size, Some(&volume_name), None).map_err(volume_error)?;
                Ok(id)
            })
            .await?;
        match self.request_restore(project.clone(), backup_id, volume).await {
            Ok((job, _)) => {
                tracing::info!(%backup_id, volume_id = %volume, "restoring into a new volume");
                Ok((job, volume, name))
            }
            Err(e) => {
                self.with_volumes(move |drv| drv.remove_volume(&project, volume).map_err(volume_error))
                    .await?;
                Err(e)
            }
        }
    }

    /// Checks the target volume and records the restore job; returns the job and the target's
    /// display name.
    pub async fn request_restore(
        &self,
        project: ProjectId,
        backup_id: ResourceId,
        target: ResourceId,
    ) -> Result<(JobRow, String), BackupError> {
        let proj = project.clone();
        let volume = self
            .with_volumes(move |drv| {
                drv.volume(&proj, target).map_err(|e| match e {
                    VolumeError::VolumeNotFound(v) => {
                        BackupError::RestoreTargetNotFound { volume: v.to_string() }
                    }
                    other => volume_error(other),
                })
            })
            .await?;
        let (size, name) = (volume.size, volume.name);
        let (_, job) = self
            .db
            .write(move |conn| {
                requests::record_restore(conn, &project, backup_id, target, size, Utc::now().naive_utc())
            })
            .await?;
        tracing::info!(%backup_id, volume_id = %target, job_id = %job.id, "restore requested");
        Ok((job, name))
    }

    /// Marks the backup `deleting` and records its deletion; `None` when it was already being
    /// deleted.
    pub async fn request_deletion(
        &self,
        project: ProjectId,
        backup_id: ResourceId,
    ) -> Result<Option<JobRow>, BackupError> {
        let job = self
            .db
            .write(move |conn| requests::record_deletion(conn, &project, backup_id, Utc::now().naive_utc()))
            .await?;
        if let Some(job) = &job {
            tracing::info!(%backup_id, job_id = %job.id, "backup deletion requested");
        }
        Ok(job)
    }

    /// Like [`Self::request_deletion`], but answers the running deletion's job when the backup
    /// is being deleted already (the VBS delete answers a job id either way).
    pub async fn request_deletion_job(
        &self,
        project: ProjectId,
        backup_id: ResourceId,
    ) -> Result<JobRow, BackupError> {
        self.db
            .write(move |conn| {
                if let Some(job) =
                    requests::record_deletion(conn, &project, backup_id, Utc::now().naive_utc())?
                {
                    return Ok(job);
                }
                jobs::unfinished_for_backup(conn, backup_id)?
                    .into_iter()
                    .find(|j| j.job_type() == Some(crate::domain::JobType::Delete))
                    .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_string()))
            })
            .await
    }

    /// The project's backup or one shared with it, or `BackupNotFound`.
    pub async fn backup(&self, project: ProjectId, id: ResourceId) -> Result<BackupRow, BackupError> {
        self.backup_in(super::Reach::Visible(project), id).await
    }

    /// One page of the project's backups (of every project's, for `all_projects`).
    pub async fn list(&self, project: ProjectId, query: ListQuery) -> Result<Page, BackupError> {
        self.list_with(project, query, backups::list).await
    }

    /// [`Self::list`], reading only what the summary list shows.
    pub async fn list_summaries(
        &self,
        project: ProjectId,
        query: ListQuery,
    ) -> Result<Page<BackupSummaryRow>, BackupError> {
        self.list_with(project, query, backups::list_summaries).await
    }

    async fn list_with<R: Listed + Send + 'static>(
        &self,
        project: ProjectId,
        query: ListQuery,
        load: ListFn<R>,
    ) -> Result<Page<R>, BackupError> {
        if query.matches_nothing() {
            return Ok(Page::empty(&query));
        }
        let filter = query.filter.clone();
        let window = query.window();
        let windowed = window.is_some();
        let marker = query.marker()?;
        let scope = (!query.all_projects).then_some(project);
        let rows = match (marker, window) {
            // A page after a marker: the marker's place in the order, then the rows after it,
            // in one snapshot.
            (Some((id, given)), Some(mut window)) => {
                self.db
                    .read_snapshot(move |conn| {
                        let m = backups::marker(conn, scope.as_ref(), &filter, id)?
                            .ok_or_else(|| list::marker_not_listed(&given))?;
                        window.after = Some(m);
                        Ok(load(conn, scope.as_ref(), &filter, Some(&window))?)
                    })
                    .await?
            }
            (_, window) => {
                self.db.read(move |conn| Ok(load(conn, scope.as_ref(), &filter, window.as_ref())?)).await?
            }
        };
        query.page(rows, windowed)
    }

    /// The job, or `JobNotFound`.
    pub async fn job(&self, project: ProjectId, id: ResourceId) -> Result<JobRow, BackupError> {
        self.db
            .read(move |conn| jobs::find(conn, &project, id)?.ok_or(BackupError::JobNotFound(id.to_string())))
            .await
    }

    /// A volume of the project, as the volume driver sees it.
    pub async fn volume(&self, project: ProjectId, id: ResourceId) -> Result<Volume, BackupError> {
        self.with_volumes(move |drv| {
            drv.volume(&project, id).map_err(|e| match e {
                VolumeError::VolumeNotFound(_) => BackupError::NoSuchVolume(id.to_string()),
                other => volume_error(other),
            })
        })
        .await
    }

    /// Every volume of the project.
    pub async fn volumes(&self, project: ProjectId) -> Result<Vec<Volume>, BackupError> {
        self.with_volumes(move |drv| drv.volumes(&project).map_err(volume_error)).await
    }

    /// `(number of backups, their total size in GiB)`.
    pub async fn usage(&self, project: ProjectId) -> Result<(i64, i64), BackupError> {
        self.db.read(move |conn| Ok(backups::usage(conn, &project)?)).await
    }

    /// Runs blocking volume-driver work off the executor.
    async fn with_volumes<T, F>(&self, f: F) -> Result<T, BackupError>
    where
        F: FnOnce(&dyn VolumeDriver) -> Result<T, BackupError> + Send + 'static,
        T: Send + 'static,
    {
        let volumes = self.volumes.clone();
        service_kit::telemetry::spawn_blocking_in_span(move || f(volumes.as_ref()))
            .await
            .map_err(|e| BackupError::from(anyhow::Error::from(e)))?
    }
}

/// Maps a driver failure to what the tenant may learn: a volume or snapshot that is not
/// there, or is not usable as one, does not exist for them.
fn volume_error(e: VolumeError) -> BackupError {
    match e {
        VolumeError::VolumeNotFound(v) => BackupError::VolumeNotFound(v.to_string()),
        VolumeError::SnapshotNotFound { volume, snapshot } => {
            BackupError::SnapshotNotFound { volume: volume.to_string(), snapshot: snapshot.to_string() }
        }
        VolumeError::Refused { ref path, reason } => {
            tracing::warn!(path = %path.display(), reason, "volume data refused");
            anyhow::anyhow!(e).into()
        }
        e @ VolumeError::Io { .. } => anyhow::anyhow!(e).into(),
        VolumeError::Backend(cause) => {
            BackupError::Internal(InternalError::BackendUnavailable { what: "the volume backend", cause })
        }
    }
}
