//! Sharing a backup with other projects: the owner shares an available backup; the recipients
//! see it (show, list) and may restore it into their own volumes, never change, delete or
//! share it again. Deleting the backup ends its shares.

use api_types::{
    domain::{ProjectId, ResourceId, ValidationError},
    error::codes::volume_backup as vb,
};
use chrono::Utc;
use service_kit::db::{DbId, DbProjectId};

use super::Backups;
use crate::{
    domain::BackupStatus,
    error::BackupError,
    store::{
        BackupRow, backups,
        shares::{self, ShareFilter, ShareRow},
    },
};

/// The most projects one request shares a backup with.
pub const MAX_RECIPIENTS: usize = 10;

/// A share list request, validated.
#[derive(Debug, Clone, Default)]
pub struct ShareQuery {
    /// The shares made to the caller, rather than by it.
    pub to_me: bool,
    pub filter: ShareFilter,
    pub availability_zone: Option<String>,
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
}

fn invalid(field: &'static str, message: String) -> BackupError {
    ValidationError::new(field, message).with_code(vb::SHARE_INVALID).into()
}

impl Backups {
    /// Shares `owner`'s available backup with each of `to`.
    pub async fn share(
        &self,
        owner: ProjectId,
        backup_id: ResourceId,
        to: Vec<ProjectId>,
    ) -> Result<Vec<ShareRow>, BackupError> {
        if to.is_empty() || to.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "shared.to_project_ids",
                format!("must name 1 to {MAX_RECIPIENTS} projects"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for p in &to {
            if *p == owner {
                return Err(invalid(
                    "shared.to_project_ids",
                    "a backup is not shared with its own project".into(),
                ));
            }
            if !seen.insert(p) {
                return Err(invalid("shared.to_project_ids", format!("project {p} is named twice")));
            }
        }
        self.db
            .write(move |conn| {
                // Only the owner shares: a backup shared with this project is not its to share.
                let backup = backups::find_for_update(conn, &owner, backup_id)?
                    .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_string()))?;
                if backup.status() != Some(BackupStatus::Available) {
                    return Err(BackupError::BackupStatus {
                        id: backup_id.to_string(),
                        status: backup.status,
                        wanted: "only an available backup can be shared",
                    });
                }
                let already = shares::recipients(conn, backup_id)?;
                if let Some(p) = to.iter().find(|p| already.iter().any(|a| a.0 == **p)) {
                    return Err(invalid(
                        "shared.to_project_ids",
                        format!("backup {backup_id} is shared with {p} already"),
                    ));
                }
                let now = Utc::now().naive_utc();
                let rows: Vec<ShareRow> = to
                    .iter()
                    .map(|p| ShareRow {
                        id: DbId::new_v4(),
                        backup_id: DbId(backup_id),
                        from_project_id: DbProjectId::from(&owner),
                        to_project_id: DbProjectId::from(p),
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                shares::insert(conn, &rows)?;
                tracing::info!(%backup_id, recipients = rows.len(), "backup shared");
                Ok(rows)
            })
            .await
    }

    /// A page of the shares `project` made (or received) and whether more follow; with
    /// `count`, the number of all that match instead of a page.
    pub async fn shares(
        &self,
        project: ProjectId,
        query: ShareQuery,
    ) -> Result<(Vec<(ShareRow, BackupRow)>, usize), BackupError> {
        let filter = query.filter.clone();
        let mut rows =
            self.db.read(move |conn| Ok(shares::list(conn, &project, query.to_me, &filter)?)).await?;
        if let Some(zone) = &query.availability_zone {
            rows.retain(|(_, b)| b.availability_zone.as_deref() == Some(zone.as_str()));
        }
        if query.descending {
            rows.reverse();
        }
        let total = rows.len();
        let page = rows.into_iter().skip(query.offset).take(query.limit).collect();
        Ok((page, total))
    }

    /// A share `project` made or received.
    pub async fn share_of(
        &self,
        project: ProjectId,
        id: ResourceId,
    ) -> Result<(ShareRow, BackupRow), BackupError> {
        self.db
            .read(move |conn| {
                shares::find(conn, &project, id)?.ok_or_else(|| BackupError::ShareNotFound(id.to_string()))
            })
            .await
    }

    /// Ends a share `project` made.
    pub async fn end_share(&self, project: ProjectId, id: ResourceId) -> Result<(), BackupError> {
        self.db
            .write(move |conn| {
                if !shares::delete(conn, &project, id)? {
                    return Err(BackupError::ShareNotFound(id.to_string()));
                }
                tracing::info!(share_id = %id, "backup share ended");
                Ok(())
            })
            .await
    }

    /// Ends every share of `project`'s backup.
    pub async fn end_shares_of(&self, project: ProjectId, backup_id: ResourceId) -> Result<(), BackupError> {
        self.db
            .write(move |conn| {
                backups::find(conn, &project, backup_id)?
                    .ok_or_else(|| BackupError::BackupNotFound(backup_id.to_string()))?;
                let ended = shares::delete_for_backup(conn, &project, backup_id)?;
                tracing::info!(%backup_id, ended, "backup shares ended");
                Ok(())
            })
            .await
    }
}
