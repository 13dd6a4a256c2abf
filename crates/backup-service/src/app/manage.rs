//! Changing a recorded backup: its name, description and metadata (members of its project),
//! and what only an admin does — reset its status, force its deletion, export its record and
//! import one back.

use std::collections::BTreeMap;

use api_types::{
    domain::{ProjectId, ResourceId},
    message::TaskOutcome,
};
use base64::Engine as _;
use chrono::{NaiveDateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use service_kit::db::{DbId, DbProjectId};

use super::{Backups, requests};
use crate::{
    domain::{BackupStatus, JobStatus, JobType},
    error::BackupError,
    store::{
        BackupRow, JobRow,
        backups::{self, BackupChanges},
        jobs,
    },
};

/// The backups a caller reaches: those of the path's project (to change them), those and the
/// ones shared with it (to read them), or, for an admin, any project's (as Cinder's admin
/// context does).
#[derive(Debug, Clone)]
pub enum Reach {
    Project(ProjectId),
    Visible(ProjectId),
    AnyProject,
}

impl Reach {
    /// What a caller may change.
    pub fn new(project: ProjectId, admin: bool) -> Self {
        if admin { Self::AnyProject } else { Self::Project(project) }
    }

    /// What a caller may read.
    pub fn reading(project: ProjectId, admin: bool) -> Self {
        if admin { Self::AnyProject } else { Self::Visible(project) }
    }
}

/// The backup `id` within `reach`, its row locked when `lock`.
pub fn find(
    conn: &mut PgConnection,
    reach: &Reach,
    id: ResourceId,
    lock: bool,
) -> Result<BackupRow, BackupError> {
    let found = match (reach, lock) {
        (Reach::Project(p), false) => backups::find(conn, p, id)?,
        (Reach::Project(p), true) => backups::find_for_update(conn, p, id)?,
        (Reach::Visible(p), lock) => backups::find_visible(conn, p, id, lock)?,
        (Reach::AnyProject, lock) => backups::find_anywhere(conn, id, lock)?,
    };
    found.ok_or_else(|| BackupError::BackupNotFound(id.to_string()))
}

/// What `export_record` hands out and `import_record` takes back: the row's facts a
/// deployment that uses the same object store needs to serve the backup again. Carried
/// base64-encoded in Cinder's `backup_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The record's layout.
    pub format: u32,
    pub id: String,
    pub project_id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parent_id: Option<String>,
    pub volume_bytes: i64,
    pub object_count: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub crash_consistent: bool,
    pub created_at: NaiveDateTime,
    pub data_timestamp: Option<NaiveDateTime>,
    pub metadata: BTreeMap<String, String>,
    pub availability_zone: Option<String>,
}

/// The `backup_service` of this service's records.
pub const RECORD_SERVICE: &str = "vbs.backup_engine";
const RECORD_FORMAT: u32 = 1;

impl BackupRecord {
    fn of(row: &BackupRow) -> Self {
        Self {
            format: RECORD_FORMAT,
            id: row.id.to_string(),
            project_id: row.project_id.to_string(),
            volume_id: row.volume_id.to_string(),
            name: row.name.clone(),
            description: row.description.clone(),
            parent_id: row.parent_id.map(|p| p.to_string()),
            volume_bytes: row.volume_bytes,
            object_count: row.object_count,
            stored_bytes: row.stored_bytes,
            crash_consistent: row.crash_consistent,
            created_at: row.created_at,
            data_timestamp: row.data_timestamp,
            metadata: row.metadata(),
            availability_zone: row.availability_zone.clone(),
        }
    }

    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    /// The record with its ids parsed; `None` for anything that is not a record this service
    /// wrote.
    pub fn decode(url: &str) -> Option<(Self, ProjectId, ResourceId)> {
        let json = base64::engine::general_purpose::STANDARD.decode(url.trim()).ok()?;
        let record: Self = serde_json::from_slice(&json).ok()?;
        let project = ProjectId::parse(&record.project_id).ok()?;
        let id = ResourceId::parse("id", &record.id).ok()?;
        ResourceId::parse("volume_id", &record.volume_id).ok()?;
        if let Some(p) = &record.parent_id {
            ResourceId::parse("parent_id", p).ok()?;
        }
        (record.format == RECORD_FORMAT && record.volume_bytes >= 0).then_some((record, project, id))
    }

    /// The row of a decoded record.
    fn into_row(self, project: &ProjectId, id: ResourceId, now: NaiveDateTime) -> BackupRow {
        let parse = |s: &str| ResourceId::parse("id", s).map(DbId).ok();
        BackupRow {
            id: DbId(id),
            project_id: DbProjectId::from(project),
            volume_id: parse(&self.volume_id).unwrap_or(DbId(id)),
            snapshot_id: None,
            name: self.name,
            description: self.description,
            status: BackupStatus::Available.as_str().to_owned(),
            policy_id: None,
            parent_id: self.parent_id.as_deref().and_then(parse),
            volume_bytes: self.volume_bytes,
            size_gib: crate::domain::size_gib(u64::try_from(self.volume_bytes).unwrap_or(0)),
            object_count: self.object_count,
            stored_bytes: self.stored_bytes,
            progress_done: self.volume_bytes,
            progress_total: self.volume_bytes,
            crash_consistent: self.crash_consistent,
            fail_reason: None,
            created_at: self.created_at,
            updated_at: now,
            data_timestamp: self.data_timestamp,
            metadata: serde_json::to_string(&self.metadata).unwrap_or_else(|_| "{}".to_owned()),
            availability_zone: self.availability_zone,
        }
    }
}

/// Why a force-deleted backup's running work ended.
const CANCELLED: (&str, &str) = (
    api_types::error::codes::volume_backup::DELETE_REQUEST_INVALID,
    "cancelled: the backup was force-deleted",
);

impl Backups {
    /// The backup, within the caller's reach.
    pub async fn backup_in(&self, reach: Reach, id: ResourceId) -> Result<BackupRow, BackupError> {
        self.db.read(move |conn| find(conn, &reach, id, false)).await
    }

    /// Changes name, description or metadata; returns the backup as it now is.
    pub async fn update(
        &self,
        reach: Reach,
        id: ResourceId,
        changes: BackupChanges,
    ) -> Result<BackupRow, BackupError> {
        self.db
            .write(move |conn| {
                find(conn, &reach, id, true)?;
                backups::update(conn, id, &changes, Utc::now().naive_utc())?;
                find(conn, &reach, id, false)
            })
            .await
    }

    /// Applies `change` to the backup's metadata; returns the metadata as it now is.
    pub async fn change_metadata<F>(
        &self,
        reach: Reach,
        id: ResourceId,
        change: F,
    ) -> Result<BTreeMap<String, String>, BackupError>
    where
        F: FnOnce(&mut BTreeMap<String, String>) -> Result<(), BackupError> + Send + 'static,
    {
        self.db
            .write(move |conn| {
                let mut metadata = find(conn, &reach, id, true)?.metadata();
                change(&mut metadata)?;
                let json = serde_json::to_string(&metadata).map_err(anyhow::Error::from)?;
                let changes = BackupChanges { metadata: Some(json), ..BackupChanges::default() };
                backups::update(conn, id, &changes, Utc::now().naive_utc())?;
                Ok(metadata)
            })
            .await
    }

    /// Sets the status of any project's backup (admin): `available` or `error`, as Cinder
    /// allows. Running work is not touched.
    pub async fn reset_status(&self, id: ResourceId, status: BackupStatus) -> Result<(), BackupError> {
        self.db
            .write(move |conn| {
                let row = find(conn, &Reach::AnyProject, id, true)?;
                let reason = (status == BackupStatus::Error)
                    .then(|| row.fail_reason.clone().unwrap_or_else(|| "status reset by an admin".to_owned()));
                backups::set_status(conn, id, status, reason.as_deref(), Utc::now().naive_utc())?;
                tracing::info!(backup_id = %id, from = row.status, to = status.as_str(), "backup status reset");
                Ok(())
            })
            .await
    }

    /// Deletes any project's backup whatever it is doing (admin): a running backup or restore
    /// is cancelled (its worker stops at its next heartbeat; what it wrote is reclaimed by
    /// garbage collection), then the backup is deleted as usual.
    pub async fn force_delete(&self, id: ResourceId) -> Result<Option<JobRow>, BackupError> {
        self.db
            .write(move |conn| {
                let row = find(conn, &Reach::AnyProject, id, true)?;
                let now = Utc::now().naive_utc();
                for job in jobs::unfinished_for_backup(conn, id)? {
                    if job.job_type() == Some(JobType::Delete) {
                        return Ok(None);
                    }
                    jobs::end(conn, *job.id, JobStatus::Fail, Some(CANCELLED), now)?;
                    // A policy backup's task ends now, not at its deadline.
                    if job.job_type() == Some(JobType::Create) {
                        let outcome = TaskOutcome::ExecuteFail { code: CANCELLED.0.to_owned(), message: CANCELLED.1.to_owned() };
                        requests::report_task(conn, &job, outcome)?;
                    }
                    tracing::info!(backup_id = %id, job_id = %job.id, "running job cancelled by a force delete");
                }
                if !row.status().is_some_and(BackupStatus::deletable) {
                    backups::set_status(conn, id, BackupStatus::Error, Some(CANCELLED.1), now)?;
                }
                requests::record_deletion(conn, &row.project_id.0, id, now)
            })
            .await
    }

    /// The record of any project's available backup (admin).
    pub async fn export_record(&self, id: ResourceId) -> Result<BackupRecord, BackupError> {
        let row = self.backup_in(Reach::AnyProject, id).await?;
        if row.status() != Some(BackupStatus::Available) {
            return Err(BackupError::BackupStatus {
                id: id.to_string(),
                status: row.status,
                wanted: "only an available backup can be exported",
            });
        }
        Ok(BackupRecord::of(&row))
    }

    /// Brings back a backup from its record (admin): its manifest must be in the object
    /// store, and no backup of that id may exist.
    pub async fn import_record(
        &self,
        record: BackupRecord,
        project: ProjectId,
        id: ResourceId,
    ) -> Result<BackupRow, BackupError> {
        match self.engine.backup_info(project.as_str(), &id.to_string()).await {
            Ok(info) if u64::try_from(record.volume_bytes).is_ok_and(|b| b == info.volume_len) => {}
            Ok(_) => {
                return Err(BackupError::ImportRefused(format!(
                    "backup {id} in the object store is not this record's"
                )));
            }
            Err(backup_engine::EngineError::BackupNotFound(_)) => {
                return Err(BackupError::ImportRefused(format!(
                    "the object store holds no backup {id} of project {project}"
                )));
            }
            Err(e) => return Err(anyhow::Error::from(e).context("reading the manifest").into()),
        }
        let row = record.into_row(&project, id, Utc::now().naive_utc());
        self.db
            .write(move |conn| {
                if backups::find_anywhere(conn, id, true)?.is_some() {
                    return Err(BackupError::ImportRefused(format!("backup {id} already exists")));
                }
                backups::insert(conn, &row)?;
                crate::store::projects::note_storage(conn, &project, row.updated_at)?;
                tracing::info!(backup_id = %id, project_id = %project, "backup imported");
                Ok(row)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_foreign_ones_are_refused() {
        let id = ResourceId::new_v4();
        let record = BackupRecord {
            format: RECORD_FORMAT,
            id: id.to_string(),
            project_id: "p1".into(),
            volume_id: ResourceId::new_v4().to_string(),
            name: Some("n".into()),
            description: None,
            parent_id: None,
            volume_bytes: 4096,
            object_count: Some(2),
            stored_bytes: Some(100),
            crash_consistent: false,
            created_at: Utc::now().naive_utc(),
            data_timestamp: None,
            metadata: BTreeMap::from([("k".into(), "v".into())]),
            availability_zone: None,
        };
        let project = ProjectId::parse("p1").unwrap();
        assert_eq!(BackupRecord::decode(&record.encode()), Some((record.clone(), project, id)));
        let foreign = BackupRecord { project_id: "../x".into(), ..record };
        assert_eq!(BackupRecord::decode(&foreign.encode()), None);
        assert_eq!(BackupRecord::decode("bm90IGpzb24="), None);
        assert_eq!(BackupRecord::decode("%%%"), None);
    }
}
