//! Authentication and the role model, the same in every service.
//!
//! A request carries a token in `X-Auth-Token`. The deployment's [`Authenticator`]
//! (`VBS_AUTH_STRATEGY`) turns it into an [`Identity`]: the projects the token is scoped to and
//! its role.
//!
//! * `local` (default): tokens the deployment signs itself ([`TokenKeys`], `vbsctl token`).
//! * `keystone`: Keystone tokens, validated against the identity v3 API as keystonemiddleware
//!   does and cached ([`Keystone`]).
//!
//! Roles, for either strategy:
//!
//! | role | may |
//! |---|---|
//! | `reader` | read in its project |
//! | `member` (also `_member_`) | read and change in its project |
//! | `admin` | all of that in any project, and the admin-only operations |
//!
//! Handlers say what they need with the type of their [`ProjectAccess`] extractor: `Read`,
//! `Write` or `AdminOnly`. Refusals: no token, or one that is malformed, unscoped, expired or
//! revoked → 401; a path project outside the token's scope (unless admin), or a role below what
//! the operation needs → 403; the identity service unreachable → 503. All in the API's
//! envelope, before the handler runs.

mod keystone;
mod local;

pub use keystone::{Keystone, KeystoneConfig};
pub use local::{Claims, TokenError, TokenKeys};

use std::{marker::PhantomData, sync::Arc};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use api_types::domain::ProjectId;
use futures_util::future::LocalBoxFuture;

use crate::http::{Flavor, Problem, Rejection};

pub const TOKEN_HEADER: &str = "X-Auth-Token";

/// A role, in the order of what it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Reader,
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    /// A role name as Keystone and `vbsctl token` spell it (`_member_` is the old member role).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "reader" => Some(Self::Reader),
            "member" | "_member_" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    /// The strongest of the roles named (other roles grant nothing here).
    pub fn strongest<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        names.into_iter().filter_map(Self::parse).max()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (name or id), for logs.
    pub user: String,
    /// The projects the token is scoped to (a Keystone token: exactly one).
    pub projects: Vec<ProjectId>,
    /// `None`: the token carries none of the roles VBS knows, so it may do nothing.
    pub role: Option<Role>,
}

impl Identity {
    pub fn is_admin(&self) -> bool {
        self.role == Some(Role::Admin)
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is malformed, revoked or not valid here")]
    Invalid,
    #[error("the token is not scoped to a project")]
    NotProjectScoped,
    #[error("the identity service is unavailable: {0}")]
    Unavailable(String),
}

/// The deployment's way of checking tokens (`VBS_AUTH_STRATEGY`).
pub enum Authenticator {
    Local(TokenKeys),
    Keystone(Keystone),
}

impl Authenticator {
    /// `VBS_AUTH_STRATEGY`: `local` (default; needs `VBS_TOKEN_SECRET`) or `keystone` (needs
    /// the `VBS_KEYSTONE_*` settings).
    pub fn from_env() -> anyhow::Result<Self> {
        match crate::config::var_or("VBS_AUTH_STRATEGY", "local").as_str() {
            "local" => Ok(Self::Local(TokenKeys::from_env()?)),
            "keystone" => Ok(Self::Keystone(Keystone::new(KeystoneConfig::from_env()?)?)),
            other => anyhow::bail!("VBS_AUTH_STRATEGY={other:?} is not local or keystone"),
        }
    }

    pub async fn identify(&self, token: &str) -> Result<Arc<Identity>, AuthError> {
        match self {
            Self::Local(keys) => keys.identify(token).map(Arc::new),
            Self::Keystone(keystone) => keystone.identify(token).await,
        }
    }
}

/// What an operation needs of the caller's role.
pub trait Need: 'static {
    const ROLE: Role;
    /// Said in the 403 when the role falls short.
    const REFUSAL: &'static str;
}

/// Reading: any role.
pub struct Read;
/// Changing something: member or admin.
pub struct Write;
/// The admin-only operations.
pub struct AdminOnly;

impl Need for Read {
    const ROLE: Role = Role::Reader;
    const REFUSAL: &'static str = "the token carries none of the roles reader, member or admin";
}

impl Need for Write {
    const ROLE: Role = Role::Member;
    const REFUSAL: &'static str = "the token's role may only read; this operation needs member or admin";
}

impl Need for AdminOnly {
    const ROLE: Role = Role::Admin;
    const REFUSAL: &'static str = "this operation needs the admin role";
}

/// An authenticated request for the project in the path (`{project_id}`) by a role that may do
/// what the operation needs (`N`): the handler only runs when both hold.
pub struct ProjectAccess<F, N = Read> {
    /// The path's project.
    pub project: ProjectId,
    pub identity: Arc<Identity>,
    marker: PhantomData<fn() -> (F, N)>,
}

impl<F, N> std::fmt::Debug for ProjectAccess<F, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectAccess")
            .field("project", &self.project)
            .field("identity", &self.identity)
            .finish()
    }
}

impl<F: Flavor, N: Need> ProjectAccess<F, N> {
    async fn check(
        authenticator: Option<web::Data<Authenticator>>,
        token: Option<String>,
        path_project: String,
    ) -> Result<Self, Problem<F>> {
        let authenticator = authenticator.ok_or_else(|| {
            tracing::error!("no Authenticator in the app data");
            Problem::rejection(Rejection::Internal)
        })?;
        let token = token.ok_or_else(|| Problem::rejection(Rejection::MissingToken))?;
        let identity = authenticator.identify(&token).await.map_err(|e| match e {
            AuthError::Expired => Problem::rejection(Rejection::ExpiredToken),
            AuthError::Invalid => Problem::rejection(Rejection::InvalidToken),
            AuthError::NotProjectScoped => Problem::rejection_with(Rejection::InvalidToken, e.to_string()),
            AuthError::Unavailable(why) => {
                tracing::error!(%why, "identity service unavailable");
                Problem::rejection_with(
                    Rejection::Unavailable,
                    "the identity service is unavailable, try again",
                )
            }
        })?;
        let forbidden = || {
            Problem::rejection_with(
                Rejection::ForbiddenProject,
                format!("the token does not grant access to project {path_project:?}"),
            )
        };
        let project = ProjectId::parse(&path_project).map_err(|_| forbidden())?;
        if !identity.is_admin() && !identity.projects.contains(&project) {
            return Err(forbidden());
        }
        if identity.role.is_none_or(|role| role < N::ROLE) {
            return Err(Problem::rejection_with(Rejection::ForbiddenProject, N::REFUSAL));
        }
        Ok(Self { project, identity, marker: PhantomData })
    }
}

impl<F: Flavor, N: Need> FromRequest for ProjectAccess<F, N> {
    type Error = Problem<F>;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authenticator = req.app_data::<web::Data<Authenticator>>().cloned();
        let token = req
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        let path_project = req.match_info().get("project_id").unwrap_or_default().to_owned();
        Box::pin(Self::check(authenticator, token, path_project))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_names() {
        assert!(Role::Reader < Role::Member && Role::Member < Role::Admin);
        assert_eq!(Role::parse("_member_"), Some(Role::Member));
        assert_eq!(Role::strongest(["reader", "load-balancer_member", "admin"]), Some(Role::Admin));
        assert_eq!(Role::strongest(["service", "heat_stack_owner"]), None);
        for r in [Role::Reader, Role::Member, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
