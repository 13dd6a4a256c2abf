//! Claiming a job for one attempt: the job row is locked, checked and given this attempt's
//! lease, in one transaction.

use api_types::{
    domain::{ProjectId, ResourceId},
    message::TaskOutcome,
};
use chrono::Utc;
use diesel::PgConnection;

use super::{
    error::{Failure, WorkerError},
    finish::record_failure,
};
use crate::{
    domain::{JobStatus, JobType},
    store::{JobRow, jobs},
};

pub enum Claim {
    /// This attempt runs the job.
    Run(Box<JobRow>),
    /// The job failed for good at claim time (too many attempts); its dead attempt's marker is
    /// to be dropped after the commit.
    GaveUp(Box<JobRow>),
    /// Nothing to do (finished, or running elsewhere).
    Skip(&'static str),
    /// The message can never name a job to run.
    Poison(String),
}

pub fn claim(
    conn: &mut PgConnection,
    job_id: ResourceId,
    project: &ProjectId,
    lease: ResourceId,
    max_attempts: i32,
) -> Result<Claim, WorkerError> {
    let Some(mut job) = jobs::find_for_update_after_backup(conn, job_id)? else {
        return Ok(Claim::Skip("no such job"));
    };
    if *job.project_id != *project {
        return Ok(Claim::Poison(format!("message names project {project}, the job belongs to another")));
    }
    let (Some(status), Some(job_type)) = (job.status(), job.job_type()) else {
        return Ok(Claim::Poison(format!("job has status {:?} and type {:?}", job.status, job.job_type)));
    };
    match status {
        JobStatus::Success | JobStatus::Fail => return Ok(Claim::Skip("already finished")),
        // A delivery of a job running elsewhere: the running attempt owns it, and the reaper
        // covers that attempt's death.
        JobStatus::Running => return Ok(Claim::Skip("running on another worker")),
        JobStatus::Init => {}
    }
    let now = Utc::now().naive_utc();
    if job.attempts >= max_attempts {
        let failure = Failure::new(
            Failure::default_code(job_type),
            format!("the worker running this job stopped before it finished ({} attempts)", job.attempts),
        );
        record_failure(conn, &job, &failure, now)?;
        return Ok(Claim::GaveUp(Box::new(job)));
    }
    jobs::start_attempt(conn, &job, lease, now)?;
    if job_type == JobType::Create && job.attempts == 0 {
        crate::app::requests::report_task(conn, &job, TaskOutcome::Running)?;
    }
    job.status = JobStatus::Running.as_str().to_owned();
    job.attempts += 1;
    job.lease = Some(lease.into());
    Ok(Claim::Run(Box::new(job)))
}
