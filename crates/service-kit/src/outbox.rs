//! The transactional outbox.
//!
//! A service writes the message announcing a change into `outbox` in the same transaction as
//! the change itself ([`enqueue`]), so a committed change always has its message and a rolled
//! back one never does, whether or not the broker is up. The [`Relay`] leases a batch of waiting
//! rows (claimed with `FOR UPDATE SKIP LOCKED`, so several replicas can relay at once), publishes
//! them in order with publisher confirms, and deletes them once the broker confirmed; on failure
//! it releases the lease at once. While the broker confirms one batch, the relay claims and
//! publishes the next. No transaction or connection is held while talking to the
//! broker. The lease is short ([`LEASE`]) and renewed while the relay publishes, so it lasts as
//! long as the relay lives: the batch of a relay that died goes out again from another replica
//! (or the restarted process) within seconds. Consumers are idempotent on the message id, so a
//! duplicate is harmless.

use std::{sync::Arc, time::Duration};

use api_types::message::{Envelope, Message};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    amqp::{Broker, Confirms, Outgoing},
    db::{self, DbError, PgPool},
};

diesel::table! {
    outbox (id) {
        id -> BigInt,
        message_id -> Text,
        routing_key -> Text,
        body -> Text,
        traceparent -> Nullable<Text>,
        created_at -> Timestamp,
        attempts -> Integer,
        claimed_until -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = outbox)]
struct OutboxRow {
    id: i64,
    message_id: String,
    routing_key: String,
    body: String,
    traceparent: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewOutboxRow<'a> {
    message_id: &'a str,
    routing_key: &'a str,
    body: &'a str,
    traceparent: Option<&'a str>,
    created_at: NaiveDateTime,
}

/// An outbox row's values, for a statement that writes the row together with the change it
/// announces (see [`enqueue`] for the usual way).
#[derive(Debug, Clone)]
pub struct Encoded {
    pub message_id: String,
    pub routing_key: String,
    pub body: String,
    pub traceparent: Option<String>,
}

pub fn encode<P: Message>(envelope: &Envelope<P>) -> serde_json::Result<Encoded> {
    Ok(Encoded {
        message_id: envelope.message_id.to_string(),
        routing_key: envelope.message_type.clone(),
        body: serde_json::to_string(envelope)?,
        traceparent: envelope.traceparent.clone(),
    })
}

impl Encoded {
    fn row(&self, created_at: NaiveDateTime) -> NewOutboxRow<'_> {
        NewOutboxRow {
            message_id: &self.message_id,
            routing_key: &self.routing_key,
            body: &self.body,
            traceparent: self.traceparent.as_deref(),
            created_at,
        }
    }
}

/// [`encode`], failing as a query does.
fn encode_row<P: Message>(envelope: &Envelope<P>) -> QueryResult<Encoded> {
    encode(envelope).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))
}

/// Adds a message to the outbox. Call inside the transaction that makes the change.
pub fn enqueue<P: Message>(conn: &mut PgConnection, envelope: &Envelope<P>) -> QueryResult<()> {
    let message = encode_row(envelope)?;
    diesel::insert_into(outbox::table).values(message.row(Utc::now().naive_utc())).execute(conn)?;
    Ok(())
}

/// Adds several messages to the outbox with as few statements as the bind-parameter limit
/// allows (one row per message, in order). Call inside the transaction that makes the change.
pub fn enqueue_all<P: Message>(conn: &mut PgConnection, envelopes: &[Envelope<P>]) -> QueryResult<()> {
    // Five parameters a row; PostgreSQL takes at most 65,535 in one statement.
    const ROWS_PER_STATEMENT: usize = 1000;
    let created_at = Utc::now().naive_utc();
    for chunk in envelopes.chunks(ROWS_PER_STATEMENT) {
        let messages = chunk.iter().map(encode_row).collect::<QueryResult<Vec<_>>>()?;
        let rows: Vec<NewOutboxRow<'_>> = messages.iter().map(|m| m.row(created_at)).collect();
        diesel::insert_into(outbox::table).values(&rows).execute(conn)?;
    }
    Ok(())
}

/// Builds an envelope stamped with the current span's trace context.
pub fn envelope<P: Message>(payload: P) -> Envelope<P> {
    Envelope::new(payload, Utc::now(), crate::telemetry::traceparent_of(&tracing::Span::current()))
}

/// How many messages wait to be published.
pub fn pending(conn: &mut PgConnection) -> QueryResult<i64> {
    outbox::table.count().get_result(conn)
}

/// Publishes the outbox.
pub struct Relay {
    pool: PgPool,
    broker: Arc<Broker>,
    wake: Arc<Notify>,
    batch: i64,
    poll: Duration,
}

impl Relay {
    pub fn new(pool: PgPool, broker: Arc<Broker>, wake: Arc<Notify>) -> Self {
        Self { pool, broker, wake, batch: BATCH, poll: Duration::from_secs(2) }
    }

    /// Runs until `shutdown`: drains whenever woken (a handler committed a change) and at every
    /// poll interval (rows left by another replica or by a crash), backing off while the broker
    /// or the database is down.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let wait = match self.drain().await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    self.poll
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "outbox relay could not publish");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(15));
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes batches until the outbox is empty. Two batches overlap: the next is claimed
    /// and published while the broker confirms the one before, so the database's work and the
    /// broker's proceed side by side instead of in turns.
    pub async fn drain(&self) -> anyhow::Result<()> {
        let mut in_flight: Option<Published> = None;
        loop {
            let held = in_flight.as_ref().map_or(&[][..], |p| &p.ids[..]);
            let next = self.claim_and_publish(held).await;
            if let Some(previous) = in_flight.take()
                && let Err(e) = self.settle(previous).await
            {
                if let Ok(Some(next)) = next {
                    // Its confirms may still come; another try publishes it again at worst,
                    // and consumers drop duplicates.
                    self.release(next.ids).await?;
                }
                return Err(e);
            }
            match next? {
                Some(p) if p.ids.len() == self.batch as usize => in_flight = Some(p),
                Some(p) => return self.settle(p).await,
                None => return Ok(()),
            }
        }
    }

    /// Claims a batch and publishes it, without waiting for the broker's confirms, renewing the
    /// lease on its rows and on `held` (the batch in flight) while publishing. `None`: the
    /// outbox has nothing to claim. A batch that could not be published is released.
    async fn claim_and_publish(&self, held: &[i64]) -> anyhow::Result<Option<Published>> {
        let batch = self.batch;
        let rows = db::run(&self.pool, move |conn| claim(conn, batch, LEASE)).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let messages: Vec<Outgoing> = rows
            .into_iter()
            .map(|r| Outgoing {
                message_id: r.message_id,
                routing_key: r.routing_key,
                body: r.body.into_bytes(),
                traceparent: r.traceparent,
            })
            .collect();
        let leased: Vec<i64> = held.iter().chain(&ids).copied().collect();
        match self.renewing(&leased, self.broker.publish(&messages)).await {
            Ok(confirms) => Ok(Some(Published { ids, confirms })),
            Err(e) => {
                self.release(ids).await?;
                Err(e)
            }
        }
    }

    /// Waits for a published batch's confirms, renewing the lease on its rows meanwhile, then
    /// deletes the rows; a batch the broker did not confirm is released, to go out again as
    /// soon as it is back.
    async fn settle(&self, published: Published) -> anyhow::Result<()> {
        let Published { ids, confirms } = published;
        if let Err(e) = self.renewing(&ids, confirms.wait()).await {
            self.release(ids).await?;
            return Err(e);
        }
        let n = ids.len();
        db::run(&self.pool, move |conn| -> Result<usize, DbError> {
            Ok(diesel::delete(outbox::table.filter(outbox::id.eq_any(&ids))).execute(conn)?)
        })
        .await?;
        tracing::debug!(published = n, "outbox batch published");
        Ok(())
    }

    /// Runs `work` (talking to the broker), renewing the lease on `ids` every [`RENEW`]
    /// meanwhile: a slow broker never hands a live relay's batch to another.
    async fn renewing<T>(&self, ids: &[i64], work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + RENEW, RENEW);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renew.tick() => {
                    let ids = ids.to_vec();
                    if let Err(e) = db::run(&self.pool, move |conn| renew_lease(conn, &ids, LEASE)).await {
                        tracing::warn!(error = %format!("{e:#}"), "outbox relay could not renew its lease");
                    }
                }
            }
        }
    }

    /// Gives up the lease on rows this relay claimed.
    async fn release(&self, ids: Vec<i64>) -> anyhow::Result<()> {
        db::run(&self.pool, move |conn| -> Result<usize, DbError> {
            Ok(diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
                .set(outbox::claimed_until.eq(None::<NaiveDateTime>))
                .execute(conn)?)
        })
        .await?;
        Ok(())
    }
}

/// A batch the broker has been sent and not yet confirmed.
struct Published {
    ids: Vec<i64>,
    confirms: Confirms,
}

/// How long a claim lasts unless its relay renews it: the longest the batch of a relay that
/// died waits before another relay takes it (plus that relay's poll interval).
pub const LEASE: chrono::Duration = chrono::Duration::seconds(5);
/// How often a publishing relay renews its lease: well within [`LEASE`].
const RENEW: Duration = Duration::from_millis(1500);

/// Extends the lease on rows this relay claimed.
fn renew_lease(conn: &mut PgConnection, ids: &[i64], lease: chrono::Duration) -> Result<usize, DbError> {
    let until = Utc::now().naive_utc() + lease;
    Ok(diesel::update(outbox::table.filter(outbox::id.eq_any(ids)))
        .set(outbox::claimed_until.eq(Some(until)))
        .execute(conn)?)
}

/// Messages a relay claims and publishes at once: a burst (a scheduler firing 100,000 tasks)
/// goes out in few round trips to the database and the broker (a batch that takes longer than
/// [`LEASE`] to confirm keeps its lease: the relay renews it).
const BATCH: i64 = 1000;

/// Leases the oldest rows no other relay holds, in one statement: the row locks
/// (PostgreSQL-specific `SKIP LOCKED`) last only for it; the lease keeps other relays away
/// after it. Returns the rows in outbox order.
fn claim(conn: &mut PgConnection, batch: i64, lease: chrono::Duration) -> Result<Vec<OutboxRow>, DbError> {
    let now = Utc::now().naive_utc();
    let mut rows = diesel::sql_query(
        "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE claimed_until IS NULL OR claimed_until < $2 \
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING id, message_id, routing_key, body, traceparent",
    )
    .bind::<diesel::sql_types::Timestamp, _>(now + lease)
    .bind::<diesel::sql_types::Timestamp, _>(now)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .load::<OutboxRow>(conn)?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::testing::{TestDatabase, database_url};

    fn outbox_with_rows(n: usize) -> (TestDatabase, PgConnection) {
        let db = TestDatabase::create(&database_url(), "vbs_kit_outbox").unwrap();
        let mut conn = PgConnection::establish(&db.url).unwrap();
        conn.batch_execute(include_str!("../migrations/00000000000100_outbox/up.sql")).unwrap();
        for i in 0..n {
            diesel::insert_into(outbox::table)
                .values(NewOutboxRow {
                    message_id: &format!("m{i}"),
                    routing_key: "test.message",
                    body: "{}",
                    traceparent: None,
                    created_at: Utc::now().naive_utc(),
                })
                .execute(&mut conn)
                .unwrap();
        }
        (db, conn)
    }

    /// A claim keeps other relays away while its relay renews it, and lapses soon after the
    /// relay stops (dies): then another relay takes the same rows.
    #[test]
    fn a_claim_lasts_as_long_as_its_relay_renews_it() {
        let (_db, mut conn) = outbox_with_rows(3);
        let lease = chrono::Duration::milliseconds(800);
        let first = claim(&mut conn, 10, lease).unwrap();
        let ids: Vec<i64> = first.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(claim(&mut conn, 10, lease).unwrap().is_empty(), "the rows are claimed");

        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(400));
            assert_eq!(renew_lease(&mut conn, &ids, lease).unwrap(), 3);
            assert!(
                claim(&mut conn, 10, lease).unwrap().is_empty(),
                "a renewed claim holds past its first lease"
            );
        }

        std::thread::sleep(Duration::from_millis(1000));
        let taken_over: Vec<i64> = claim(&mut conn, 10, lease).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(taken_over, ids, "a claim no longer renewed lapses and the rows are claimed again");
    }

    #[test]
    fn the_lease_lets_a_dead_relays_batch_go_out_within_seconds() {
        assert!(LEASE <= chrono::Duration::seconds(5));
        assert!(RENEW * 3 <= LEASE.to_std().unwrap(), "a live relay renews several times per lease");
    }
}
