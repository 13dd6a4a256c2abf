//! A PostgreSQL advisory lock on one project's object-store prefix, held by a pooled
//! connection for as long as the guard lives. Every worker process (and `vbsctl backup gc`)
//! takes the same lock, so garbage collection and backup deletion of one project never overlap
//! anywhere; a process that dies releases it with its connection.

use std::time::Duration;

use anyhow::Context;
use api_types::domain::ProjectId;
use service_kit::db::{PgPool, PgPooled};

use crate::store::projects;

pub struct ProjectLock {
    conn: Option<PgPooled>,
    key: String,
}

impl ProjectLock {
    /// Takes the lock if it is free.
    pub async fn try_acquire(pool: &PgPool, project: &ProjectId) -> anyhow::Result<Option<Self>> {
        let pool = pool.clone();
        let key = projects::lock_key(project);
        service_kit::telemetry::spawn_blocking_in_span(move || -> anyhow::Result<Option<Self>> {
            let mut conn = pool.get().context("a connection for the project lock")?;
            if projects::try_lock(&mut conn, &key)? {
                Ok(Some(Self { conn: Some(conn), key }))
            } else {
                Ok(None)
            }
        })
        .await?
    }

    /// Waits up to `patience` for the lock.
    pub async fn acquire(pool: &PgPool, project: &ProjectId, patience: Duration) -> anyhow::Result<Self> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            if let Some(lock) = Self::try_acquire(pool, project).await? {
                return Ok(lock);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "project {project} stayed locked (garbage collection) for {patience:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Releases the lock and returns the connection to the pool.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let key = std::mem::take(&mut self.key);
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = projects::unlock(&mut conn, &key) {
                    tracing::warn!(error = %e, "releasing a project lock");
                }
            })
            .await;
        }
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Not released explicitly (a panic or a cancelled task): the connection must not go
        // back to the pool holding the lock.
        if let Some(mut conn) = self.conn.take() {
            let _ = projects::unlock(&mut conn, &self.key);
        }
    }
}
