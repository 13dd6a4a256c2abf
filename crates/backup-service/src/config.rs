//! Settings, from the environment (the README's configuration table lists them).

use std::{path::PathBuf, str::FromStr, time::Duration};

use service_kit::{
    amqp::AmqpConfig,
    config::{parse_or, var_opt, var_or},
    db::DatabaseSettings,
};

use crate::volumes::DriverSettings;

/// A duration in seconds, fractions allowed (`0.5`).
fn seconds_or(key: &str, default: Duration) -> anyhow::Result<Duration> {
    let secs: f64 = parse_or(key, default.as_secs_f64())?;
    Duration::try_from_secs_f64(secs).map_err(|e| anyhow::anyhow!("{key}={secs} is invalid: {e}"))
}

/// What one process does. The API and the workers scale independently; `all` runs both in
/// one process for development.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The HTTP API: records requests and enqueues jobs.
    Api,
    /// Consumes `backup.requested` and `backup.job`, runs backups, restores, deletions and GC.
    Worker,
    /// Both.
    All,
}

impl Role {
    pub fn serves_http(self) -> bool {
        matches!(self, Self::Api | Self::All)
    }

    pub fn runs_jobs(self) -> bool {
        matches!(self, Self::Worker | Self::All)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "api" => Ok(Self::Api),
            "worker" => Ok(Self::Worker),
            "all" => Ok(Self::All),
            other => Err(format!("{other:?} is not one of api, worker, all")),
        }
    }
}

/// Where backups are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreConfig {
    /// A local directory (created when missing).
    Local(PathBuf),
    /// `s3://bucket[/prefix]`; credentials, region and endpoint from the standard `AWS_*`
    /// variables (`AWS_ENDPOINT` for an S3-compatible server, `AWS_ALLOW_HTTP=true` for plain
    /// HTTP).
    S3 { bucket: String, prefix: String },
}

impl ObjectStoreConfig {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "{s:?} names no bucket");
            return Ok(Self::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        let path = s.strip_prefix("file://").unwrap_or(s);
        anyhow::ensure!(!path.is_empty(), "the object store path is empty");
        Ok(Self::Local(PathBuf::from(path)))
    }
}

/// Worker timings and limits.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `VBS_BACKUP_WORKER_CONCURRENCY`: jobs one worker runs at once (the AMQP prefetch).
    pub concurrency: u16,
    /// `VBS_BACKUP_ENGINE_THREADS`: hash/compress and decode threads per job (0 = cores).
    pub engine_threads: usize,
    /// `VBS_BACKUP_HEARTBEAT_SECS`: how often a running job renews its lease and progress.
    pub heartbeat: Duration,
    /// `VBS_BACKUP_JOB_TIMEOUT_SECS`: a running job whose lease was not renewed for this long
    /// belongs to a worker that died; another worker may take it over.
    pub job_timeout: Duration,
    /// `VBS_BACKUP_MAX_ATTEMPTS`: attempts of one job before it fails for good (a job whose
    /// worker died is resumed by the next delivery until then).
    pub max_attempts: i32,
    /// `VBS_BACKUP_GC_INTERVAL_SECS`: time between garbage collections of each project
    /// (0 disables the periodic GC).
    pub gc_interval: Duration,
    /// `VBS_BACKUP_GC_GRACE_SECS`: unreferenced packs younger than this are kept (they may
    /// belong to a backup GC cannot see yet).
    pub gc_grace: Duration,
    /// `VBS_BACKUP_PENDING_TTL_SECS`: an in-flight marker older than this is presumed dead.
    pub pending_ttl: Duration,
    /// `VBS_BACKUP_REAP_INTERVAL_SECS`: how often a worker looks for jobs whose worker died
    /// and whose message is gone.
    pub reap_interval: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 2,
            engine_threads: 0,
            heartbeat: Duration::from_secs(5),
            job_timeout: Duration::from_secs(60),
            max_attempts: 3,
            gc_interval: Duration::from_secs(3600),
            gc_grace: Duration::from_secs(6 * 3600),
            pending_ttl: Duration::from_secs(7 * 24 * 3600),
            reap_interval: Duration::from_secs(300),
        }
    }
}

/// Per-project limits reported by the quota API (-1: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// `VBS_BACKUP_QUOTA_BACKUPS`.
    pub backups: i64,
    /// `VBS_BACKUP_QUOTA_GIGABYTES`: total `size` of the project's backups.
    pub gigabytes: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self { backups: -1, gigabytes: -1 }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `VBS_BACKUP_ROLE` (or `--role`): `api`, `worker` or `all`.
    pub role: Role,
    /// `VBS_BACKUP_BIND`.
    pub bind: String,
    /// `VBS_BACKUP_DATABASE_URL`, `VBS_DB_POOL_SIZE`, `VBS_CREATE_DATABASE`.
    pub database: DatabaseSettings,
    pub amqp: AmqpConfig,
    /// `VBS_PUBLIC_URL`: the base URL clients use, for links.
    pub public_url: Option<String>,
    /// `VBS_VOLUME_DRIVER` (`file` or `rbd`) and its settings: `VBS_VOLUMES_ROOT` for the file
    /// driver, `VBS_RBD_*` for the rbd driver.
    pub volumes: DriverSettings,
    /// `VBS_OBJECT_STORE`: a directory, `file:///path` or `s3://bucket/prefix`.
    pub object_store: ObjectStoreConfig,
    /// `VBS_AVAILABILITY_ZONE`: reported on backups.
    pub availability_zone: Option<String>,
    pub quotas: Quotas,
    pub worker: WorkerSettings,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let d = WorkerSettings::default();
        Ok(Self {
            role: parse_or("VBS_BACKUP_ROLE", Role::All)?,
            bind: var_or("VBS_BACKUP_BIND", "127.0.0.1:8082"),
            database: DatabaseSettings::from_env(
                "VBS_BACKUP_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/vbs_backup",
            )?,
            amqp: AmqpConfig::from_env(),
            public_url: var_opt("VBS_PUBLIC_URL"),
            volumes: DriverSettings::from_env()?,
            object_store: ObjectStoreConfig::parse(&var_or("VBS_OBJECT_STORE", "data/objects"))?,
            availability_zone: var_opt("VBS_AVAILABILITY_ZONE"),
            quotas: Quotas {
                backups: parse_or("VBS_BACKUP_QUOTA_BACKUPS", -1)?,
                gigabytes: parse_or("VBS_BACKUP_QUOTA_GIGABYTES", -1)?,
            },
            worker: WorkerSettings {
                concurrency: parse_or("VBS_BACKUP_WORKER_CONCURRENCY", d.concurrency)?,
                engine_threads: parse_or("VBS_BACKUP_ENGINE_THREADS", d.engine_threads)?,
                heartbeat: seconds_or("VBS_BACKUP_HEARTBEAT_SECS", d.heartbeat)?,
                job_timeout: seconds_or("VBS_BACKUP_JOB_TIMEOUT_SECS", d.job_timeout)?,
                max_attempts: parse_or("VBS_BACKUP_MAX_ATTEMPTS", d.max_attempts)?,
                gc_interval: seconds_or("VBS_BACKUP_GC_INTERVAL_SECS", d.gc_interval)?,
                gc_grace: seconds_or("VBS_BACKUP_GC_GRACE_SECS", d.gc_grace)?,
                pending_ttl: seconds_or("VBS_BACKUP_PENDING_TTL_SECS", d.pending_ttl)?,
                reap_interval: seconds_or("VBS_BACKUP_REAP_INTERVAL_SECS", d.reap_interval)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_store_urls() {
        assert_eq!(
            ObjectStoreConfig::parse("data/objects").unwrap(),
            ObjectStoreConfig::Local("data/objects".into())
        );
        assert_eq!(
            ObjectStoreConfig::parse("file:///srv/vbs").unwrap(),
            ObjectStoreConfig::Local("/srv/vbs".into())
        );
        assert_eq!(
            ObjectStoreConfig::parse("s3://bucket/a/b/").unwrap(),
            ObjectStoreConfig::S3 { bucket: "bucket".into(), prefix: "a/b".into() }
        );
        assert!(ObjectStoreConfig::parse("s3://").is_err());
        assert!(ObjectStoreConfig::parse("").is_err());
    }

    #[test]
    fn roles() {
        assert_eq!("worker".parse::<Role>().unwrap(), Role::Worker);
        assert!("both".parse::<Role>().is_err());
        assert!(Role::All.serves_http() && Role::All.runs_jobs());
        assert!(!Role::Worker.serves_http() && !Role::Api.runs_jobs());
    }
}
