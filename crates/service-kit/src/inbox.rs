//! Idempotent consumption.
//!
//! RabbitMQ delivers at least once, and the outbox relay may publish a message twice. A consumer
//! records each message id in `inbox` inside the transaction that applies the message; a second
//! delivery finds the id and changes nothing.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

diesel::table! {
    inbox (message_id) {
        message_id -> Text,
        message_type -> Text,
        handled_at -> Timestamp,
    }
}

/// Records `message_id`; `false` when it was handled before. Call inside the transaction that
/// applies the message, so the record and the effect commit together.
pub fn first_delivery(conn: &mut PgConnection, message_id: &str, message_type: &str) -> QueryResult<bool> {
    let inserted = diesel::insert_into(inbox::table)
        .values((
            inbox::message_id.eq(message_id),
            inbox::message_type.eq(message_type),
            inbox::handled_at.eq(Utc::now().naive_utc()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(inserted == 1)
}

/// Forgets ids handled before `cutoff` (far longer ago than any redelivery can happen).
pub fn forget_before(conn: &mut PgConnection, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(inbox::table.filter(inbox::handled_at.lt(cutoff))).execute(conn)
}
