//! The policies' read model: what `policy.changed` last said about each policy, and the
//! earliest slot of it not yet handled.

use anyhow::Context;
use api_types::{
    domain::{Frequency, ProjectId, ResourceId, Schedule, StartTimes, TimeZoneOffset, WeekDays},
    message::RetentionRule,
};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use service_kit::db::{DbId, DbProjectId};

use super::schema::{policies, policy_volumes};
use crate::domain::policy::PolicyTiming;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = policies, treat_none_as_null = true)]
pub struct PolicyRow {
    pub id: DbId,
    pub project_id: DbProjectId,
    pub version: i64,
    pub deleted: bool,
    pub enabled: bool,
    pub start_times: String,
    pub frequency_days: Option<i16>,
    pub week_days: Option<String>,
    pub utc_offset_minutes: i16,
    pub retention_count: Option<i16>,
    pub retention_days: Option<i32>,
    pub keep_first_of_month: bool,
    pub next_fire_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

impl PolicyRow {
    /// A live policy as a snapshot describes it (`next_fire_at` still to be set).
    pub fn live(
        id: ResourceId,
        project_id: ProjectId,
        version: i64,
        timing: &PolicyTiming,
        retention: RetentionRule,
        now: NaiveDateTime,
    ) -> Self {
        Self {
            id: id.into(),
            project_id: project_id.into(),
            version,
            deleted: false,
            enabled: timing.enabled,
            start_times: timing.start_times.to_string(),
            frequency_days: timing.schedule.frequency().map(|f| i16::from(f.days())),
            week_days: timing.schedule.week_days().map(|w| w.to_strings().join(",")),
            utc_offset_minutes: timing.offset.minutes(),
            retention_count: retention.count.map(i16::from),
            retention_days: retention.days.map(|d| i32::try_from(d).unwrap_or(i32::MAX)),
            keep_first_of_month: retention.keep_first_of_month,
            next_fire_at: None,
            updated_at: now,
        }
    }

    /// What remains of a deleted policy: its identity and version, so that older messages
    /// arriving late are recognised as stale.
    pub fn tombstone(id: ResourceId, project_id: ProjectId, version: i64, now: NaiveDateTime) -> Self {
        Self {
            id: id.into(),
            project_id: project_id.into(),
            version,
            deleted: true,
            enabled: false,
            start_times: String::new(),
            frequency_days: None,
            week_days: None,
            utc_offset_minutes: 0,
            retention_count: None,
            retention_days: None,
            keep_first_of_month: false,
            next_fire_at: None,
            updated_at: now,
        }
    }

    /// The stored schedule, read back through the parsers that admitted it. `None` for a
    /// tombstone.
    pub fn timing(&self) -> anyhow::Result<Option<PolicyTiming>> {
        if self.deleted {
            return Ok(None);
        }
        let schedule = match (self.frequency_days, &self.week_days) {
            (Some(f), _) => Schedule::EveryNDays(Frequency::parse(i64::from(f))?),
            (None, Some(w)) => Schedule::Weekly(WeekDays::parse(&w.split(',').collect::<Vec<_>>())?),
            (None, None) => anyhow::bail!("policy {} has no schedule", self.id),
        };
        Ok(Some(PolicyTiming {
            start_times: StartTimes::parse(&self.start_times)
                .with_context(|| format!("stored start times of policy {}", self.id))?,
            schedule,
            offset: TimeZoneOffset::from_minutes(self.utc_offset_minutes)?,
            enabled: self.enabled,
        }))
    }

    pub fn retention(&self) -> RetentionRule {
        RetentionRule {
            count: self.retention_count.and_then(|n| u8::try_from(n).ok()),
            days: self.retention_days.and_then(|d| u32::try_from(d).ok()),
            keep_first_of_month: self.keep_first_of_month,
        }
    }
}

/// PostgreSQL-specific: the policy with its row locked until the transaction ends, so that a
/// policy message and a tick never work on one policy at the same time.
pub fn lock(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Option<PolicyRow>> {
    policies::table.find(DbId(id)).select(PolicyRow::as_select()).for_update().first(conn).optional()
}

/// The policy if it exists for `project` and is not deleted.
pub fn find_visible(
    conn: &mut PgConnection,
    project: &ProjectId,
    id: ResourceId,
) -> QueryResult<Option<PolicyRow>> {
    policies::table
        .find(DbId(id))
        .filter(policies::project_id.eq(DbProjectId::from(project)))
        .filter(policies::deleted.eq(false))
        .select(PolicyRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts or replaces the policy's row.
pub fn save(conn: &mut PgConnection, row: &PolicyRow) -> QueryResult<()> {
    diesel::insert_into(policies::table)
        .values(row)
        .on_conflict(policies::id)
        .do_update()
        .set(row)
        .execute(conn)
        .map(drop)
}

pub fn set_next_fire(
    conn: &mut PgConnection,
    id: ResourceId,
    next: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(policies::table.find(DbId(id)))
        .set((policies::next_fire_at.eq(next), policies::updated_at.eq(now)))
        .execute(conn)
        .map(drop)
}

/// The earliest slot after `now` that a policy waits for (slots already due are left to the
/// replica that holds them, or to the next tick).
pub fn next_slot_after(conn: &mut PgConnection, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    policies::table
        .filter(policies::next_fire_at.gt(now))
        .select(diesel::dsl::min(policies::next_fire_at))
        .first(conn)
}

/// PostgreSQL-specific: claims up to `batch` policies with a slot due at `now`, skipping those
/// another scheduler (or a policy message) holds. The locks last until the transaction ends; by
/// then `next_fire_at` has moved past the slots handled, so no one claims them again.
pub fn claim_due(conn: &mut PgConnection, now: NaiveDateTime, batch: i64) -> QueryResult<Vec<PolicyRow>> {
    policies::table
        .filter(policies::next_fire_at.le(now))
        .order(policies::next_fire_at.asc())
        .limit(batch)
        .for_update()
        .skip_locked()
        .select(PolicyRow::as_select())
        .load(conn)
}

pub fn volumes_of(conn: &mut PgConnection, id: ResourceId) -> QueryResult<Vec<ResourceId>> {
    policy_volumes::table
        .filter(policy_volumes::policy_id.eq(DbId(id)))
        .order(policy_volumes::volume_id.asc())
        .select(policy_volumes::volume_id)
        .load::<DbId>(conn)
        .map(|volumes| volumes.into_iter().map(ResourceId::from).collect())
}

/// Replaces the policy's volumes; `had_none` (a tombstone or a first change) skips deleting.
pub fn replace_volumes(
    conn: &mut PgConnection,
    id: ResourceId,
    volumes: &[ResourceId],
    had_none: bool,
) -> QueryResult<()> {
    let id = DbId(id);
    if !had_none {
        diesel::delete(policy_volumes::table.filter(policy_volumes::policy_id.eq(id))).execute(conn)?;
    }
    if volumes.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = volumes
        .iter()
        .map(|&v| (policy_volumes::policy_id.eq(id), policy_volumes::volume_id.eq(DbId(v))))
        .collect();
    diesel::insert_into(policy_volumes::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
    Ok(())
}

/// Locks the policy's row and returns it, first inserting a placeholder (version 0, deleted,
/// firing nothing) when the policy has none, in one statement: a first change has a row to
/// lock too. A concurrent first change waits on the other's insert until it commits, then
/// locks the row that one wrote.
pub fn lock_or_create(
    conn: &mut PgConnection,
    id: ResourceId,
    project_id: &ProjectId,
    now: NaiveDateTime,
) -> QueryResult<PolicyRow> {
    diesel::insert_into(policies::table)
        .values(&PolicyRow::tombstone(id, project_id.clone(), 0, now))
        .on_conflict(policies::id)
        .do_update()
        // Changes nothing: the conflicting row is locked and returned as it is.
        .set(policies::version.eq(policies::version))
        .returning(PolicyRow::as_returning())
        .get_result(conn)
}
