//! The workers: consume the backup queue, run jobs, collect garbage, recover from crashes.
//!
//! One durable queue carries two message types, each with its handler (the consumer framework
//! of [`service_kit::amqp`] decodes, traces, logs and settles them):
//!
//! * `backup.requested` (from the task-scheduler, [`requested`]): turned into a create job (or a
//!   `SKIP` / `EXECUTE_FAIL` task status) in one transaction with the inbox record, so a
//!   redelivered request changes nothing. It does not run the backup itself: the job's own
//!   `backup.job` message does, so policy backups and HTTP requests share one path.
//! * `backup.job` ([`job`]): [`claim`]s the job (a lease in the job row), [`run`]s it with the
//!   engine while a heartbeat renews the lease and publishes progress, and [`finish`]es it:
//!   the outcome (with the task status and retention for policy backups) in one transaction.
//!   The message is acked only after that commit.
//!
//! Failure model:
//! * A malformed message can never succeed: it is rejected to the dead-letter queue.
//! * The database unreachable: the message is requeued ([`error::WorkerError`]).
//! * A worker that dies mid-job: its lease stops being renewed. The reaper of any worker
//!   ([`maintenance`]) returns a job whose lease is older than `VBS_BACKUP_JOB_TIMEOUT_SECS` to
//!   `INIT` and publishes it again; the next attempt resumes under the same backup id: the
//!   engine finds the dead attempt's pending marker and references the blocks its packs hold
//!   instead of storing them again (it never overwrites them).
//!   After `VBS_BACKUP_MAX_ATTEMPTS` attempts the job fails and its backup is `error` with a
//!   `fail_reason`. A backup is `available` only once its manifest — written after all its
//!   data — is committed, so no path leaves an available backup with missing data.
//! * A delivery of a job that is already running elsewhere is acked: the running attempt
//!   owns it, and the reaper covers that attempt's death.
//! * A worker asked to stop (SIGTERM) hands its running jobs back (`INIT`, published again).

mod claim;
pub mod error;
mod finish;
mod job;
mod maintenance;
mod requested;
mod run;

use std::sync::Arc;

use api_types::domain::ProjectId;
use backup_engine::{Engine, GcReport};
use service_kit::{
    CancellationToken,
    amqp::{self, Broker, Handlers, Queue},
    db::Db,
};

use crate::{
    config::{Quotas, WorkerSettings},
    volumes::Volumes,
};
use error::WorkerError;

/// What the worker's handlers and loops share.
pub struct WorkerState {
    pub db: Db<WorkerError>,
    pub broker: Arc<Broker>,
    pub engine: Engine,
    pub volumes: Volumes,
    pub settings: WorkerSettings,
    pub quotas: Quotas,
    /// Cancelled when the process stops: running jobs are handed back, loops end.
    pub shutdown: CancellationToken,
}

/// The worker role of a process.
pub struct Worker {
    state: Arc<WorkerState>,
}

impl Worker {
    pub fn new(state: WorkerState) -> Self {
        Self { state: Arc::new(state) }
    }

    /// A handle on the worker's maintenance duties, to run them on demand (tests, tools).
    pub fn maintenance(&self) -> Maintenance {
        Maintenance(Arc::clone(&self.state))
    }

    /// Consumes, collects garbage and reaps until the shutdown token is cancelled.
    pub async fn run(self) {
        let state = self.state;
        let handlers =
            Handlers::new(Queue::BackupRequests, Arc::clone(&state)).on(requested::apply).on(job::apply);
        let prefetch = state.settings.concurrency.max(1);
        let consumer = amqp::consume(Arc::clone(&state.broker), prefetch, state.shutdown.clone(), handlers);
        let gc = maintenance::gc_loop(Arc::clone(&state));
        let reaper = maintenance::reap_loop(state);
        tokio::join!(consumer, gc, reaper);
    }
}

/// Runs a worker's periodic duties once, now.
#[derive(Clone)]
pub struct Maintenance(Arc<WorkerState>);

impl Maintenance {
    /// Garbage-collects every project due (with `VBS_BACKUP_GC_INTERVAL_SECS` = 0: every one).
    pub async fn gc(&self) -> anyhow::Result<Vec<(ProjectId, GcReport)>> {
        maintenance::gc_once(&self.0).await
    }

    /// Hands out again the jobs of workers that stopped renewing their lease.
    pub async fn reap(&self) -> anyhow::Result<Vec<String>> {
        maintenance::reap_once(&self.0).await
    }
}
