//! `backup.job`: claim the job, run it under a renewed lease, record the outcome. The message
//! is settled only after that commit.

use std::sync::Arc;

use api_types::{
    domain::ResourceId,
    message::{BackupJob, Envelope},
};
use service_kit::amqp::{Applied, ApplyError};

use super::{
    WorkerState,
    claim::{Claim, claim},
    finish::{abandon_attempt, hand_back, record_result},
    run::{RunEnd, run_with_heartbeat},
};

pub async fn apply(state: Arc<WorkerState>, env: Envelope<BackupJob>) -> Result<Applied, ApplyError> {
    let BackupJob { job_id, project_id } = env.payload;
    let lease = ResourceId::new_v4();
    let max_attempts = state.settings.max_attempts.max(1);
    let claimed = state.db.write(move |conn| claim(conn, job_id, &project_id, lease, max_attempts)).await?;
    let job = match claimed {
        Claim::Run(job) => *job,
        Claim::GaveUp(job) => {
            abandon_attempt(&state, &job).await;
            return Ok(Applied::Done(format!("job {job_id} failed for good: its workers stopped")));
        }
        Claim::Skip(why) => return Ok(Applied::Ignored(format!("job {job_id}: {why}"))),
        Claim::Poison(why) => return Err(ApplyError::Poison(format!("job {job_id}: {why}"))),
    };
    tracing::info!(%job_id, job_type = %job.job_type, backup_id = %job.backup_id, attempt = job.attempts, "job started");
    let applied = match run_with_heartbeat(&state, &job, lease).await {
        RunEnd::Done(result) => record_result(&state, job, lease, result).await?,
        RunEnd::LeaseLost => Applied::Ignored(format!(
            "job {job_id}: lost the lease (a worker presumed this one dead); stopped"
        )),
        RunEnd::Stopped => hand_back(&state, job, lease).await?,
    };
    Ok(applied)
}
