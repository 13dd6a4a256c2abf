pub mod add;
pub mod batch;
pub mod delete;
pub mod list;
pub mod project;
pub mod query;

use api_types::domain::{MAX_TAGS_PER_POLICY, Tag, ValidationError};
use api_types::error::codes::auto_backup as ab;
use chrono::Utc;
use diesel::PgConnection;

use crate::{
    error::PolicyError,
    routes::save_and_announce,
    store::{self, PolicyRow},
};

/// Adds or overwrites tags on a locked policy, keeping the per-policy limit, and announces the
/// change.
fn put_tags(conn: &mut PgConnection, policy: &mut PolicyRow, tags: &[Tag]) -> Result<(), PolicyError> {
    let existing = store::tags_of(conn, *policy.id)?;
    let added = tags.iter().filter(|t| !existing.iter().any(|(k, _)| k == t.key.as_str())).count();
    if existing.len() + added > MAX_TAGS_PER_POLICY {
        return Err(ValidationError::new(
            "tags",
            format!(
                "the policy has {} tags; adding {added} would exceed the limit of {MAX_TAGS_PER_POLICY}",
                existing.len()
            ),
        )
        .with_code(ab::TAG_LIMIT)
        .into());
    }
    store::upsert_tags(conn, *policy.id, tags)?;
    save_and_announce(conn, policy, Utc::now().naive_utc())
}
