//! The `backup_shares` table: which project shared which backup with which other project.

use api_types::domain::{ProjectId, ResourceId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use service_kit::db::{DbId, DbProjectId};

use super::{
    BackupRow,
    schema::{backup_shares, backups},
};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = backup_shares)]
pub struct ShareRow {
    pub id: DbId,
    pub backup_id: DbId,
    pub from_project_id: DbProjectId,
    pub to_project_id: DbProjectId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Which shares a list asks for, besides the caller's side of them.
#[derive(Debug, Clone, Default)]
pub struct ShareFilter {
    pub backup_id: Option<ResourceId>,
    pub to_project: Option<ProjectId>,
    pub from_project: Option<ProjectId>,
    pub volume_id: Option<ResourceId>,
    pub backup_name: Option<String>,
    pub backup_status: Option<String>,
}

pub fn insert(conn: &mut PgConnection, rows: &[ShareRow]) -> QueryResult<()> {
    diesel::insert_into(backup_shares::table).values(rows).execute(conn).map(drop)
}

/// The projects a backup is shared with.
pub fn recipients(conn: &mut PgConnection, backup: ResourceId) -> QueryResult<Vec<DbProjectId>> {
    backup_shares::table
        .filter(backup_shares::backup_id.eq(DbId(backup)))
        .select(backup_shares::to_project_id)
        .load(conn)
}

/// Whether `backup` is shared with `project`.
pub fn is_shared_with(conn: &mut PgConnection, backup: ResourceId, project: &ProjectId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        backup_shares::table
            .filter(backup_shares::backup_id.eq(DbId(backup)))
            .filter(backup_shares::to_project_id.eq(DbProjectId::from(project))),
    ))
    .get_result(conn)
}

/// The ids of the backups shared with `project`, as a subquery.
pub fn shared_with(
    project: &ProjectId,
) -> backup_shares::BoxedQuery<'static, diesel::pg::Pg, diesel::sql_types::Text> {
    backup_shares::table
        .filter(backup_shares::to_project_id.eq(DbProjectId::from(project)))
        .select(backup_shares::backup_id)
        .into_boxed()
}

/// The shares `project` made (`to_me` false) or received (`to_me` true) matching the filter,
/// each with its backup, oldest first.
pub fn list(
    conn: &mut PgConnection,
    project: &ProjectId,
    to_me: bool,
    filter: &ShareFilter,
) -> QueryResult<Vec<(ShareRow, BackupRow)>> {
    let mut q = backup_shares::table.inner_join(backups::table).into_boxed();
    q = if to_me {
        q.filter(backup_shares::to_project_id.eq(DbProjectId::from(project)))
    } else {
        q.filter(backup_shares::from_project_id.eq(DbProjectId::from(project)))
    };
    if let Some(b) = filter.backup_id {
        q = q.filter(backup_shares::backup_id.eq(DbId(b)));
    }
    if let Some(p) = &filter.to_project {
        q = q.filter(backup_shares::to_project_id.eq(DbProjectId::from(p)));
    }
    if let Some(p) = &filter.from_project {
        q = q.filter(backup_shares::from_project_id.eq(DbProjectId::from(p)));
    }
    if let Some(v) = filter.volume_id {
        q = q.filter(backups::volume_id.eq(DbId(v)));
    }
    if let Some(n) = &filter.backup_name {
        q = q.filter(backups::name.eq(n));
    }
    if let Some(s) = &filter.backup_status {
        q = q.filter(backups::status.eq(s));
    }
    q.order((backup_shares::created_at.asc(), backup_shares::id.asc()))
        .select((ShareRow::as_select(), BackupRow::as_select()))
        .load(conn)
}

/// A share `project` made or received, with its backup.
pub fn find(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> QueryResult<Option<(ShareRow, BackupRow)>> {
    let p = DbProjectId::from(project);
    backup_shares::table
        .inner_join(backups::table)
        .filter(backup_shares::id.eq(DbId(id)))
        .filter(backup_shares::from_project_id.eq(p.clone()).or(backup_shares::to_project_id.eq(p)))
        .select((ShareRow::as_select(), BackupRow::as_select()))
        .first(conn)
        .optional()
}

/// Deletes a share `project` made; `false` when there is none.
pub fn delete(conn: &mut PgConnection, project: &ProjectId, id: ResourceId) -> QueryResult<bool> {
    let n = diesel::delete(
        backup_shares::table
            .filter(backup_shares::id.eq(DbId(id)))
            .filter(backup_shares::from_project_id.eq(DbProjectId::from(project))),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Deletes every share `project` made of `backup`; how many there were.
pub fn delete_for_backup(
    conn: &mut PgConnection,
    project: &ProjectId,
    backup: ResourceId,
) -> QueryResult<usize> {
    diesel::delete(
        backup_shares::table
            .filter(backup_shares::backup_id.eq(DbId(backup)))
            .filter(backup_shares::from_project_id.eq(DbProjectId::from(project))),
    )
    .execute(conn)
}
