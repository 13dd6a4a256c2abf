//! The `keystone` strategy: Keystone tokens, validated as keystonemiddleware does.
//!
//! The service authenticates to Keystone as its service user (password, project-scoped) and
//! validates a caller's token with `GET /v3/auth/tokens` (`X-Auth-Token`: the service token,
//! `X-Subject-Token`: the caller's). The project comes from the token's project scope and the
//! role from its roles; an unscoped, domain- or system-scoped token is refused. The service user
//! needs the right to validate tokens (Keystone's default policy: the `service` role).
//!
//! Validations are cached in a bounded cache until the token expires or for
//! `VBS_KEYSTONE_CACHE_SECS`, whichever is sooner: a revoked token is refused at the latest
//! that long after its revocation. Concurrent requests with one uncached token share one
//! validation. The service token is renewed a minute before it expires, and at once when
//! Keystone no longer accepts it. Keystone unreachable (or refusing the service user) is an
//! [`AuthError::Unavailable`]: the request gets a 503, never a 500 and never an answer.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use api_types::domain::ProjectId;
use chrono::{DateTime, Utc};
use moka::{Expiry, future::Cache};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{AuthError, Identity, Role};
use crate::config::{parse_or, var_or};

/// How a service reaches Keystone (the README's configuration table).
#[derive(Debug, Clone)]
pub struct KeystoneConfig {
    /// `VBS_KEYSTONE_URL`: the identity v3 endpoint, e.g. `http://127.0.0.1:5000/v3`.
    pub url: String,
    /// `VBS_KEYSTONE_USERNAME`, `VBS_KEYSTONE_PASSWORD`: the service user.
    pub username: String,
    pub password: String,
    /// `VBS_KEYSTONE_PROJECT_NAME`: the project the service user's token is scoped to.
    pub project_name: String,
    /// `VBS_KEYSTONE_USER_DOMAIN_NAME`, `VBS_KEYSTONE_PROJECT_DOMAIN_NAME` (default `Default`).
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// `VBS_KEYSTONE_CACHE_SECS` (default 300): the longest a validation is reused.
    pub cache_ttl: Duration,
}

impl KeystoneConfig {
    pub fn from_env() -> anyhow::Result<Self> {
        let required = |key: &str| {
            let v = var_or(key, "");
            anyhow::ensure!(!v.is_empty(), "{key} must be set for VBS_AUTH_STRATEGY=keystone");
            Ok(v)
        };
        Ok(Self {
            url: required("VBS_KEYSTONE_URL")?,
            username: required("VBS_KEYSTONE_USERNAME")?,
            password: crate::config::secret("VBS_KEYSTONE_PASSWORD")?,
            project_name: required("VBS_KEYSTONE_PROJECT_NAME")?,
            user_domain_name: var_or("VBS_KEYSTONE_USER_DOMAIN_NAME", "Default"),
            project_domain_name: var_or("VBS_KEYSTONE_PROJECT_DOMAIN_NAME", "Default"),
            cache_ttl: Duration::from_secs(parse_or("VBS_KEYSTONE_CACHE_SECS", 300)?),
        })
    }
}

/// Validations kept at most (each a few hundred bytes).
const CACHE_ENTRIES: u64 = 100_000;
/// The service token is renewed when it has less than this left.
const RENEW_BEFORE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

pub struct Keystone {
    cfg: KeystoneConfig,
    http: reqwest::Client,
    service_token: Mutex<Option<ServiceToken>>,
    cache: Cache<String, Validated>,
}

#[derive(Clone)]
struct ServiceToken {
    token: String,
    expires_at: DateTime<Utc>,
}

/// A validation and how long it may be reused.
#[derive(Clone)]
struct Validated {
    identity: Arc<Identity>,
    reuse_for: Duration,
}

struct ReuseFor;

impl Expiry<String, Validated> for ReuseFor {
    fn expire_after_create(&self, _key: &String, value: &Validated, _now: Instant) -> Option<Duration> {
        Some(value.reuse_for)
    }
}

impl Keystone {
    pub fn new(cfg: KeystoneConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .context("building the Keystone client")?;
        let cache = Cache::builder().max_capacity(CACHE_ENTRIES).expire_after(ReuseFor).build();
        Ok(Self { cfg, http, service_token: Mutex::new(None), cache })
    }

    pub async fn identify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        let validated = self
            .cache
            .try_get_with(token.to_owned(), self.validate(token))
            .await
            .map_err(|e| AuthError::clone(&e))?;
        Ok(validated.identity)
    }

    fn endpoint(&self) -> String {
        format!("{}/auth/tokens", self.cfg.url.trim_end_matches('/'))
    }

    /// One validation against Keystone, renewing the service token once if Keystone refuses it.
    async fn validate(&self, token: &str) -> Result<Validated, AuthError> {
        let mut renewed = false;
        loop {
            let service = self.service_token(renewed).await?;
            let res = self
                .http
                .get(format!("{}?nocatalog", self.endpoint()))
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(|e| AuthError::Unavailable(format!("validating a token: {e}")))?;
            match res.status().as_u16() {
                200 => {
                    let body: TokenBody = res
                        .json()
                        .await
                        .map_err(|e| AuthError::Unavailable(format!("Keystone's answer: {e}")))?;
                    return self.validated(body.token);
                }
                // Not found: unknown, expired or revoked (Keystone does not tell them apart).
                400 | 404 => return Err(AuthError::Invalid),
                401 if !renewed => renewed = true,
                status => {
                    return Err(AuthError::Unavailable(format!(
                        "Keystone answered {status} to the service user's validation"
                    )));
                }
            }
        }
    }

    fn validated(&self, token: TokenInfo) -> Result<Validated, AuthError> {
        let project = token.project.ok_or(AuthError::NotProjectScoped)?;
        let project = ProjectId::parse(&project.id).map_err(|_| AuthError::Invalid)?;
        let left = (token.expires_at - Utc::now()).to_std().map_err(|_| AuthError::Expired)?;
        let identity = Identity {
            user: token.user.map(|u| u.name.unwrap_or(u.id)).unwrap_or_default(),
            projects: vec![project],
            role: Role::strongest(token.roles.iter().map(|r| r.name.as_str())),
        };
        Ok(Validated { identity: Arc::new(identity), reuse_for: left.min(self.cfg.cache_ttl) })
    }

    /// The service user's token, authenticating when there is none, it is about to expire, or
    /// `renew` (Keystone refused it).
    async fn service_token(&self, renew: bool) -> Result<String, AuthError> {
        let mut slot = self.service_token.lock().await;
        if let Some(t) = slot.as_ref()
            && !renew
            && t.expires_at - Utc::now() > RENEW_BEFORE
        {
            return Ok(t.token.clone());
        }
        let fresh = self.authenticate().await?;
        let token = fresh.token.clone();
        *slot = Some(fresh);
        Ok(token)
    }

    async fn authenticate(&self) -> Result<ServiceToken, AuthError> {
        let c = &self.cfg;
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password,
            }}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}},
        }});
        let res = self
            .http
            .post(format!("{}?nocatalog", self.endpoint()))
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("authenticating the service user: {e}")))?;
        if res.status().as_u16() != 201 {
            return Err(AuthError::Unavailable(format!(
                "Keystone answered {} to the service user's authentication",
                res.status()
            )));
        }
        let token = res
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| AuthError::Unavailable("Keystone issued no X-Subject-Token".into()))?;
        let body: TokenBody =
            res.json().await.map_err(|e| AuthError::Unavailable(format!("Keystone's answer: {e}")))?;
        tracing::info!(expires_at = %body.token.expires_at, "authenticated to Keystone as the service user");
        Ok(ServiceToken { token, expires_at: body.token.expires_at })
    }
}

#[derive(Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Deserialize)]
struct TokenInfo {
    expires_at: DateTime<Utc>,
    #[serde(default)]
    project: Option<Named>,
    #[serde(default)]
    roles: Vec<RoleRef>,
    #[serde(default)]
    user: Option<Named>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RoleRef {
    name: String,
}
