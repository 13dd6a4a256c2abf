//! The `backups` table: one row per backup, from its request until its deletion completed. The
//! engine's manifest in the object store holds the data; this row holds what clients see.

use std::collections::BTreeMap;

use api_types::domain::{ProjectId, ResourceId};
use chrono::NaiveDateTime;
use diesel::{
    pg::Pg,
    prelude::*,
    sql_types::{BigInt, Bool, Nullable, Text, Timestamp},
};
use service_kit::db::{DbId, DbProjectId};

use super::schema::backups;
use crate::domain::BackupStatus;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = backups)]
pub struct BackupRow {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub volume_id: DbId,
    pub snapshot_id: Option<DbId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub policy_id: Option<DbId>,
    pub parent_id: Option<DbId>,
    pub volume_bytes: i64,
    pub size_gib: i64,
    pub object_count: Option<i64>,
    pub stored_bytes: Option<i64>,
    pub progress_done: i64,
    pub progress_total: i64,
    pub crash_consistent: bool,
    pub fail_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub data_timestamp: Option<NaiveDateTime>,
    /// A JSON object of strings (Cinder's backup metadata).
    pub metadata: String,
    pub availability_zone: Option<String>,
}

impl BackupRow {
    pub fn status(&self) -> Option<BackupStatus> {
        BackupStatus::parse(&self.status)
    }

    /// The metadata as stored (an unreadable value reads as none: only this service writes it).
    pub fn metadata(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.metadata).unwrap_or_default()
    }
}

/// What the summary list shows of a backup (id, name, links) and what a list sorts by: 7 of
/// the row's 22 columns.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = backups)]
pub struct BackupSummaryRow {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub name: Option<String>,
    pub status: String,
    pub size_gib: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A backup as a list holds it: what it is shown, ordered and paged by.
pub trait Listed {
    fn id(&self) -> &DbId;
    fn project_id(&self) -> &DbProjectId;
    fn name(&self) -> Option<&str>;
    /// The status as stored (what a list sorts by).
    fn status_text(&self) -> &str;
    fn size_gib(&self) -> i64;
    fn created_at(&self) -> NaiveDateTime;
    fn updated_at(&self) -> NaiveDateTime;
}

macro_rules! listed {
    ($row:ty) => {
        impl Listed for $row {
            fn id(&self) -> &DbId {
                &self.id
            }
            fn project_id(&self) -> &DbProjectId {
                &self.project_id
            }
            fn name(&self) -> Option<&str> {
                self.name.as_deref()
            }
            fn status_text(&self) -> &str {
                &self.status
            }
            fn size_gib(&self) -> i64 {
                self.size_gib
            }
            fn created_at(&self) -> NaiveDateTime {
                self.created_at
            }
            fn updated_at(&self) -> NaiveDateTime {
                self.updated_at
            }
        }
    };
}
listed!(BackupRow);
listed!(BackupSummaryRow);

/// What a list asks for besides the project (all optional; `None` matches everything).
#[derive(Debug, Clone, Default)]
pub struct BackupFilter {
    pub name: Option<String>,
    pub status: Option<BackupStatus>,
    pub volume_id: Option<ResourceId>,
    /// Of this project only (an admin's `project_id` filter).
    pub project: Option<ProjectId>,
}

/// What a finished backup stored, recorded when it becomes available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBackup {
    pub parent_id: Option<ResourceId>,
    pub object_count: i64,
    pub stored_bytes: i64,
    /// Bytes of the volume read (its length).
    pub volume_bytes: i64,
    pub size_gib: i64,
    pub crash_consistent: bool,
    pub data_timestamp: NaiveDateTime,
}

pub fn insert(conn: &mut PgConnection, row: &BackupRow) -> QueryResult<()> {
    diesel::insert_into(backups::table).values(row).execute(conn).map(drop)
}

pub fn find(conn: &mut PgConnection, project: &ProjectId, id: ResourceId) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::id.eq(DbId(id)))
        .filter(backups::project_id.eq(DbProjectId::from(project)))
        .select(BackupRow::as_select())
        .first(conn)
        .optional()
}

/// PostgreSQL-specific: the backup with its row locked until the transaction ends, so status
/// changes of one backup (delete, restore, a worker finishing) apply one after the other.
pub fn find_for_update(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::id.eq(DbId(id)))
        .filter(backups::project_id.eq(DbProjectId::from(project)))
        .select(BackupRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}

/// The backup if `project` owns it or it is shared with `project`, its row locked when `lock`.
pub fn find_visible(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
    lock: bool,
) -> QueryResult<Option<BackupRow>> {
    let q = backups::table
        .filter(backups::id.eq(DbId(id)))
        .filter(
            backups::project_id
                .eq(DbProjectId::from(project))
                .or(backups::id.eq_any(super::shares::shared_with(project))),
        )
        .select(BackupRow::as_select());
    if lock { q.for_update().first(conn).optional() } else { q.first(conn).optional() }
}

/// The backup, whichever project owns it (an admin's reach), its row locked when `lock`.
pub fn find_anywhere(conn: &mut PgConnection, id: ResourceId, lock: bool) -> QueryResult<Option<BackupRow>> {
    let q = backups::table.filter(backups::id.eq(DbId(id))).select(BackupRow::as_select());
    if lock { q.for_update().first(conn).optional() } else { q.first(conn).optional() }
}

/// What an update changes (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = backups)]
pub struct BackupChanges {
    pub name: Option<Option<String>>,
    pub description: Option<Option<String>>,
    /// The whole metadata, as a JSON object.
    pub metadata: Option<String>,
}

pub fn update(
    conn: &mut PgConnection,
    id: ResourceId,
    changes: &BackupChanges,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(backups::table.find(DbId(id)))
        .set((changes, backups::updated_at.eq(now)))
        .execute(conn)
        .map(drop)
}

/// A column a list is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    CreatedAt,
    UpdatedAt,
    Name,
    Status,
    Size,
    Id,
}

impl SortColumn {
    /// Compares two backups ascending by this column, as [`Self::term`] orders them in SQL.
    pub fn compare<R: Listed>(self, a: &R, b: &R) -> std::cmp::Ordering {
        match self {
            Self::CreatedAt => a.created_at().cmp(&b.created_at()),
            Self::UpdatedAt => a.updated_at().cmp(&b.updated_at()),
            Self::Name => a.name().cmp(&b.name()),
            Self::Status => a.status_text().cmp(b.status_text()),
            Self::Size => a.size_gib().cmp(&b.size_gib()),
            Self::Id => a.id().cmp(b.id()),
        }
    }

    /// The column as [`Self::then_order`] orders it (text by its bytes).
    fn ordered(self) -> &'static str {
        match self {
            Self::CreatedAt => "backups.created_at",
            Self::UpdatedAt => "backups.updated_at",
            Self::Name => "backups.name COLLATE \"C\"",
            Self::Status => "backups.status COLLATE \"C\"",
            Self::Size => "backups.size_gib",
            Self::Id => "backups.id COLLATE \"C\"",
        }
    }

    /// Backups strictly after the marker's value of this column, in this direction (a missing
    /// name sorts before any: first ascending, last descending).
    fn beyond(self, descending: bool, m: &BackupSummaryRow) -> Condition {
        let op = if descending { "<" } else { ">" };
        match (self, &m.name, descending) {
            (Self::Name, None, false) => Box::new(backups::name.is_not_null().nullable()),
            (Self::Name, None, true) => Box::new(diesel::dsl::sql::<Nullable<Bool>>("FALSE")),
            (Self::Name, Some(n), false) => compared::<Text>(self.ordered(), op, n.clone()),
            (Self::Name, Some(n), true) => Box::new(
                compared::<Text>(self.ordered(), op, n.clone()).or(backups::name.is_null().nullable()),
            ),
            _ => self.compared(op, m),
        }
    }

    /// Backups whose value of this column is the marker's.
    fn equal(self, m: &BackupSummaryRow) -> Condition {
        match (self, &m.name) {
            (Self::Name, None) => Box::new(backups::name.is_null().nullable()),
            _ => self.compared("=", m),
        }
    }

    /// The marker's value of this column and those after it, for a column that is never
    /// missing; `None` for the name.
    fn from(self, descending: bool, m: &BackupSummaryRow) -> Option<Condition> {
        (self != Self::Name).then(|| self.compared(if descending { "<=" } else { ">=" }, m))
    }

    /// This column compared with the marker's value of it.
    fn compared(self, op: &str, m: &BackupSummaryRow) -> Condition {
        let column = self.ordered();
        match self {
            Self::CreatedAt => compared::<Timestamp>(column, op, m.created_at),
            Self::UpdatedAt => compared::<Timestamp>(column, op, m.updated_at),
            Self::Size => compared::<BigInt>(column, op, m.size_gib),
            Self::Status => compared::<Text>(column, op, m.status.clone()),
            Self::Id => compared::<Text>(column, op, m.id.to_string()),
            // NULL, so no row, for a missing name: [`Self::beyond`] and [`Self::equal`] handle it.
            Self::Name => compared::<Nullable<Text>>(column, op, m.name.clone()),
        }
    }

    /// Orders `q` by this column as the caller's comparison of rows does: text by its bytes
    /// (`COLLATE "C"`, whatever the database's collation), a missing name before any. Typed,
    /// so a list's statement is prepared once per connection rather than parsed at every request.
    fn then_order<'a>(self, q: BoxedBackups<'a>, descending: bool) -> BoxedBackups<'a> {
        use backups as b;
        match (self, descending) {
            (Self::CreatedAt, true) => q.then_order_by(b::created_at.desc()),
            (Self::CreatedAt, false) => q.then_order_by(b::created_at.asc()),
            (Self::UpdatedAt, true) => q.then_order_by(b::updated_at.desc()),
            (Self::UpdatedAt, false) => q.then_order_by(b::updated_at.asc()),
            (Self::Name, true) => q.then_order_by(Bytewise(b::name).desc().nulls_last()),
            (Self::Name, false) => q.then_order_by(Bytewise(b::name).asc().nulls_first()),
            (Self::Status, true) => q.then_order_by(Bytewise(b::status).desc()),
            (Self::Status, false) => q.then_order_by(Bytewise(b::status).asc()),
            (Self::Size, true) => q.then_order_by(b::size_gib.desc()),
            (Self::Size, false) => q.then_order_by(b::size_gib.asc()),
            (Self::Id, true) => q.then_order_by(Bytewise(b::id).desc()),
            (Self::Id, false) => q.then_order_by(Bytewise(b::id).asc()),
        }
    }
}

type BoxedBackups<'a> = backups::BoxedQuery<'a, Pg>;

/// `text COLLATE "C"`: text compared by its bytes, as a list's order compares it in memory.
/// Its SQL never varies, so a statement holding it can be prepared and reused.
#[derive(Debug, Clone, Copy, diesel::query_builder::QueryId, diesel::expression::ValidGrouping)]
struct Bytewise<T>(T);

impl<T: Expression> Expression for Bytewise<T> {
    type SqlType = T::SqlType;
}

impl<T: diesel::query_builder::QueryFragment<Pg>> diesel::query_builder::QueryFragment<Pg> for Bytewise<T> {
    fn walk_ast<'b>(&'b self, mut out: diesel::query_builder::AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" COLLATE \"C\"");
        Ok(())
    }
}

impl<T: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for Bytewise<T> {}

impl<T: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for Bytewise<T> {}

/// `column op value`, the value bound. `column` is one of [`SortColumn::ordered`]'s, `op` a
/// comparison operator: never request text.
fn compared<ST>(
    column: &str,
    op: &str,
    value: impl diesel::expression::AsExpression<
        ST,
        Expression: diesel::query_builder::QueryFragment<Pg> + Send + 'static,
    >,
) -> Condition
where
    ST: diesel::sql_types::SqlType + diesel::expression::TypedExpressionType + 'static,
{
    Box::new(diesel::dsl::sql::<Nullable<Bool>>(&format!("{column} {op} ")).bind::<ST, _>(value))
}

/// The first `rows` backups of a list in `order` (keys with their direction, `true`:
/// descending; ties broken by id in the direction of the last key), after the marker backup
/// when there is one, when that is all the caller needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub order: Vec<(SortColumn, bool)>,
    pub rows: i64,
    /// The marker: the window starts after it (it is not in the window).
    pub after: Option<BackupSummaryRow>,
}

/// A condition on backups, as the keyset of a window builds it.
type Condition = Box<dyn BoxableExpression<backups::table, Pg, SqlType = Nullable<Bool>>>;

impl Window {
    /// The backups after the marker `m` in the window's order: `beyond(k1) OR (k1 = m.k1 AND
    /// (beyond(k2) OR …))` down to the id, which breaks every tie, and the first key's
    /// non-strict bound again on its own, which lets the index start at the marker.
    fn after_marker(&self, m: &BackupSummaryRow) -> Condition {
        let last_descending = self.order.last().is_some_and(|(_, d)| *d);
        let keys: Vec<(SortColumn, bool)> =
            self.order.iter().copied().chain([(SortColumn::Id, last_descending)]).collect();
        let mut after: Option<Condition> = None;
        for &(column, descending) in keys.iter().rev() {
            after = Some(match after {
                None => column.beyond(descending, m),
                Some(rest) => Box::new(column.beyond(descending, m).or(column.equal(m).and(rest))),
            });
        }
        let after = after.unwrap_or_else(|| Box::new(diesel::dsl::sql::<Nullable<Bool>>("TRUE")));
        match keys.first().and_then(|&(column, descending)| column.from(descending, m)) {
            Some(bound) => Box::new(bound.and(after)),
            None => after,
        }
    }
}

/// Every backup of a project, and those shared with it (of every project: `None`), matching the
/// filter. Without a window, in no particular order: the caller sorts and pages (a marker must
/// be found among them, a total counted). With one, only the window's rows, in its order, so a
/// first page of a long list costs the page rather than the list.
pub fn list(
    conn: &mut PgConnection,
    project: Option<&ProjectId>,
    filter: &BackupFilter,
    window: Option<&Window>,
) -> QueryResult<Vec<BackupRow>> {
    listing(conn, project, filter, window)?.select(BackupRow::as_select()).load(conn)
}

/// [`list`], reading only what the summary list shows and sorts by.
pub fn list_summaries(
    conn: &mut PgConnection,
    project: Option<&ProjectId>,
    filter: &BackupFilter,
    window: Option<&Window>,
) -> QueryResult<Vec<BackupSummaryRow>> {
    listing(conn, project, filter, window)?.select(BackupSummaryRow::as_select()).load(conn)
}

/// The marker of a list: the backup `id` if the list (the project's backups and those shared
/// with it, matching the filter) holds it, with what the list is ordered by.
pub fn marker(
    conn: &mut PgConnection,
    project: Option<&ProjectId>,
    filter: &BackupFilter,
    id: ResourceId,
) -> QueryResult<Option<BackupSummaryRow>> {
    listing(conn, project, filter, None)?
        .filter(backups::id.eq(DbId(id)))
        .select(BackupSummaryRow::as_select())
        .first(conn)
        .optional()
}

/// The query of [`list`], before its columns are chosen.
fn listing<'a>(
    conn: &mut PgConnection,
    project: Option<&ProjectId>,
    filter: &BackupFilter,
    window: Option<&Window>,
) -> QueryResult<backups::BoxedQuery<'a, diesel::pg::Pg>> {
    let mut q = backups::table.into_boxed();
    if let Some(p) = project {
        let own = backups::project_id.eq(DbProjectId::from(p));
        q = match window {
            // A window reads the project's backups in index order, which an `OR` with the
            // shared ones would prevent; most projects have none shared with them, so those are
            // looked up first and the `OR` added only when there are some.
            Some(_) => {
                let shared: Vec<DbId> = super::shares::shared_with(p).load(conn)?;
                if shared.is_empty() { q.filter(own) } else { q.filter(own.or(backups::id.eq_any(shared))) }
            }
            None => q.filter(own.or(backups::id.eq_any(super::shares::shared_with(p)))),
        };
    }
    if let Some(n) = &filter.name {
        q = q.filter(backups::name.eq(n.clone()));
    }
    if let Some(s) = filter.status {
        q = q.filter(backups::status.eq(s.as_str()));
    }
    if let Some(v) = filter.volume_id {
        q = q.filter(backups::volume_id.eq(DbId(v)));
    }
    if let Some(p) = &filter.project {
        q = q.filter(backups::project_id.eq(DbProjectId::from(p)));
    }
    if let Some(w) = window {
        let last_descending = w.order.last().is_some_and(|(_, d)| *d);
        for &(column, descending) in w.order.iter().chain([&(SortColumn::Id, last_descending)]) {
            q = column.then_order(q, descending);
        }
        q = q.limit(w.rows);
        if let Some(marker) = &w.after {
            q = q.filter(w.after_marker(marker));
        }
    }
    Ok(q)
}

pub fn set_status(
    conn: &mut PgConnection,
    id: ResourceId,
    status: BackupStatus,
    fail_reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(backups::table.find(DbId(id)))
        .set((
            backups::status.eq(status.as_str()),
            backups::fail_reason.eq(fail_reason),
            backups::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

pub fn delete(conn: &mut PgConnection, id: ResourceId) -> QueryResult<()> {
    diesel::delete(backups::table.find(DbId(id))).execute(conn).map(drop)
}

/// The newest available backup of a volume other than `except`: the parent of its next
/// incremental.
pub fn latest_available(
    conn: &mut PgConnection,
    project: &ProjectId,
    volume: ResourceId,
    except: ResourceId,
) -> QueryResult<Option<BackupRow>> {
    backups::table
        .filter(backups::project_id.eq(DbProjectId::from(project)))
        .filter(backups::volume_id.eq(DbId(volume)))
        .filter(backups::status.eq_any([BackupStatus::Available.as_str(), BackupStatus::Restoring.as_str()]))
        .filter(backups::id.ne(DbId(except)))
        .order((backups::created_at.desc(), backups::id.desc()))
        .select(BackupRow::as_select())
        .first(conn)
        .optional()
}

/// The available automatic backups one policy made of one volume: what retention chooses from.
pub fn auto_backups(
    conn: &mut PgConnection,
    project: &ProjectId,
    policy: ResourceId,
    volume: ResourceId,
) -> QueryResult<Vec<BackupRow>> {
    backups::table
        .filter(backups::project_id.eq(DbProjectId::from(project)))
        .filter(backups::policy_id.eq(DbId(policy)))
        .filter(backups::volume_id.eq(DbId(volume)))
        .filter(backups::status.eq(BackupStatus::Available.as_str()))
        .select(BackupRow::as_select())
        .load(conn)
}

/// `(number of backups, total size in GiB)` of a project, for quotas.
pub fn usage(conn: &mut PgConnection, project: &ProjectId) -> QueryResult<(i64, i64)> {
    let sizes: Vec<i64> = backups::table
        .filter(backups::project_id.eq(DbProjectId::from(project)))
        .select(backups::size_gib)
        .load(conn)?;
    Ok((sizes.len() as i64, sizes.iter().sum()))
}

/// When and how the data of a running backup was captured.
pub fn record_capture(
    conn: &mut PgConnection,
    id: ResourceId,
    data_timestamp: NaiveDateTime,
    crash_consistent: bool,
) -> QueryResult<()> {
    diesel::update(backups::table.find(DbId(id)))
        .set((backups::data_timestamp.eq(data_timestamp), backups::crash_consistent.eq(crash_consistent)))
        .execute(conn)
        .map(drop)
}

/// A running backup's progress, as its worker last reported it.
pub fn set_progress(conn: &mut PgConnection, id: ResourceId, done: i64, total: i64) -> QueryResult<()> {
    diesel::update(backups::table.find(DbId(id)))
        .set((backups::progress_done.eq(done), backups::progress_total.eq(total)))
        .execute(conn)
        .map(drop)
}

/// The backup is complete: `available`, with what it stored.
pub fn mark_available(
    conn: &mut PgConnection,
    id: ResourceId,
    stored: &StoredBackup,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(backups::table.find(DbId(id)))
        .set((
            backups::status.eq(BackupStatus::Available.as_str()),
            backups::parent_id.eq(stored.parent_id.map(DbId)),
            backups::object_count.eq(stored.object_count),
            backups::stored_bytes.eq(stored.stored_bytes),
            backups::volume_bytes.eq(stored.volume_bytes),
            backups::size_gib.eq(stored.size_gib),
            backups::progress_done.eq(stored.volume_bytes),
            backups::progress_total.eq(stored.volume_bytes),
            backups::crash_consistent.eq(stored.crash_consistent),
            backups::data_timestamp.eq(stored.data_timestamp),
            backups::fail_reason.eq(None::<String>),
            backups::updated_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}
