//! The backup engine over the configured object store, and garbage collection of one project
//! under its [`ProjectLock`].

use std::sync::Arc;

use anyhow::Context;
use api_types::domain::ProjectId;
use backup_engine::{Engine, EngineConfig, GcOptions, GcReport};
use object_store::{ObjectStore, local::LocalFileSystem};
use service_kit::db::PgPool;

use crate::{
    config::{ObjectStoreConfig, WorkerSettings},
    project_lock::ProjectLock,
};

/// Builds the engine for `config`.
pub fn build(config: &ObjectStoreConfig, threads: usize) -> anyhow::Result<Engine> {
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
