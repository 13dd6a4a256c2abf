//! The messages announcing policy changes, written to the outbox inside the change's
//! transaction. `policy.changed` always carries the whole policy as it now is (schedule,
//! retention, volumes, tags) with its version, so the scheduler's read model never has to merge
//! partial updates and can ignore any message older than what it has.

use api_types::{
    domain::{Frequency, ResourceId, Tag, WeekDays},
    message::{PolicyChange, PolicyChanged, PolicyExecute, PolicySnapshot, TagPair},
};
use chrono::Utc;
use diesel::PgConnection;
use service_kit::{error::InternalError, outbox};

use crate::{
    error::PolicyError,
    store::{self, PolicyRow},
};

/// The policy as stored, read back in the change's transaction.
pub fn snapshot(conn: &mut PgConnection, row: &PolicyRow) -> Result<PolicySnapshot, PolicyError> {
    let volumes = store::volumes_of(conn, *row.id)?;
    let tags =
        store::tags_of(conn, *row.id)?.into_iter().map(|(key, value)| TagPair { key, value }).collect();
    snapshot_of(row, volumes, tags)
}

/// The policy of `row` with these volumes and tags (in key order).
fn snapshot_of(
    row: &PolicyRow,
    volumes: Vec<ResourceId>,
    tags: Vec<TagPair>,
) -> Result<PolicySnapshot, PolicyError> {
    let settings = row.settings()?;
    Ok(PolicySnapshot {
        name: row.name.clone(),
        enabled: settings.status.is_on(),
        start_hours_utc: settings.start_times.hours().to_vec(),
        frequency_days: settings.schedule.frequency().map(Frequency::days),
        week_days: settings.schedule.week_days().map(WeekDays::to_strings),
        utc_offset_minutes: settings.time_zone.map_or(0, |tz| tz.minutes()),
        retention: settings.retention_rule(),
        volumes,
        tags,
    })
}

/// Announces the policy as it is now stored.
pub fn changed(conn: &mut PgConnection, row: &PolicyRow) -> Result<(), PolicyError> {
    let policy = snapshot(conn, row)?;
    outbox::enqueue(conn, &outbox::envelope(upserted(row, policy)))?;
    Ok(())
}

/// The announcement of a policy about to be created with `tags` and no volumes, for the
/// statement that creates it to write into the outbox (see [`crate::store::create_policy`]).
pub fn created(row: &PolicyRow, tags: &[Tag]) -> Result<outbox::Encoded, PolicyError> {
    let mut tags: Vec<TagPair> = tags
        .iter()
        .map(|t| TagPair { key: t.key.as_str().to_owned(), value: t.value.as_str().to_owned() })
        .collect();
    tags.sort_by(|a, b| a.key.cmp(&b.key));
    let envelope = outbox::envelope(upserted(row, snapshot_of(row, Vec::new(), tags)?));
    outbox::encode(&envelope).map_err(|e| PolicyError::Internal(InternalError::Unexpected(e.into())))
}

fn upserted(row: &PolicyRow, policy: PolicySnapshot) -> PolicyChanged {
    PolicyChanged {
        project_id: row.project_id.clone().into(),
        policy_id: *row.id,
        version: row.version,
        change: PolicyChange::Upserted { policy },
    }
}

/// Announces a deletion; `version` is one above the last stored version.
pub fn deleted(conn: &mut PgConnection, row: &PolicyRow) -> Result<(), PolicyError> {
    let msg = PolicyChanged {
        project_id: row.project_id.clone().into(),
        policy_id: *row.id,
        version: row.version + 1,
        change: PolicyChange::Deleted,
    };
    outbox::enqueue(conn, &outbox::envelope(msg))?;
    Ok(())
}

pub fn execute(conn: &mut PgConnection, row: &PolicyRow) -> Result<(), PolicyError> {
    let msg = PolicyExecute {
        project_id: row.project_id.clone().into(),
        policy_id: *row.id,
        version: row.version,
        requested_at: Utc::now(),
    };
    outbox::enqueue(conn, &outbox::envelope(msg))?;
    Ok(())
}
