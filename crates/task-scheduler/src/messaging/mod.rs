//! Consuming `policy.changed` / `policy.execute` and `task.status`, with the consumer framework
//! of [`service_kit::amqp`] (typed handlers, one ack / requeue / dead-letter policy).
//!
//! Each message is applied in one transaction together with its inbox record (so a redelivery
//! changes nothing) and the outbox rows of any `backup.requested` it causes. A message that can
//! never apply (malformed, an unknown type or schema version, a task that does not exist) is
//! dead-lettered; a transient failure (the database is down) or a message that arrived before
//! the state it depends on is requeued.

pub mod policy_events;
pub mod task_status;

use std::sync::Arc;

pub use service_kit::amqp::{Applied, ApplyError};
use service_kit::{
    CancellationToken,
    amqp::{self, Broker},
};

use crate::scheduler::Scheduler;

/// How many messages of each queue one replica handles at once.
const POLICY_EVENTS_PREFETCH: u16 = 8;
const TASK_STATUS_PREFETCH: u16 = 32;

/// Consumes both queues until `shutdown`.
pub async fn run(scheduler: Scheduler, broker: Arc<Broker>, shutdown: CancellationToken) {
    let policies = amqp::consume(
        Arc::clone(&broker),
        POLICY_EVENTS_PREFETCH,
        shutdown.clone(),
        policy_events::handlers(scheduler.clone()),
    );
    let statuses = amqp::consume(broker, TASK_STATUS_PREFETCH, shutdown, task_status::handlers(scheduler));
    tokio::join!(policies, statuses);
}
