//! Consuming `policy.changed` / `policy.execute` and `task.status`.
//!
//! Each message is applied in one transaction together with its inbox record (so a redelivery
//! changes nothing) and the outbox rows of any `backup.requested` it causes; the delivery is
//! acked only after that transaction committed. A message that can never apply (malformed, an
//! unknown type or schema version, a task that does not exist) is dead-lettered; a transient
//! failure (the database is down) or a message that arrived before the state it depends on is
//! requeued.

pub mod policy_events;
pub mod task_status;

use std::sync::Arc;

use api_types::message::{DecodeError, EnvelopeHead};
use service_kit::{
    CancellationToken,
    amqp::{self, Broker, Incoming, Outcome, Queue},
    db::DbError,
};
use tracing::{Instrument, field::Empty};

use crate::scheduler::Scheduler;

/// How many messages of each queue one replica handles at once.
const POLICY_EVENTS_PREFETCH: u16 = 8;
const TASK_STATUS_PREFETCH: u16 = 32;

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The message changed state.
    Done(String),
    /// Its id was handled before.
    Duplicate,
    /// It is older than what the read model already has, or refers to a state it no longer
    /// applies to; nothing changed.
    Ignored(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// It can never apply: dead-letter it.
    #[error("{0}")]
    Poison(String),
    /// It depends on a message not applied yet: try again shortly.
    #[error("{0}")]
    NotYet(String),
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for ApplyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Transient(e.into())
    }
}

impl From<DbError> for ApplyError {
    fn from(e: DbError) -> Self {
        Self::Transient(e.into())
    }
}

impl From<DecodeError> for ApplyError {
    fn from(e: DecodeError) -> Self {
        Self::Poison(e.to_string())
    }
}

/// Reads the envelope's head (type and id) of a body.
fn head(body: &[u8]) -> Result<EnvelopeHead, ApplyError> {
    serde_json::from_slice(body).map_err(|e| ApplyError::Poison(format!("malformed message: {e}")))
}

/// Runs `apply` for a delivery inside a span that continues the producer's trace, logs the
/// result once, and turns it into the delivery's outcome.
async fn handle<F>(msg: Incoming, apply: F) -> Outcome
where
    F: Future<Output = Result<Applied, ApplyError>>,
{
    let span = tracing::info_span!(
        "amqp.consume",
        otel.name = %format!("consume {}", msg.routing_key),
        messaging.message_type = %msg.routing_key,
        messaging.message_id = Empty,
    );
    service_kit::telemetry::set_remote_parent(&span, msg.traceparent.as_deref());
    async move {
        match apply.await {
            Ok(Applied::Done(what)) => {
                tracing::info!(%what, "message applied");
                Outcome::Ack
            }
            Ok(Applied::Duplicate) => {
                tracing::debug!("message handled before");
                Outcome::Ack
            }
            Ok(Applied::Ignored(why)) => {
                tracing::info!(%why, "message ignored");
                Outcome::Ack
            }
            Err(ApplyError::Poison(why)) => {
                tracing::error!(%why, redelivered = msg.redelivered, "message refused; dead-lettered");
                Outcome::Reject
            }
            Err(ApplyError::NotYet(why)) => {
                tracing::info!(%why, "message requeued");
                Outcome::Retry
            }
            Err(ApplyError::Transient(e)) => {
                tracing::warn!(error = %format!("{e:#}"), "message could not be applied; requeued");
                Outcome::Retry
            }
        }
    }
    .instrument(span)
    .await
}

/// Consumes both queues until `shutdown`.
pub async fn run(scheduler: Scheduler, broker: Arc<Broker>, shutdown: CancellationToken) {
    let s = scheduler.clone();
    let policies = amqp::consume(
        Arc::clone(&broker),
        Queue::SchedulerPolicyEvents,
        POLICY_EVENTS_PREFETCH,
        shutdown.clone(),
        move |msg| {
            let s = s.clone();
            async move { policy_events::handle(&s, msg).await }
        },
    );
    let s = scheduler;
    let statuses =
        amqp::consume(broker, Queue::SchedulerTaskStatus, TASK_STATUS_PREFETCH, shutdown, move |msg| {
            let s = s.clone();
            async move { task_status::handle(&s, msg).await }
        });
    tokio::join!(policies, statuses);
}
