//! RabbitMQ: topology, confirmed publishing and consuming.
//!
//! One durable topic exchange carries every message, routed by message type. Every service
//! declares the whole topology (exchange, the consumers' durable queues and their bindings, the
//! dead-letter exchange and queue) whenever it connects. Declaring is idempotent, and it means a
//! message published before its consumer ever ran still has a queue to wait in: nothing is
//! dropped for lack of a binding. Publishing is `mandatory` with publisher confirms, so a message
//! counts as sent only when the broker has taken responsibility for it.
//!
//! Names are prefixed with a namespace (`VBS_AMQP_NAMESPACE`, default `vbs`) so tests (and
//! several deployments on one broker) never see each other's messages.

mod consume;

pub use consume::{Applied, ApplyError, Handlers, consume};

use std::sync::Arc;

use anyhow::Context;
use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm,
    options::{
        BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions,
    },
    types::{AMQPValue, FieldTable, LongString},
};
use tokio::sync::Mutex;

use crate::config::var_or;

#[derive(Debug, Clone)]
pub struct AmqpConfig {
    pub url: String,
    pub namespace: String,
    /// Tests: queues expire when unused and exchanges delete themselves, so repeated test runs
    /// leave nothing behind on the broker.
    pub ephemeral: bool,
}

impl AmqpConfig {
    pub fn from_env() -> Self {
        Self {
            url: var_or("VBS_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            namespace: var_or("VBS_AMQP_NAMESPACE", "vbs"),
            // Tests that run a service as a child process in their own namespace set it, so
            // the child declares the same (expiring) topology as the test.
            ephemeral: var_or("VBS_AMQP_EPHEMERAL", "false") == "true",
        }
    }

    pub fn exchange(&self) -> String {
        format!("{}.events", self.namespace)
    }

    pub fn dead_letter_exchange(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }

    pub fn queue_name(&self, queue: Queue) -> String {
        format!("{}.{}", self.namespace, queue.suffix())
    }
}

/// The durable work queues, one per consuming concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// task-scheduler: `policy.changed`, `policy.execute`.
    SchedulerPolicyEvents,
    /// task-scheduler: `task.status`.
    SchedulerTaskStatus,
    /// backup-service workers: `backup.requested` and `backup.job`.
    BackupRequests,
}

impl Queue {
    pub const ALL: [Queue; 3] =
        [Self::SchedulerPolicyEvents, Self::SchedulerTaskStatus, Self::BackupRequests];

    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Self::SchedulerPolicyEvents => "task-scheduler.policy-events",
            Self::SchedulerTaskStatus => "task-scheduler.task-status",
            Self::BackupRequests => "backup-service.backup-requests",
        }
    }

    fn bindings(self) -> &'static [&'static str] {
        match self {
            Self::SchedulerPolicyEvents => &["policy.changed", "policy.execute"],
            Self::SchedulerTaskStatus => &["task.status"],
            Self::BackupRequests => &["backup.requested", "backup.job"],
        }
    }
}

/// Declares the exchanges, queues and bindings. Idempotent.
pub async fn declare_topology(channel: &Channel, cfg: &AmqpConfig) -> lapin::Result<()> {
    let exchange_options =
        ExchangeDeclareOptions { durable: true, auto_delete: cfg.ephemeral, ..Default::default() };
    let mut queue_args = FieldTable::default();
    if cfg.ephemeral {
        queue_args.insert("x-expires".into(), AMQPValue::LongUInt(10 * 60 * 1000));
    }
    let queue_options = QueueDeclareOptions { durable: true, ..Default::default() };

    channel
        .exchange_declare(cfg.exchange().into(), ExchangeKind::Topic, exchange_options, FieldTable::default())
        .await?;
    channel
        .exchange_declare(
            cfg.dead_letter_exchange().into(),
            ExchangeKind::Fanout,
            exchange_options,
            FieldTable::default(),
        )
        .await?;
    channel.queue_declare(cfg.dead_letter_queue().into(), queue_options, queue_args.clone()).await?;
    channel
        .queue_bind(
            cfg.dead_letter_queue().into(),
            cfg.dead_letter_exchange().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let mut work_args = queue_args;
    work_args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(cfg.dead_letter_exchange().as_str().into()),
    );
    for queue in Queue::ALL {
        let name = cfg.queue_name(queue);
        channel.queue_declare(name.as_str().into(), queue_options, work_args.clone()).await?;
        for key in queue.bindings() {
            channel
                .queue_bind(
                    name.as_str().into(),
                    cfg.exchange().into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}

/// A message ready to publish.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub message_id: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub traceparent: Option<String>,
}

struct PublishChannel {
    // Kept so the connection lives as long as its channel.
    _connection: Connection,
    channel: Channel,
}

/// A lazily (re)connecting handle on the broker.
pub struct Broker {
    cfg: AmqpConfig,
    connection_name: String,
    publisher: Mutex<Option<PublishChannel>>,
}

impl Broker {
    pub fn new(cfg: AmqpConfig, connection_name: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { cfg, connection_name: connection_name.into(), publisher: Mutex::new(None) })
    }

    pub fn config(&self) -> &AmqpConfig {
        &self.cfg
    }

    /// A new connection with the topology declared.
    pub async fn connect(&self) -> anyhow::Result<(Connection, Channel)> {
        let props =
            ConnectionProperties::default().with_connection_name(self.connection_name.as_str().into());
        let connection = Connection::connect(&self.cfg.url, props)
            .await
            .with_context(|| format!("connecting to RabbitMQ at {}", crate::db::redact(&self.cfg.url)))?;
        let channel = connection.create_channel().await.context("opening a channel")?;
        declare_topology(&channel, &self.cfg).await.context("declaring the topology")?;
        Ok((connection, channel))
    }

    /// Publishes every message and waits until the broker has confirmed all of them. Any
    /// failure (a nack, an unroutable message, a lost connection) fails the whole batch: the
    /// caller keeps the messages and tries again, and consumers drop the duplicates.
    pub async fn publish_confirmed(&self, messages: &[Outgoing]) -> anyhow::Result<()> {
        self.publish(messages).await?.wait().await
    }

    /// Publishes every message and returns their pending confirms, so that a caller can publish
    /// its next batch while the broker confirms this one. The channel is held only while
    /// publishing.
    pub async fn publish(&self, messages: &[Outgoing]) -> anyhow::Result<Confirms> {
        let mut guard = self.publisher.lock().await;
        let usable = guard.as_ref().is_some_and(|p| p.channel.status().connected());
        if !usable {
            let (connection, channel) = self.connect().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .context("enabling publisher confirms")?;
            *guard = Some(PublishChannel { _connection: connection, channel });
        }
        let Some(publisher) = guard.as_ref() else {
            anyhow::bail!("no publish channel");
        };
        let result = publish_all(&publisher.channel, &self.cfg.exchange(), messages).await;
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

/// The broker's answers to a batch of published messages.
#[must_use = "a batch counts as sent only once its confirms are awaited"]
pub struct Confirms {
    pending: Vec<(String, String, PublisherConfirm)>,
}

impl Confirms {
    /// Waits until the broker has confirmed every message. Any failure (a nack, an unroutable
    /// message, a lost connection) fails the whole batch.
    pub async fn wait(self) -> anyhow::Result<()> {
        for (message_id, routing_key, confirm) in self.pending {
            let confirmation = confirm.await.with_context(|| format!("confirming {message_id}"))?;
            anyhow::ensure!(confirmation.is_ack(), "the broker refused {message_id}");
            if let Some(returned) = confirmation.take_message() {
                anyhow::bail!("{message_id} ({routing_key}) was unroutable: {}", returned.reply_text);
            }
        }
        Ok(())
    }
}

async fn publish_all(channel: &Channel, exchange: &str, messages: &[Outgoing]) -> anyhow::Result<Confirms> {
    let mut pending = Vec::with_capacity(messages.len());
    for m in messages {
        let mut headers = FieldTable::default();
        if let Some(tp) = &m.traceparent {
            headers.insert("traceparent".into(), AMQPValue::LongString(LongString::from(tp.as_str())));
        }
        let props = BasicProperties::default()
            .with_message_id(m.message_id.as_str().into())
            .with_type(m.routing_key.as_str().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
            .with_headers(headers);
        let confirm = channel
            .basic_publish(
                exchange.into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions { mandatory: true, ..Default::default() },
                &m.body,
                props,
            )
            .await
            .with_context(|| format!("publishing {}", m.message_id))?;
        pending.push((m.message_id.clone(), m.routing_key.clone(), confirm));
    }
    Ok(Confirms { pending })
}
