//! Projects with data in the object store (`project_storage`, for the periodic garbage
//! collection) and the per-project advisory lock that keeps garbage collection and backup
//! deletion of one project apart.

use api_types::domain::ProjectId;
use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    sql_types::{Bool, Text},
};
use service_kit::db::DbProjectId;

use super::schema::project_storage;

/// Records that a project has data in the object store.
pub fn note_storage(conn: &mut PgConnection, project: &ProjectId, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(project_storage::table)
        .values((
            project_storage::project_id.eq(DbProjectId::from(project)),
            project_storage::created_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .map(drop)
}

/// Projects whose last GC is older than `before` (or that never had one).
pub fn due_for_gc(conn: &mut PgConnection, before: NaiveDateTime) -> QueryResult<Vec<ProjectId>> {
    project_storage::table
        .filter(project_storage::last_gc_at.is_null().or(project_storage::last_gc_at.lt(before)))
        .order(project_storage::project_id)
        .select(project_storage::project_id)
        .load::<DbProjectId>(conn)
        .map(|ids| ids.into_iter().map(ProjectId::from).collect())
}

pub fn mark_gc_done(conn: &mut PgConnection, project: &ProjectId, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(project_storage::table.find(DbProjectId::from(project)))
        .set(project_storage::last_gc_at.eq(now))
        .execute(conn)
        .map(drop)
}

/// The advisory lock key of a project's object-store prefix.
pub fn lock_key(project: &ProjectId) -> String {
    format!("vbs-backup-store:{project}")
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// PostgreSQL-specific: `pg_try_advisory_lock` on a hash of the key, held by this connection's
/// session until [`unlock`] (or until the connection closes).
pub fn try_lock(conn: &mut PgConnection, key: &str) -> QueryResult<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked")
        .bind::<Text, _>(key)
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

pub fn unlock(conn: &mut PgConnection, key: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS locked")
        .bind::<Text, _>(key)
        .get_result::<Locked>(conn)
        .map(drop)
}
