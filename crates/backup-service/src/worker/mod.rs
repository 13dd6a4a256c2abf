//! The workers: consume the backup queue, run jobs, collect garbage, recover from crashes.
//!
//! One durable queue carries two message types:
//!
//! * `backup.requested` (from the task-scheduler): turned into a create job (or a `SKIP` /
//!   `EXECUTE_FAIL` task status) in one transaction with the inbox record, so a redelivered
//!   request changes nothing. It does not run the backup itself: the job's own `backup.job`
//!   message does, so policy backups and HTTP requests share one path.
//! * `backup.job`: claims the job (a lease in the job row), runs it with the engine while a
//!   heartbeat renews the lease and publishes progress, and records the outcome (with the
//!   task status and retention for policy backups) in one transaction. The message is acked
//!   only after that commit.
//!
//! Failure model:
//! * A malformed message can never succeed: it is rejected to the dead-letter queue.
//! * The database unreachable: the message is requeued (`Outcome::Retry`).
//! * A worker that dies mid-job: its lease stops being renewed. The reaper of any worker
//!   returns a job whose lease is older than `VBS_BACKUP_JOB_TIMEOUT_SECS` to `INIT` and
//!   publishes it again; the next attempt starts over under the same backup id (the engine
//!   never overwrites the dead attempt's packs, and the garbage collector reclaims them).
//!   After `VBS_BACKUP_MAX_ATTEMPTS` attempts the job fails and its backup is `error` with a
//!   `fail_reason`. A backup is `available` only once its manifest — written after all its
//!   data — is committed, so no path leaves an available backup with missing data.
//! * A delivery of a job that is already running elsewhere is acked: the running attempt
//!   owns it, and the reaper covers that attempt's death.
//! * A worker asked to stop (SIGTERM) hands its running jobs back (`INIT`, published again).

mod job;
mod maintenance;
mod requested;

use std::sync::Arc;

use api_types::message::{BackupJob, BackupRequested, EnvelopeHead, Message};
use backup_engine::Engine;
use service_kit::{
    CancellationToken,
    amqp::{self, Broker, Incoming, Outcome, Queue},
    db::PgPool,
};
use tokio::sync::Notify;
use tracing::Instrument;

use crate::{
    config::{Quotas, WorkerSettings},
    volumes::FileVolumes,
};

/// What a worker needs.
pub struct Inner {
    pub pool: PgPool,
    pub broker: Arc<Broker>,
    pub wake_relay: Arc<Notify>,
    pub engine: Engine,
    pub volumes: FileVolumes,
    pub settings: WorkerSettings,
    pub quotas: Quotas,
}

/// The worker role of a process.
pub struct Worker {
    inner: Arc<Inner>,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        broker: Arc<Broker>,
        wake_relay: Arc<Notify>,
        engine: Engine,
        volumes: FileVolumes,
        settings: WorkerSettings,
        quotas: Quotas,
    ) -> Self {
        Self { inner: Arc::new(Inner { pool, broker, wake_relay, engine, volumes, settings, quotas }) }
    }

    /// A handle on the worker's maintenance duties, to run them on demand (tests, tools).
    pub fn maintenance(&self) -> Maintenance {
        Maintenance(Arc::clone(&self.inner))
    }

    /// Consumes, collects garbage and reaps until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let inner = self.inner;
        let consumer = {
            let inner = Arc::clone(&inner);
            let stop = shutdown.clone();
            let prefetch = inner.settings.concurrency.max(1);
            amqp::consume(
                Arc::clone(&inner.broker),
                Queue::BackupRequests,
                prefetch,
                shutdown.clone(),
                move |m| handle(Arc::clone(&inner), stop.clone(), m),
            )
        };
        let gc = maintenance::gc_loop(Arc::clone(&inner), shutdown.clone());
        let reaper = maintenance::reap_loop(Arc::clone(&inner), shutdown.clone());
        tokio::join!(consumer, gc, reaper);
    }
}

/// Runs a worker's periodic duties once, now.
#[derive(Clone)]
pub struct Maintenance(Arc<Inner>);

impl Maintenance {
    /// Garbage-collects every project due (with `VBS_BACKUP_GC_INTERVAL_SECS` = 0: every one).
    pub async fn gc(&self) -> anyhow::Result<Vec<(String, backup_engine::GcReport)>> {
        maintenance::gc_once(&self.0).await
    }

    /// Hands out again the jobs of workers that stopped renewing their lease.
    pub async fn reap(&self) -> anyhow::Result<Vec<String>> {
        maintenance::reap_once(&self.0).await
    }
}

async fn handle(inner: Arc<Inner>, shutdown: CancellationToken, m: Incoming) -> Outcome {
    let head: EnvelopeHead = match serde_json::from_slice(&m.body) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, routing_key = %m.routing_key, "unreadable message, dead-lettered");
            return Outcome::Reject;
        }
    };
    let span =
        tracing::info_span!("amqp.message", message_id = %head.message_id, message_type = %head.message_type);
    service_kit::telemetry::set_remote_parent(&span, m.traceparent.as_deref());
    async move {
        match head.message_type.as_str() {
            BackupRequested::TYPE => requested::handle(&inner, &m.body).await,
            BackupJob::TYPE => job::handle(&inner, &shutdown, &m.body).await,
            other => {
                tracing::error!(
                    message_type = other,
                    "unexpected message type on the backup queue, dead-lettered"
                );
                Outcome::Reject
            }
        }
    }
    .instrument(span)
    .await
}
