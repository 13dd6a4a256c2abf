//! The policy database (`vbs_policy`): policies, their volumes and tags.
//!
//! Functions take a connection and return `QueryResult`, so handlers compose them inside one
//! transaction together with the outbox row that announces the change. Ids go in and come out
//! typed ([`ProjectId`], [`ResourceId`]); rows hold them as [`DbId`] / [`DbProjectId`], which
//! are read back as valid ids or fail the query. Queries stay portable (text ids, `TIMESTAMP`
//! columns); PostgreSQL-only are the one-statement [`create_policy`] and the row locks of
//! [`lock_project`] and [`find_policy_for_update`].

pub mod schema;

use api_types::domain::{
    Frequency, PolicyName, PolicyStatus, ProjectId, ResourceId, Retention, RetentionDays, RetentionNum,
    Schedule, StartTimes, Tag, TimeZoneOffset, WeekDays,
};
use chrono::NaiveDateTime;
use diesel::{prelude::*, upsert::excluded};
use service_kit::{
    db::{DbId, DbProjectId},
    outbox::Encoded,
};

use crate::domain::policy::PolicySettings;
use schema::{policies, policy_tags, policy_volumes, projects};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = policies, treat_none_as_null = true)]
pub struct PolicyRow {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub name: String,
    pub start_times: String,
    pub frequency: Option<i16>,
    pub week_days: Option<String>,
    pub retention_num: Option<i16>,
    pub retention_days: Option<i32>,
    pub keep_first_of_month: bool,
    pub enabled: bool,
    pub time_zone: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl PolicyRow {
    pub fn new(
        id: ResourceId,
        project: &ProjectId,
        name: &PolicyName,
        settings: &PolicySettings,
        now: NaiveDateTime,
    ) -> Self {
        let mut row = Self {
            id: id.into(),
            project_id: project.into(),
            name: name.as_str().to_owned(),
            start_times: String::new(),
            frequency: None,
            week_days: None,
            retention_num: None,
            retention_days: None,
            keep_first_of_month: false,
            enabled: false,
            time_zone: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        row.set_settings(settings);
        row
    }

    pub fn set_settings(&mut self, s: &PolicySettings) {
        self.start_times = s.start_times.to_string();
        self.frequency = s.schedule.frequency().map(|f| i16::from(f.days()));
        self.week_days = s.schedule.week_days().map(|w| w.to_strings().join(","));
        self.retention_num = s.retention.num().map(|n| i16::from(n.get()));
        self.retention_days = s.retention.days().map(|d| d.get() as i32);
        self.keep_first_of_month = s.keep_first_of_month;
        self.enabled = s.status.is_on();
        self.time_zone = s.time_zone.map(|tz| tz.to_string());
    }

    /// Reads the settings back through the same parsers that admitted them, so a row edited by
    /// hand into something invalid is reported instead of served.
    pub fn settings(&self) -> anyhow::Result<PolicySettings> {
        let schedule = match (self.frequency, &self.week_days) {
            (Some(f), _) => Schedule::EveryNDays(Frequency::parse(i64::from(f))?),
            (None, Some(w)) => Schedule::Weekly(WeekDays::parse(&w.split(',').collect::<Vec<_>>())?),
            (None, None) => anyhow::bail!("policy {} has no schedule", self.id),
        };
        let retention = match (self.retention_num, self.retention_days) {
            (Some(n), _) => Retention::Count(RetentionNum::parse(i64::from(n))?),
            (None, Some(d)) => Retention::Days(RetentionDays::parse(i64::from(d))?),
            (None, None) => anyhow::bail!("policy {} has no retention", self.id),
        };
        Ok(PolicySettings {
            start_times: StartTimes::parse(&self.start_times)?,
            schedule,
            retention,
            keep_first_of_month: self.keep_first_of_month,
            status: if self.enabled { PolicyStatus::On } else { PolicyStatus::Off },
            time_zone: self.time_zone.as_deref().map(TimeZoneOffset::parse).transpose()?,
        })
    }
}

/// PostgreSQL-specific: takes the project's row lock (creating the row on first use), which
/// serializes changes to which policy holds which of the project's volumes. One statement: an
/// upsert that changes nothing still locks the row it conflicts with.
pub fn lock_project(conn: &mut PgConnection, project: &ProjectId, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(projects::table)
        .values((projects::project_id.eq(DbProjectId::from(project)), projects::created_at.eq(now)))
        .on_conflict(projects::project_id)
        .do_update()
        .set(projects::project_id.eq(excluded(projects::project_id)))
        .execute(conn)
        .map(drop)
}

/// PostgreSQL-specific: creates the policy of `row` with its tags and the outbox row announcing
/// it, in one statement, unless its project has `limit` policies already (`false`). The
/// project's row (created on first use) counts its policies and is the lock: `INSERT … ON
/// CONFLICT DO UPDATE … WHERE` locks it and checks the count of its latest committed version,
/// so concurrent creates in a project queue on it and the cap cannot be overrun. One statement
/// is atomic without a transaction: the whole create is one round trip. The statement lives in
/// the database function `create_policy` (migration `2026-12-07-000002_create_policy_function`),
/// which PL/pgSQL plans once per connection, called through a typed statement the connection
/// prepares once, so a create is not parsed and planned each time.
pub fn create_policy(
    conn: &mut PgConnection,
    row: &PolicyRow,
    tags: &[Tag],
    limit: i64,
    message: &Encoded,
) -> QueryResult<bool> {
    let keys: Vec<&str> = tags.iter().map(|t| t.key.as_str()).collect();
    let values: Vec<&str> = tags.iter().map(|t| t.value.as_str()).collect();
    debug_assert_eq!(row.version, 1, "the function creates version 1");
    let message_fields: Vec<Option<&str>> = vec![
        Some(message.message_id.as_str()),
        Some(message.routing_key.as_str()),
        Some(message.body.as_str()),
        message.traceparent.as_deref(),
    ];
    diesel::select(sql::create_policy(
        &row.project_id,
        row.created_at,
        i32::try_from(limit).unwrap_or(i32::MAX),
        &row.id,
        &row.name,
        &row.start_times,
        row.frequency,
        row.week_days.as_deref(),
        row.retention_num,
        row.retention_days,
        row.keep_first_of_month,
        row.enabled,
        row.time_zone.as_deref(),
        &keys,
        &values,
        message_fields,
    ))
    .get_result(conn)
}

/// The database's own functions (migrations), called through typed statements.
mod sql {
    use diesel::sql_types::{Array, Bool, Int2, Int4, Nullable, Text, Timestamp};

    diesel::define_sql_function! {
        /// Migration `2026-12-07-000002_create_policy_function`.
        #[allow(clippy::too_many_arguments)]
        fn create_policy(
            project_id: Text,
            now: Timestamp,
            cap: Int4,
            id: Text,
            name: Text,
            start_times: Text,
            frequency: Nullable<Int2>,
            week_days: Nullable<Text>,
            retention_num: Nullable<Int2>,
            retention_days: Nullable<Int4>,
            keep_first_of_month: Bool,
            enabled: Bool,
            time_zone: Nullable<Text>,
            tag_keys: Array<Text>,
            tag_values: Array<Text>,
            message: Array<Nullable<Text>>,
        ) -> Bool;
    }
}

pub fn count_policies(conn: &mut PgConnection, project: &ProjectId) -> QueryResult<i64> {
    policies::table.filter(policies::project_id.eq(DbProjectId::from(project))).count().get_result(conn)
}

pub fn find_policy(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> QueryResult<Option<PolicyRow>> {
    policies::table
        .filter(policies::id.eq(DbId(id)))
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .select(PolicyRow::as_select())
        .first(conn)
        .optional()
}

/// PostgreSQL-specific: the policy with its row locked until the transaction ends, so that
/// concurrent changes to one policy apply one after the other and versions never repeat.
pub fn find_policy_for_update(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> QueryResult<Option<PolicyRow>> {
    policies::table
        .filter(policies::id.eq(DbId(id)))
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .select(PolicyRow::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn list_policies(conn: &mut PgConnection, project: &ProjectId) -> QueryResult<Vec<PolicyRow>> {
    policies::table
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .order((policies::created_at.asc(), policies::id.asc()))
        .select(PolicyRow::as_select())
        .load(conn)
}

/// Writes the row back with its version increased; returns the new version.
pub fn save_policy(conn: &mut PgConnection, row: &mut PolicyRow, now: NaiveDateTime) -> QueryResult<i64> {
    row.version += 1;
    row.updated_at = now;
    diesel::update(policies::table.find(row.id)).set(&*row).execute(conn)?;
    Ok(row.version)
}

/// Deletes the policy (its volumes and tags go with it) and counts it out of its project.
pub fn delete_policy(conn: &mut PgConnection, id: ResourceId) -> QueryResult<usize> {
    let project: Option<DbProjectId> = diesel::delete(policies::table.find(DbId(id)))
        .returning(policies::project_id)
        .get_result(conn)
        .optional()?;
    let Some(project) = project else { return Ok(0) };
    diesel::update(projects::table.find(project))
        .set(projects::policy_count.eq(projects::policy_count - 1))
        .execute(conn)?;
    Ok(1)
}

/// Volume counts per policy of a project.
/// A policy as the list shows it: its row, the number of its volumes, its tags by key.
pub type PolicyInFull = (PolicyRow, i64, Vec<(String, String)>);

/// The project's policies, oldest first, each with its number of volumes and its tags (by key,
/// then value), in one statement joining the `policy_extras` view: a list costs one round trip
/// whatever its length, and its statement is typed (no SQL text of its own), so it is prepared
/// once per connection rather than parsed and planned at every request.
pub fn list_policies_in_full(conn: &mut PgConnection, project: &ProjectId) -> QueryResult<Vec<PolicyInFull>> {
    use extras::policy_extras as x;
    let rows: Vec<(PolicyRow, i64, Option<String>)> = policies::table
        .inner_join(x::table)
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .order((policies::created_at.asc(), policies::id.asc()))
        .select((PolicyRow::as_select(), x::volume_count, x::tags))
        .load(conn)?;
    rows.into_iter()
        .map(|(row, volumes, tags)| {
            // [[key, value], …]: the tags travel as one JSON text and are split here.
            let tags = match tags {
                Some(json) => serde_json::from_str(&json)
                    .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?,
                None => Vec::new(),
            };
            Ok((row, volumes, tags))
        })
        .collect()
}

/// The view the policy list joins (migration `2026-12-07-000001_policy_listing`); `diesel
/// print-schema` leaves views out of `schema.rs`.
mod extras {
    use super::schema::policies;

    diesel::table! {
        policy_extras (policy_id) {
            policy_id -> Text,
            volume_count -> Int8,
            tags -> Nullable<Text>,
        }
    }

    diesel::joinable!(policy_extras -> policies (policy_id));
    diesel::allow_tables_to_appear_in_same_query!(policy_extras, policies);
}

pub fn volumes_of(conn: &mut PgConnection, policy_id: ResourceId) -> QueryResult<Vec<ResourceId>> {
    policy_volumes::table
        .filter(policy_volumes::policy_id.eq(DbId(policy_id)))
        .order(policy_volumes::volume_id.asc())
        .select(policy_volumes::volume_id)
        .load::<DbId>(conn)
        .map(resource_ids)
}

/// `(volume, policy)` for those of `volumes` that belong to a policy of the project.
pub fn owners(
    conn: &mut PgConnection,
    project: &ProjectId,
    volumes: &[ResourceId],
) -> QueryResult<Vec<(ResourceId, ResourceId)>> {
    policy_volumes::table
        .filter(policy_volumes::project_id.eq(DbProjectId::from(project)))
        .filter(policy_volumes::volume_id.eq_any(db_ids(volumes)))
        .select((policy_volumes::volume_id, policy_volumes::policy_id))
        .load::<(DbId, DbId)>(conn)
        .map(|rows| rows.into_iter().map(|(volume, policy)| (volume.into(), policy.into())).collect())
}

/// Associates volumes with a policy, moving any that belonged to another policy.
pub fn attach(
    conn: &mut PgConnection,
    project: &ProjectId,
    policy_id: ResourceId,
    volumes: &[ResourceId],
    now: NaiveDateTime,
) -> QueryResult<()> {
    let (project, policy_id) = (DbProjectId::from(project), DbId(policy_id));
    for &volume in volumes {
        diesel::insert_into(policy_volumes::table)
            .values((
                policy_volumes::project_id.eq(&project),
                policy_volumes::volume_id.eq(DbId(volume)),
                policy_volumes::policy_id.eq(policy_id),
                policy_volumes::created_at.eq(now),
            ))
            .on_conflict((policy_volumes::project_id, policy_volumes::volume_id))
            .do_update()
            .set((policy_volumes::policy_id.eq(policy_id), policy_volumes::created_at.eq(now)))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes volumes from a policy; returns those that were associated with it.
pub fn detach(
    conn: &mut PgConnection,
    policy_id: ResourceId,
    volumes: &[ResourceId],
) -> QueryResult<Vec<ResourceId>> {
    let policy_id = DbId(policy_id);
    let present: Vec<DbId> = policy_volumes::table
        .filter(policy_volumes::policy_id.eq(policy_id))
        .filter(policy_volumes::volume_id.eq_any(db_ids(volumes)))
        .select(policy_volumes::volume_id)
        .load(conn)?;
    diesel::delete(
        policy_volumes::table
            .filter(policy_volumes::policy_id.eq(policy_id))
            .filter(policy_volumes::volume_id.eq_any(&present)),
    )
    .execute(conn)?;
    Ok(resource_ids(present))
}

pub fn tags_of(conn: &mut PgConnection, policy_id: ResourceId) -> QueryResult<Vec<(String, String)>> {
    policy_tags::table
        .filter(policy_tags::policy_id.eq(DbId(policy_id)))
        .order(policy_tags::key.asc())
        .select((policy_tags::key, policy_tags::value))
        .load(conn)
}

/// Every tag of every policy of a project: `(policy_id, key, value)`.
pub fn tags_of_project(
    conn: &mut PgConnection,
    project: &ProjectId,
) -> QueryResult<Vec<(ResourceId, String, String)>> {
    policy_tags::table
        .inner_join(policies::table)
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .order((policy_tags::key.asc(), policy_tags::value.asc()))
        .select((policy_tags::policy_id, policy_tags::key, policy_tags::value))
        .load::<(DbId, String, String)>(conn)
        .map(|rows| rows.into_iter().map(|(policy, key, value)| (policy.into(), key, value)).collect())
}

/// Adds tags (of distinct keys, as [`api_types::domain::Tags`] holds them) in one statement,
/// overwriting the value of a key the policy already has.
pub fn upsert_tags(conn: &mut PgConnection, policy_id: ResourceId, tags: &[Tag]) -> QueryResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let policy_id = DbId(policy_id);
    let rows: Vec<_> = tags
        .iter()
        .map(|t| {
            (
                policy_tags::policy_id.eq(policy_id),
                policy_tags::key.eq(t.key.as_str()),
                policy_tags::value.eq(t.value.as_str()),
            )
        })
        .collect();
    diesel::insert_into(policy_tags::table)
        .values(&rows)
        .on_conflict((policy_tags::policy_id, policy_tags::key))
        .do_update()
        .set(policy_tags::value.eq(excluded(policy_tags::value)))
        .execute(conn)
        .map(drop)
}

pub fn delete_tags(conn: &mut PgConnection, policy_id: ResourceId, keys: &[&str]) -> QueryResult<usize> {
    diesel::delete(
        policy_tags::table
            .filter(policy_tags::policy_id.eq(DbId(policy_id)))
            .filter(policy_tags::key.eq_any(keys)),
    )
    .execute(conn)
}

fn db_ids(ids: &[ResourceId]) -> Vec<DbId> {
    ids.iter().copied().map(DbId).collect()
}

fn resource_ids(ids: Vec<DbId>) -> Vec<ResourceId> {
    ids.into_iter().map(ResourceId::from).collect()
}
