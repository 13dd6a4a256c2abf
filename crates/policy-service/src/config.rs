//! Settings, from the environment (the README's configuration table lists them).

use service_kit::{
    amqp::AmqpConfig,
    config::{parse_or, var_or},
    db::DatabaseSettings,
};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `VBS_POLICY_BIND`: the listening address.
    pub bind: String,
    /// `VBS_POLICY_DATABASE_URL`, `VBS_DB_POOL_SIZE`, `VBS_CREATE_DATABASE`.
    pub database: DatabaseSettings,
    pub amqp: AmqpConfig,
    /// `VBS_MAX_POLICIES_PER_PROJECT` (the vendor's limit is 10).
    pub max_policies_per_project: i64,
    /// `VBS_MAX_VOLUMES_PER_POLICY`.
    pub max_volumes_per_policy: i64,
    /// `VBS_PUBLIC_URL`: the base URL clients use (for version documents and links); when
    /// unset, the request's own scheme and host.
    pub public_url: Option<String>,
    /// Where the volumes are, as association results show it: `VBS_AVAILABILITY_ZONE` and
    /// `VBS_VOLUME_HOST` (each null in the answers when unset).
    pub placement: Placement,
}

/// The availability zone and host association results name for each volume.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub availability_zone: Option<String>,
    pub volume_host: Option<String>,
}

impl Placement {
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
        Self { availability_zone: var("VBS_AVAILABILITY_ZONE"), volume_host: var("VBS_VOLUME_HOST") }
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            bind: var_or("VBS_POLICY_BIND", "127.0.0.1:8083"),
            database: DatabaseSettings::from_env(
                "VBS_POLICY_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/vbs_policy",
            )?,
            amqp: AmqpConfig::from_env(),
            max_policies_per_project: parse_or("VBS_MAX_POLICIES_PER_PROJECT", 10)?,
            max_volumes_per_policy: parse_or("VBS_MAX_VOLUMES_PER_POLICY", 200)?,
            public_url: std::env::var("VBS_PUBLIC_URL").ok().filter(|s| !s.is_empty()),
            placement: Placement::from_env(),
        })
    }
}
