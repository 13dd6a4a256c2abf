//! Background duties of every worker: the periodic garbage collection of each project's
//! storage, and the reaper that hands out again the jobs of workers that died.

use std::{sync::Arc, time::Duration};

use api_types::domain::ProjectId;
use backup_engine::GcReport;
use chrono::Utc;

use super::{WorkerState, finish::release};
use crate::{
    engine,
    store::{jobs, projects},
};

/// Collects every project whose last collection is older than the interval. Several workers
/// may run this at once: each project is collected under its advisory lock, by whoever gets it.
pub async fn gc_once(state: &WorkerState) -> anyhow::Result<Vec<(ProjectId, GcReport)>> {
    let interval = chrono::Duration::from_std(state.settings.gc_interval)?;
    let before = Utc::now().naive_utc() - interval;
    let due = state.db.read(move |conn| Ok(projects::due_for_gc(conn, before)?)).await?;
    let opts = engine::gc_options(&state.settings);
    let mut reports = Vec::new();
    for project in due {
        match engine::gc_project(state.db.pool(), &state.engine, &project, &opts).await {
            Ok(Some(report)) => {
                if report.packs_deleted > 0 || report.packs_repacked > 0 || report.missing_packs > 0 {
                    tracing::info!(%project, ?report, "garbage collected");
                }
                if report.missing_packs > 0 {
                    tracing::error!(%project, missing = report.missing_packs, "manifests reference missing packs");
                }
                let p = project.clone();
                state
                    .db
                    .read(move |conn| Ok(projects::mark_gc_done(conn, &p, Utc::now().naive_utc())?))
                    .await?;
                reports.push((project, report));
            }
            Ok(None) => tracing::debug!(%project, "another worker is collecting this project"),
            Err(e) => tracing::warn!(%project, error = %format!("{e:#}"), "garbage collection failed"),
        }
    }
    Ok(reports)
}

pub async fn gc_loop(state: Arc<WorkerState>) {
    if state.settings.gc_interval.is_zero() {
        return;
    }
    // Look for due projects a few times per interval, but not more than once a minute.
    let tick = (state.settings.gc_interval / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = gc_once(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "garbage collection pass failed");
        }
    }
}

/// Returns running jobs whose lease went stale (their worker died) to `INIT` and publishes
/// them again; the next claim resumes them or, past the attempt limit, fails them. Returns the
/// ids handed out.
pub async fn reap_once(state: &WorkerState) -> anyhow::Result<Vec<String>> {
    let timeout = chrono::Duration::from_std(state.settings.job_timeout)?;
    let reaped = state
        .db
        .write(move |conn| {
            let stale = jobs::lock_stale(conn, Utc::now().naive_utc() - timeout)?;
            for job in &stale {
                release(conn, job, job.attempts)?;
            }
            Ok(stale.into_iter().map(|j| j.id.to_string()).collect::<Vec<_>>())
        })
        .await?;
    if !reaped.is_empty() {
        tracing::warn!(jobs = ?reaped, "jobs of a stopped worker handed out again");
    }
    Ok(reaped)
}

pub async fn reap_loop(state: Arc<WorkerState>) {
    let tick = state.settings.reap_interval.max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        if let Err(e) = reap_once(&state).await {
            tracing::warn!(error = %format!("{e:#}"), "reaper pass failed");
        }
    }
}
