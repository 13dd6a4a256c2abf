//! Background duties of every worker: the periodic garbage collection of each project's
//! storage, and the reaper that hands out again the jobs of workers that died.

use std::{sync::Arc, time::Duration};

use api_types::domain::ProjectId;
use backup_engine::GcReport;
use chrono::Utc;
use diesel::{Connection, PgConnection, prelude::*};
use service_kit::{CancellationToken, db};

use super::{Inner, job::release_to_init};
use crate::{
    domain::JobStatus,
    error::BackupError,
    storage,
    store::{self, JobRow, schema::jobs},
};

/// Collects every project whose last collection is older than the interval. Several workers
/// may run this at once: each project is collected under its advisory lock, by whoever gets it.
pub async fn gc_once(inner: &Inner) -> anyhow::Result<Vec<(String, GcReport)>> {
    let interval = chrono::Duration::from_std(inner.settings.gc_interval)?;
    let before = Utc::now().naive_utc() - interval;
    let projects = db::run(&inner.pool, move |conn: &mut PgConnection| -> Result<_, BackupError> {
        Ok(store::projects_due_for_gc(conn, before)?)
    })
    .await?;
    let opts = storage::gc_options(&inner.settings);
    let mut reports = Vec::new();
    for p in projects {
        let Ok(project) = ProjectId::parse(&p) else { continue };
        match storage::gc_project(&inner.pool, &inner.engine, &project, &opts).await {
            Ok(Some(report)) => {
                if report.packs_deleted > 0 || report.packs_repacked > 0 || report.missing_packs > 0 {
                    tracing::info!(project = %p, ?report, "garbage collected");
                }
                if report.missing_packs > 0 {
                    tracing::error!(project = %p, missing = report.missing_packs, "manifests reference missing packs");
                }
                let proj = p.clone();
                db::run(&inner.pool, move |conn: &mut PgConnection| -> Result<_, BackupError> {
                    Ok(store::mark_gc_done(conn, &proj, Utc::now().naive_utc())?)
                })
                .await?;
                reports.push((p, report));
            }
            Ok(None) => tracing::debug!(project = %p, "another worker is collecting this project"),
            Err(e) => tracing::warn!(project = %p, error = %format!("{e:#}"), "garbage collection failed"),
        }
    }
    Ok(reports)
}

pub(super) async fn gc_loop(inner: Arc<Inner>, shutdown: CancellationToken) {
    if inner.settings.gc_interval.is_zero() {
        return;
    }
    // Look for due projects a few times per interval, but not more than once a minute.
    let tick = (inner.settings.gc_interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = gc_once(&inner).await {
            tracing::warn!(error = %format!("{e:#}"), "garbage collection pass failed");
        }
    }
}

/// Returns running jobs whose lease went stale (their worker died) to `INIT` and publishes
/// them again; the next claim resumes them or, past the attempt limit, fails them. Returns the
/// ids handed out.
pub async fn reap_once(inner: &Inner) -> anyhow::Result<Vec<String>> {
    let timeout = chrono::Duration::from_std(inner.settings.job_timeout)?;
    let reaped = db::run(&inner.pool, move |conn: &mut PgConnection| {
        conn.transaction(|conn| -> Result<Vec<String>, BackupError> {
            let before = Utc::now().naive_utc() - timeout;
            // PostgreSQL-specific: SKIP LOCKED, so reapers of several workers split the work.
            let stale: Vec<JobRow> = jobs::table
                .filter(jobs::status.eq(JobStatus::Running.as_str()))
                .filter(jobs::heartbeat_at.lt(before))
                .for_update()
                .skip_locked()
                .select(JobRow::as_select())
                .load(conn)?;
            for job in &stale {
                release_to_init(conn, job, job.attempts)?;
            }
            Ok(stale.into_iter().map(|j| j.id).collect())
        })
    })
    .await?;
    if !reaped.is_empty() {
        inner.wake_relay.notify_one();
        tracing::warn!(jobs = ?reaped, "jobs of a stopped worker handed out again");
    }
    Ok(reaped)
}

pub(super) async fn reap_loop(inner: Arc<Inner>, shutdown: CancellationToken) {
    let tick = inner.settings.reap_interval.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = reap_once(&inner).await {
            tracing::warn!(error = %format!("{e:#}"), "reaper pass failed");
        }
    }
}
