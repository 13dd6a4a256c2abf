//! Consuming: one framework for every queue of every service.
//!
//! A consumer registers a typed handler per message type ([`Handlers::on`]); [`consume`] reads
//! the queue with a bounded prefetch, and for each delivery [`Handlers`] decodes the envelope,
//! runs the handler inside one `amqp.consume` span that continues the producer's trace, logs the
//! result once, and settles the delivery by one policy:
//!
//! | handler result | delivery |
//! |---|---|
//! | [`Applied`] (done, a duplicate, or nothing to do) | acked |
//! | [`ApplyError::Poison`]: malformed, unknown type, can never apply | rejected to the dead-letter queue, not requeued (it would fail forever) |
//! | [`ApplyError::NotYet`]: depends on a message not applied yet | requeued after a pause |
//! | [`ApplyError::Transient`]: the database is down… | requeued after a pause |
//!
//! Handlers apply a message in one transaction with its inbox record ([`crate::inbox`]), so a
//! redelivery changes nothing; the delivery is acked only after that commit.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use api_types::message::{DecodeError, Envelope, EnvelopeHead, Message};
use futures_util::{StreamExt, future::BoxFuture};
use lapin::{
    message::Delivery,
    options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions},
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, field::Empty};

use super::{Broker, Queue};
use crate::db::DbError;

/// A delivered message.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub body: Vec<u8>,
    pub routing_key: String,
    pub redelivered: bool,
    pub traceparent: Option<String>,
}

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The message changed state.
    Done(String),
    /// Its id was handled before.
    Duplicate,
    /// It is older than what the consumer already has, or refers to a state it no longer
    /// applies to; nothing changed.
    Ignored(String),
}

/// Why a message was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// It can never apply: dead-letter it.
    #[error("{0}")]
    Poison(String),
    /// It depends on a message not applied yet: try again shortly.
    #[error("{0}")]
    NotYet(String),
    /// The consumer could not apply it now (the database is down…): try again shortly.
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

/// What the consumer does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or already done): remove it.
    Ack,
    /// A transient failure (database down…): put it back after a pause.
    Retry,
    /// It can never succeed (malformed, unknown version): dead-letter it instead of retrying
    /// forever.
    Reject,
}

impl Outcome {
    fn of(result: &Result<Applied, ApplyError>) -> Self {
        match result {
            Ok(_) => Self::Ack,
            Err(ApplyError::Poison(_)) => Self::Reject,
            Err(ApplyError::NotYet(_) | ApplyError::Transient(_)) => Self::Retry,
        }
    }
}

type Route<S> = Box<dyn Fn(S, Vec<u8>) -> BoxFuture<'static, Result<Applied, ApplyError>> + Send + Sync>;

/// The message types one queue carries, each with its typed handler. `S` is the consumer's
/// state (cheap to clone: an `Arc` or a handle), passed to every handler.
pub struct Handlers<S> {
    queue: Queue,
    state: S,
    routes: HashMap<&'static str, Route<S>>,
}

impl<S: Clone + Send + Sync + 'static> Handlers<S> {
    pub fn new(queue: Queue, state: S) -> Self {
        Self { queue, state, routes: HashMap::new() }
    }

    /// Handles messages of type `M` with `handler`.
    pub fn on<M, F, Fut>(mut self, handler: F) -> Self
    where
        M: Message + Send + 'static,
        F: Fn(S, Envelope<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Applied, ApplyError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let route: Route<S> = Box::new(move |state, body| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let envelope = Envelope::<M>::decode(&body)?;
                handler(state, envelope).await
            })
        });
        self.routes.insert(M::TYPE, route);
        self
    }

    /// Applies one message body: decodes it and runs the handler of its type.
    pub async fn apply(&self, body: Vec<u8>) -> Result<Applied, ApplyError> {
        let head = head(&body)?;
        tracing::Span::current().record("messaging.message_id", tracing::field::display(head.message_id));
        let route = self.routes.get(head.message_type.as_str()).ok_or_else(|| {
            ApplyError::Poison(format!(
                "unexpected message type {:?} on the {} queue",
                head.message_type,
                self.queue.suffix()
            ))
        })?;
        route(self.state.clone(), body).await
    }

    /// Applies a delivery inside a span that continues the producer's trace, logs the result
    /// once, and decides the delivery's fate.
    async fn handle(&self, msg: Incoming) -> Outcome {
        let span = tracing::info_span!(
            "amqp.consume",
            otel.name = %format!("consume {}", msg.routing_key),
            messaging.message_type = %msg.routing_key,
            messaging.message_id = Empty,
        );
        crate::telemetry::set_remote_parent(&span, msg.traceparent.as_deref());
        async move {
            let result = self.apply(msg.body).await;
            log(&result, msg.redelivered);
            Outcome::of(&result)
        }
        .instrument(span)
        .await
    }
}

/// Reads the envelope's head (type and id) of a body.
fn head(body: &[u8]) -> Result<EnvelopeHead, ApplyError> {
    serde_json::from_slice(body).map_err(|e| ApplyError::Poison(format!("malformed message: {e}")))
}

fn log(result: &Result<Applied, ApplyError>, redelivered: bool) {
    match result {
        Ok(Applied::Done(what)) => tracing::info!(%what, "message applied"),
        Ok(Applied::Duplicate) => tracing::debug!("message handled before"),
        Ok(Applied::Ignored(why)) => tracing::info!(%why, "message ignored"),
        Err(ApplyError::Poison(why)) => {
            tracing::error!(%why, redelivered, "message refused; dead-lettered");
        }
        Err(ApplyError::NotYet(why)) => tracing::info!(%why, "message requeued"),
        Err(ApplyError::Transient(e)) => {
            tracing::warn!(error = %format!("{e:#}"), "message could not be applied; requeued");
        }
    }
}

/// Consumes the queue of `handlers` until `shutdown`, reconnecting with backoff when the broker
/// goes away. Up to `prefetch` messages are handled concurrently; each is settled only after
/// its handler returned, i.e. after the handler's transaction committed.
///
/// Losing the broker does not stop the handlers already running (a backup keeps going): they
/// finish and commit, and their deliveries, which can no longer be acked on the lost channel,
/// are redelivered after the reconnection and found done (the inbox, or a job already running
/// or finished). They still count against `prefetch` on the new connection.
pub async fn consume<S>(
    broker: Arc<Broker>,
    prefetch: u16,
    shutdown: CancellationToken,
    handlers: Handlers<S>,
) where
    S: Clone + Send + Sync + 'static,
{
    let handlers = Arc::new(handlers);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut backoff = Duration::from_millis(200);
    while !shutdown.is_cancelled() {
        match consume_once(&broker, prefetch, &shutdown, &handlers, &mut in_flight).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(queue = ?handlers.queue, error = %format!("{e:#}"), running = in_flight.len(), retry_in = ?backoff, "consumer lost the broker; running handlers continue");
                let pause = tokio::time::sleep(backoff);
                tokio::pin!(pause);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = &mut pause => break,
                        Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
    // Let handlers that already started finish (and ack, where their channel still lives).
    while in_flight.join_next().await.is_some() {}
}

async fn consume_once<S>(
    broker: &Broker,
    prefetch: u16,
    shutdown: &CancellationToken,
    handlers: &Arc<Handlers<S>>,
    in_flight: &mut tokio::task::JoinSet<()>,
) -> anyhow::Result<()>
where
    S: Clone + Send + Sync + 'static,
{
    let (_connection, channel) = broker.connect().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let queue_name = broker.config().queue_name(handlers.queue);
    let mut consumer = channel
        .basic_consume(
            queue_name.as_str().into(),
            ShortString::from(format!("{}-{}", broker.connection_name, uuid::Uuid::new_v4().simple())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %queue_name, prefetch, running = in_flight.len(), "consuming");
    // Handlers started on an earlier connection keep running: take new deliveries only while
    // fewer than `prefetch` run in all.
    let limit = usize::from(prefetch.max(1));
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = consumer.next(), if in_flight.len() < limit => next,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        let delivery = match next {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the consumer was cancelled by the broker"),
        };
        let handlers = Arc::clone(handlers);
        in_flight.spawn(async move { settle(delivery, &handlers).await });
    }
    // Let handlers that already started finish and ack before the connection closes.
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

async fn settle<S>(delivery: Delivery, handlers: &Handlers<S>)
where
    S: Clone + Send + Sync + 'static,
{
    let traceparent =
        delivery.properties.headers().as_ref().and_then(|h| h.inner().get("traceparent")).and_then(
            |v| match v {
                AMQPValue::LongString(s) => Some(s.to_string()),
                AMQPValue::ShortString(s) => Some(s.to_string()),
                _ => None,
            },
        );
    let incoming = Incoming {
        body: delivery.data.clone(),
        routing_key: delivery.routing_key.to_string(),
        redelivered: delivery.redelivered,
        traceparent,
    };
    let outcome = handlers.handle(incoming).await;
    let result = match outcome {
        Outcome::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Outcome::Reject => delivery.acker.reject(BasicRejectOptions { requeue: false }).await,
        Outcome::Retry => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            delivery.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await
        }
    };
    if let Err(e) = result {
        // The broker redelivers an unacknowledged message; the inbox makes that harmless.
        tracing::warn!(error = %e, ?outcome, "could not settle a delivery");
    }
}
