//! The object store, the engine over it, and the per-project lock that keeps garbage
//! collection and backup deletion of one project apart.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use api_types::domain::ProjectId;
use backup_engine::{Engine, EngineConfig, GcOptions, GcReport};
use diesel::{
    PgConnection, RunQueryDsl,
    sql_types::{Bool, Text},
};
use object_store::{ObjectStore, local::LocalFileSystem};
use service_kit::db::{PgPool, PgPooled};

use crate::config::{ObjectStoreConfig, WorkerSettings};

/// Builds the engine for `config`.
pub fn engine(config: &ObjectStoreConfig, threads: usize) -> anyhow::Result<Engine> {
    let (store, root_prefix, local_root): (Arc<dyn ObjectStore>, String, _) = match config {
        ObjectStoreConfig::Local(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("object store directory {}", dir.display()))?;
            (Arc::new(store), "vbs".to_owned(), Some(dir.clone()))
        }
        ObjectStoreConfig::S3 { bucket, prefix } => (s3(bucket)?, prefix.clone(), None),
    };
    let config = EngineConfig { root_prefix, threads, local_root, ..EngineConfig::default() };
    Ok(Engine::new(store, config)?)
}

#[cfg(feature = "s3")]
fn s3(bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .with_context(|| format!("S3 bucket {bucket}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "s3"))]
fn s3(_bucket: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    anyhow::bail!("this build has no S3 support (build backup-service with the `s3` feature)")
}

/// A PostgreSQL advisory lock on one project's object-store prefix, held by a pooled
/// connection for as long as the guard lives. Every worker process takes the same lock, so GC
/// and `delete_backup` of one project never overlap anywhere; a worker that dies releases it
/// with its connection.
pub struct ProjectLock {
    conn: Option<PgPooled>,
    key: String,
}

fn lock_key(project: &ProjectId) -> String {
    format!("vbs-backup-store:{project}")
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// PostgreSQL-specific: `pg_try_advisory_lock` on a hash of the key.
fn try_lock(conn: &mut PgConnection, key: &str) -> diesel::QueryResult<bool> {
    diesel::sql_query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked")
        .bind::<Text, _>(key)
        .get_result::<Locked>(conn)
        .map(|r| r.locked)
}

fn unlock(conn: &mut PgConnection, key: &str) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS locked")
        .bind::<Text, _>(key)
        .get_result::<Locked>(conn)
        .map(drop)
}

impl ProjectLock {
    /// Takes the lock if it is free.
    pub async fn try_acquire(pool: &PgPool, project: &ProjectId) -> anyhow::Result<Option<Self>> {
        let pool = pool.clone();
        let key = lock_key(project);
        service_kit::telemetry::spawn_blocking_in_span(move || -> anyhow::Result<Option<Self>> {
            let mut conn = pool.get().context("a connection for the project lock")?;
            if try_lock(&mut conn, &key)? { Ok(Some(Self { conn: Some(conn), key })) } else { Ok(None) }
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
                if let Err(e) = unlock(&mut conn, &key) {
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
            let _ = unlock(&mut conn, &self.key);
        }
    }
}

/// GC options from the worker settings.
pub fn gc_options(w: &WorkerSettings) -> GcOptions {
    GcOptions { grace: w.gc_grace, pending_ttl: w.pending_ttl, ..GcOptions::default() }
}

/// Garbage-collects one project under its lock; `None` when another worker holds the lock.
pub async fn gc_project(
    pool: &PgPool,
    engine: &Engine,
    project: &ProjectId,
    opts: &GcOptions,
) -> anyhow::Result<Option<GcReport>> {
    let Some(lock) = ProjectLock::try_acquire(pool, project).await? else {
        return Ok(None);
    };
    let report = engine.gc(project.as_str(), opts).await;
    lock.release().await;
    Ok(Some(report?))
}
