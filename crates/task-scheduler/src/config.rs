//! Settings, from the environment (the README's configuration table lists them).

use std::time::Duration;

use service_kit::{
    amqp::AmqpConfig,
    config::{parse_or, seconds_or, var_or},
    db::DatabaseSettings,
};

/// How the scheduler fires and follows tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// `VBS_SCHEDULER_TASK_DEADLINE_SECS` (default 6 h): a task still `WAITING` or `RUNNING`
    /// this long after it was created becomes `EXECUTE_TIMEOUT`.
    pub task_deadline: Duration,
    /// `VBS_SCHEDULER_GRACE_SECS` (default 30 min): a slot missed while no scheduler ran still
    /// runs late if it is the latest missed slot and at most this old; the others are recorded
    /// as `SKIP`.
    pub grace: Duration,
    /// Policies claimed per tick transaction.
    pub batch: i64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { task_deadline: Duration::from_secs(6 * 3600), grace: Duration::from_secs(30 * 60), batch: 50 }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `VBS_SCHEDULER_BIND`: the listening address.
    pub bind: String,
    /// `VBS_SCHEDULER_DATABASE_URL`, `VBS_DB_POOL_SIZE`, `VBS_CREATE_DATABASE`.
    pub database: DatabaseSettings,
    pub amqp: AmqpConfig,
    pub scheduler: SchedulerConfig,
    /// `VBS_SCHEDULER_TICK_SECS` (default 5): how often due slots are fired and deadlines
    /// checked. The loop also wakes at the earliest slot it knows of when that is sooner, so a
    /// slot fires at its hour; one that became due behind its back waits at most this long.
    pub tick_interval: Duration,
    /// `VBS_SCHEDULER_MAX_PAGE_SIZE` (default 1000): the largest `limit` of the task query. A
    /// larger `limit` is refused with 400 rather than cut, because clients page until a short
    /// page and would take a cut page for the last one.
    pub max_page_size: i64,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let defaults = SchedulerConfig::default();
        let max_page_size = parse_or("VBS_SCHEDULER_MAX_PAGE_SIZE", 1000)?;
        anyhow::ensure!(
            max_page_size >= 20,
            "VBS_SCHEDULER_MAX_PAGE_SIZE must be at least 20 (the default limit)"
        );
        let tick_interval = seconds_or("VBS_SCHEDULER_TICK_SECS", 5)?;
        anyhow::ensure!(!tick_interval.is_zero(), "VBS_SCHEDULER_TICK_SECS must be at least 1");
        Ok(Self {
            bind: var_or("VBS_SCHEDULER_BIND", "127.0.0.1:8081"),
            database: DatabaseSettings::from_env(
                "VBS_SCHEDULER_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/vbs_scheduler",
            )?,
            amqp: AmqpConfig::from_env(),
            scheduler: SchedulerConfig {
                task_deadline: seconds_or(
                    "VBS_SCHEDULER_TASK_DEADLINE_SECS",
                    defaults.task_deadline.as_secs(),
                )?,
                grace: seconds_or("VBS_SCHEDULER_GRACE_SECS", defaults.grace.as_secs())?,
                batch: defaults.batch,
            },
            tick_interval,
            max_page_size,
        })
    }
}
